"""A container component written for autobahn's asyncio flavour."""

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
        print("asyncio add2 component ready as", details.authid, flush=True)
