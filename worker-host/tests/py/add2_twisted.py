"""A Crossbar.io-style router component (Twisted), used unchanged by the component tests."""

import os

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.types import PublishOptions
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks


class Add2(ApplicationSession):
    @inlineCallbacks
    def onJoin(self, details):
        prefix = self.config.extra.get("prefix", "com.example")
        yield self.register(lambda a, b: a + b, prefix + ".add2")
        yield self.register(
            lambda: {"authid": details.authid, "authrole": details.authrole,
                     "realm": details.realm, "extra": self.config.extra},
            prefix + ".whoami",
        )
        yield self.publish(prefix + ".started", details.authid,
                           options=PublishOptions(acknowledge=True))
        print("add2 component ready as", details.authid, flush=True)


class Crashing(Add2):
    """Joins, then dies with exit code 3 (tests the failed status and the log tail)."""

    @inlineCallbacks
    def onJoin(self, details):
        yield Add2.onJoin(self, details)
        print("about to crash", flush=True)
        reactor.callLater(0.3, os._exit, 3)
