"""An application component written for autobahn-python (asyncio), run unchanged by
crossbar-edge as a `class` component in router and container workers."""

import txaio

# Common in Crossbar.io projects: a logger made at import, before any framework is chosen
# by the module itself (the host must have selected one).
log = txaio.make_logger()

from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402


class Add2(ApplicationSession):
    async def onJoin(self, details):
        prefix = self.config.extra.get("prefix", "com.example")
        await self.register(lambda a, b: a + b, prefix + ".add2")
        await self.register(
            lambda: {"authid": details.authid, "authrole": details.authrole,
                     "realm": details.realm},
            prefix + ".whoami",
        )
        print("edge_app.Add2 ready as", details.authid, "on", details.realm, flush=True)


class FailsOnJoin(ApplicationSession):
    """Raises in onJoin: the router worker opens its transports all the same."""

    async def onJoin(self, details):
        raise RuntimeError("edge_app.FailsOnJoin fails on purpose")


class Crashing(Add2):
    """Joins, then dies with exit code 3 (the failed status and the log tail)."""

    async def onJoin(self, details):
        await Add2.onJoin(self, details)
        print("edge_app about to crash", flush=True)
        import asyncio
        import os

        asyncio.get_running_loop().call_later(0.3, os._exit, 3)
