"""A Twisted Web resource for tests/tests/proxies.rs (a `resource` web service): Crossbar.io
calls the class with the service's `extra`; it answers with what the request looked like."""
import json

from twisted.web.resource import Resource


class Echo(Resource):
    isLeaf = True

    def __init__(self, extra):
        Resource.__init__(self)
        self._extra = extra

    def _answer(self, request, body=""):
        request.setHeader(b"content-type", b"application/json")
        return json.dumps({
            "path": request.path.decode(),
            "prepath": [p.decode() for p in request.prepath],
            "postpath": [p.decode() for p in request.postpath],
            "args": {k.decode(): [x.decode() for x in v] for k, v in request.args.items()},
            "method": request.method.decode(),
            "body": body,
            "extra": self._extra,
        }, sort_keys=True).encode()

    def render_GET(self, request):
        return self._answer(request)

    def render_POST(self, request):
        return self._answer(request, request.content.read().decode())
