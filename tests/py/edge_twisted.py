"""A Twisted application component as Crossbar.io projects write them (Crossbar.io runs
router components under Twisted), run unchanged by crossbar-edge."""

import txaio

log = txaio.make_logger()

from autobahn.twisted.wamp import ApplicationSession  # noqa: E402
from twisted.internet.defer import inlineCallbacks  # noqa: E402


class Mul2(ApplicationSession):
    @inlineCallbacks
    def onJoin(self, details):
        yield self.register(lambda a, b: a * b, "com.twisted.mul2")
        log.info("edge_twisted.Mul2 ready")
        print("edge_twisted.Mul2 ready as", details.authid, flush=True)
