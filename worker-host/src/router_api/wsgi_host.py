# crossbar-edge's host for a Web transport's `wsgi` service (Crossbar.io's WSGI host): imports
# the app, serves it over HTTP on a loopback port (the router worker proxies the service's path
# to it) and exits when its stdin closes (the worker is gone). One JSON line in on stdin, one
# JSON line out on stdout: {"listening": port} or {"error": message}.
import importlib
import json
import os
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

cfg = json.loads(sys.stdin.readline())
for p in reversed(cfg.get("pythonpath") or []):
    sys.path.insert(0, p)


def fail(message):
    print(json.dumps({"error": message}), flush=True)
    sys.exit(2)


try:
    mod = importlib.import_module(cfg["module"])
except Exception as e:  # the messages are Crossbar.io's
    fail('WSGI app module "{}" import failed: {} - Python search path was {}'.format(cfg["module"], e, sys.path))
if cfg["object"] not in mod.__dict__:
    fail('WSGI app object "{}" not in module "{}"'.format(cfg["object"], cfg["module"]))
app = getattr(mod, cfg["object"])
script_name = cfg.get("script_name", "")


def mounted(environ, start_response):
    # The app sees its mount point as SCRIPT_NAME, the rest as PATH_INFO, as under Crossbar.io.
    environ["SCRIPT_NAME"] = script_name
    return app(environ, start_response)


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Handler(WSGIRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("wsgi: " + (fmt % args) + "\n")


server = make_server("127.0.0.1", 0, mounted, server_class=Server, handler_class=Handler)
print(json.dumps({"listening": server.server_port}), flush=True)
# From here on the app's own output goes to the worker's log (stderr).
os.dup2(2, 1)


def watch_parent():
    sys.stdin.read()
    os._exit(0)


threading.Thread(target=watch_parent, daemon=True).start()
server.serve_forever()
