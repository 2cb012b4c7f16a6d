"""A WSGI app for tests/tests/proxies.rs: answers with what it was called with."""
import json


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length).decode() if length else ""
    answer = {
        "script_name": environ.get("SCRIPT_NAME", ""),
        "path_info": environ.get("PATH_INFO", ""),
        "query": environ.get("QUERY_STRING", ""),
        "method": environ["REQUEST_METHOD"],
        "body": body,
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(answer, sort_keys=True).encode()]
