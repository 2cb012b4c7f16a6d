"""Arguments across serializers, with the real autobahn-python client (Twisted).

Usage: python ab_cross.py URL CALLEE_SERIALIZER CALLER_SERIALIZER [...pairs]
  e.g. rs://127.0.0.1:8081 msgpack json cbor msgpack

For each pair a callee/subscriber session joins realm1 with the first serializer and a
caller/publisher session with the second. The caller sends positional and keyword arguments
(binary, nested, unicode, large integers), gets them back as a result with keyword results,
gets an application error with arguments, and publishes an event the subscriber receives
intact. Prints "OK ..." or "FAIL ..." per pair; the exit code is the number of failures.
"""

import sys

from autobahn.twisted.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import CallResult, PublishOptions
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import react

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}
TIMEOUT = 10

ARGS = ["x" * 300, b"\x00\x01\xff", [1, -2, 2**53, {"nested": [None, True, 1.5]}], "grüße ✓"]
KWARGS = {"bin": b"\xfe" * 40, "list": [], "dict": {}, "n": -(2**40)}


class Callee(ApplicationSession):
    @inlineCallbacks
    def onJoin(self, details):
        extra = self.config.extra

        def echo(*args, **kwargs):
            return CallResult(*args, **dict(kwargs, echoed=True))

        def fail(*args, **kwargs):
            raise ApplicationError("com.test.failed", *args, **kwargs)

        def on_event(*args, **kwargs):
            if not extra["event"].called:
                extra["event"].callback((list(args), kwargs))

        try:
            yield self.register(echo, "com.cross.echo")
            yield self.register(fail, "com.cross.fail")
            yield self.subscribe(on_event, "com.cross.topic")
            extra["ready"].callback(self)
        except Exception as e:
            extra["ready"].errback(e)


class Caller(ApplicationSession):
    @inlineCallbacks
    def onJoin(self, details):
        extra = self.config.extra
        try:
            r = yield self.call("com.cross.echo", *ARGS, **KWARGS)
            assert list(r.results) == ARGS, r.results
            assert r.kwresults == dict(KWARGS, echoed=True), r.kwresults
            # Only positional, only keyword, nothing.
            r = yield self.call("com.cross.echo", *ARGS)
            assert list(r.results) == ARGS, r.results
            r = yield self.call("com.cross.echo", **KWARGS)
            assert r.kwresults == dict(KWARGS, echoed=True), r.kwresults
            r = yield self.call("com.cross.echo")
            assert r.kwresults == {"echoed": True}, r
            try:
                yield self.call("com.cross.fail", *ARGS, **KWARGS)
                raise AssertionError("no error")
            except ApplicationError as e:
                assert e.error == "com.test.failed", e.error
                assert list(e.args) == ARGS, e.args
                assert e.kwargs == KWARGS, e.kwargs
            yield self.publish(
                "com.cross.topic", *ARGS, options=PublishOptions(acknowledge=True), **KWARGS
            )
            extra["event"].addTimeout(TIMEOUT, extra["reactor"])
            args, kwargs = yield extra["event"]
            assert args == ARGS, args
            assert kwargs == KWARGS, kwargs
            extra["result"].callback(None)
        except Exception as e:
            if not extra["result"].called:
                extra["result"].errback(e)
        self.leave()


@inlineCallbacks
def run_pair(reactor, url, callee_ser, caller_ser):
    ready, event, result = Deferred(), Deferred(), Deferred()
    extra = {"ready": ready, "event": event, "result": result, "reactor": reactor}

    def runner(ser):
        return ApplicationRunner(url, "realm1", extra=extra, serializers=[SERIALIZERS[ser]()])

    runner(callee_ser).run(Callee, start_reactor=False)
    ready.addTimeout(TIMEOUT, reactor)
    callee = yield ready
    runner(caller_ser).run(Caller, start_reactor=False)
    result.addTimeout(TIMEOUT, reactor)
    try:
        yield result
    finally:
        callee.leave()


@inlineCallbacks
def main(reactor, url, sers):
    failures = 0
    for callee_ser, caller_ser in zip(sers[::2], sers[1::2]):
        label = f"callee {callee_ser} <- caller {caller_ser}"
        try:
            yield run_pair(reactor, url, callee_ser, caller_ser)
            print(f"OK {label}", flush=True)
        except Exception as e:
            failures += 1
            print(f"FAIL {label}: {e!r}", flush=True)
    if failures:
        raise SystemExit(failures)


if __name__ == "__main__":
    react(main, [sys.argv[1], sys.argv[2:]])
