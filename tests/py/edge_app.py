"""An application component written for autobahn-python (asyncio), run unchanged by
crossbar-edge as a `class` component in router and container workers."""

from autobahn.asyncio.wamp import ApplicationSession


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
