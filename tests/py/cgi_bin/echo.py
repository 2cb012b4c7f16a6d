"""A CGI script for tests/tests/cgi.rs: answers with the CGI variables it was run with."""
import json
import os
import sys

body = sys.stdin.read(int(os.environ.get("CONTENT_LENGTH") or 0))
keys = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
        "HTTP_X_TEST", "SERVER_NAME", "GATEWAY_INTERFACE", "REMOTE_ADDR", "REQUEST_URI"]
answer = {k: os.environ.get(k) for k in keys}
answer["args"] = sys.argv[1:]
answer["cwd"] = os.path.basename(os.getcwd())
answer["script"] = os.path.basename(os.environ.get("SCRIPT_FILENAME", ""))
answer["body"] = body
sys.stdout.write("Content-Type: application/json\r\nX-Script: echo\r\n\r\n")
sys.stdout.write(json.dumps(answer, sort_keys=True))
