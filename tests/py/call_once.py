#!/usr/bin/env python3
"""Calls one procedure on a router with autobahn-python (asyncio) and prints the result as
JSON; with --expect-error URI, prints the error and exits 0 only if the call failed with it.

    call_once.py --url rs://127.0.0.1:8081 --realm realm1 --proc com.x.add2 --args '[2, 3]'
"""
import argparse
import asyncio
import json
import sys
from urllib.parse import urlparse

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig

TIMEOUT = 10.0


async def main(a):
    loop = asyncio.get_running_loop()
    joined = loop.create_future()

    class Client(ApplicationSession):
        def onConnect(self):
            if a.ticket:
                self.join(a.realm, authmethods=["ticket"], authid=a.authid)
            else:
                self.join(a.realm)

        def onChallenge(self, challenge):
            return a.ticket

        def onJoin(self, details):
            if not joined.done():
                joined.set_result(self)

        def onLeave(self, details):
            if not joined.done():
                joined.set_exception(RuntimeError(f"{details.reason}: {details.message}"))
            self.disconnect()

    ser = MsgPackSerializer() if a.serializer == "msgpack" else JsonSerializer()
    u = urlparse(a.url)
    make = lambda: Client(ComponentConfig(a.realm))
    if u.scheme == "rs":
        factory = WampRawSocketClientFactory(make, serializer=ser)
    else:
        factory = WampWebSocketClientFactory(make, url=a.url, serializers=[ser])
    await asyncio.wait_for(loop.create_connection(factory, u.hostname, u.port), TIMEOUT)
    session = await asyncio.wait_for(joined, TIMEOUT)
    try:
        result = await asyncio.wait_for(session.call(a.proc, *json.loads(a.args)), TIMEOUT)
    except ApplicationError as e:
        print(json.dumps({"error": e.error, "args": list(e.args)}))
        return 0 if a.expect_error == e.error else 1
    finally:
        session.leave()
    print(json.dumps(result))
    return 1 if a.expect_error else 0


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--realm", default="realm1")
    p.add_argument("--proc", required=True)
    p.add_argument("--args", default="[]")
    p.add_argument("--serializer", default="msgpack")
    p.add_argument("--authid")
    p.add_argument("--ticket")
    p.add_argument("--expect-error")
    sys.exit(asyncio.run(main(p.parse_args())))
