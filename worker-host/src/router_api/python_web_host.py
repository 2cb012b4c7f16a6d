# crossbar-edge's host for a Web transport's Python services: `wsgi` (Crossbar.io's WSGI host,
# served with wsgiref) and `resource` (a Twisted Web resource, served by a Twisted Site). It
# imports the code, serves it over HTTP on a loopback port (the router worker proxies the
# service's path to it) and exits when its stdin closes (the worker is gone). One JSON line in on
# stdin, one JSON line out on stdout: {"listening": port} or {"error": message}.
import importlib
import json
import os
import sys
import threading

cfg = json.loads(sys.stdin.readline())
for p in reversed(cfg.get("pythonpath") or []):
    sys.path.insert(0, p)


def fail(message):
    print(json.dumps({"error": message}), flush=True)
    sys.exit(2)


def listening(port):
    print(json.dumps({"listening": port}), flush=True)
    # From here on the app's own output goes to the worker's log (stderr).
    os.dup2(2, 1)


def watch_parent():
    sys.stdin.read()
    os._exit(0)


def serve_wsgi():
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

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
    listening(server.server_port)
    threading.Thread(target=watch_parent, daemon=True).start()
    server.serve_forever()


def serve_resource():
    classname = cfg["classname"]
    try:
        parts = classname.split(".")
        module_name, klass_name = ".".join(parts[:-1]), parts[-1]
        module = importlib.import_module(module_name)
        make = getattr(module, klass_name)
        # Crossbar.io imports the class in a running reactor: the default one here.
        from twisted.internet import reactor
        from twisted.web.resource import Resource
        from twisted.web.server import Site

        resource = make(cfg.get("extra") or {})
    except Exception as e:  # Crossbar.io's message
        fail("Failed to import class '{}' - {}".format(classname, e))

    # Mounted at the same path as in the router, so the resource sees the same request paths.
    segments = [s for s in cfg.get("mount", "").split("/") if s]
    root = resource
    if segments:
        root = Resource()
        node = root
        for s in segments[:-1]:
            child = Resource()
            node.putChild(s.encode(), child)
            node = child
        node.putChild(segments[-1].encode(), resource)
    port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
    listening(port.getHost().port)
    threading.Thread(target=watch_parent, daemon=True).start()
    reactor.run()


if cfg.get("kind") == "resource":
    serve_resource()
else:
    serve_wsgi()
