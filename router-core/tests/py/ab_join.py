"""Interop check with the real autobahn-python client (Twisted).

Usage: python ab_join.py URL:SERIALIZER[:batched] ...
  e.g. ws://127.0.0.1:8080/ws:cbor  ws://127.0.0.1:8080/ws:json:batched  rs://127.0.0.1:8081:msgpack

For each item it joins realm1, registers and calls a procedure, subscribes and receives its own
publication (also with a binary payload), leaves, and prints "OK ..." or "FAIL ...". The exit
code is the number of failures.
"""

import sys

from autobahn.twisted.wamp import ApplicationRunner, ApplicationSession
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import PublishOptions
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import react

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}
TIMEOUT = 10


class Check(ApplicationSession):
    @inlineCallbacks
    def onJoin(self, details):
        extra = self.config.extra
        try:
            yield self.register(lambda a, b: a + b, "com.test.add")
            r = yield self.call("com.test.add", 2, 3)
            assert r == 5, r
            got = Deferred()

            def on_event(x):
                if not got.called:
                    got.callback(x)

            yield self.subscribe(on_event, "com.test.topic")
            payload = {"text": "hi", "bin": b"\x00\x01\xff"}
            yield self.publish(
                "com.test.topic",
                payload,
                options=PublishOptions(acknowledge=True, exclude_me=False),
            )
            got.addTimeout(TIMEOUT, extra["reactor"])
            x = yield got
            assert x == payload, x
            extra["result"].callback((details.session, self._transport._serializer.SERIALIZER_ID))
        except Exception as e:  # reported by the runner loop
            if not extra["result"].called:
                extra["result"].errback(e)
        self.leave()

    def onDisconnect(self):
        if not self.config.extra["done"].called:
            self.config.extra["done"].callback(None)


@inlineCallbacks
def main(reactor, items):
    failures = 0
    for item in items:
        batched = item.endswith(":batched")
        url, ser = item.removesuffix(":batched").rsplit(":", 1)
        result, done = Deferred(), Deferred()
        runner = ApplicationRunner(
            url,
            "realm1",
            extra={"result": result, "done": done, "reactor": reactor},
            serializers=[SERIALIZERS[ser](batched=batched)],
        )
        label = f"{url} {ser}{' batched' if batched else ''}"
        try:
            proto = runner.run(Check, start_reactor=False)
            proto.addTimeout(TIMEOUT, reactor)
            yield proto
            result.addTimeout(TIMEOUT, reactor)
            session, serializer = yield result
            print(f"OK {label} session={session} serializer={serializer}", flush=True)
        except Exception as e:
            failures += 1
            print(f"FAIL {label}: {e!r}", flush=True)
        try:
            done.addTimeout(TIMEOUT, reactor)
            yield done
        except Exception:
            pass
    if failures:
        raise SystemExit(failures)


if __name__ == "__main__":
    react(main, [sys.argv[1:]])
