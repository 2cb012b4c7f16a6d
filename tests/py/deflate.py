#!/usr/bin/env python3
"""WebSocket permessage-deflate with autobahn-python: the client offers it (with several
parameter sets), the router must accept it on a transport with `options.compression.deflate`,
and calls and events must arrive intact in both directions: large compressible text, binary
that does not compress, many small messages (context takeover), every serializer.

    deflate.py --url ws://127.0.0.1:8080/ws [--no-compression-expected] [--offers default,small-window]
"""
import argparse
import asyncio
import os
from urllib.parse import urlparse

from interop import TIMEOUT, Aborted, SERIALIZERS, check, run_main, wait_for

from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp.types import CallResult, ComponentConfig, PublishOptions  # noqa: E402
from autobahn.websocket.compress import (  # noqa: E402
    PerMessageDeflateOffer,
    PerMessageDeflateResponse,
    PerMessageDeflateResponseAccept,
)

OFFERS = {
    "default": PerMessageDeflateOffer(),
    "no-context-takeover": PerMessageDeflateOffer(request_no_context_takeover=True),
    "small-window": PerMessageDeflateOffer(request_max_window_bits=10),
}


async def connect(url, ser, offer):
    loop = asyncio.get_running_loop()
    joined = loop.create_future()

    class Client(ApplicationSession):
        def onJoin(self, details):
            joined.set_result(self)

        def onDisconnect(self):
            if not joined.done():
                joined.set_exception(Aborted("transport.lost", "closed before join"))

    factory = WampWebSocketClientFactory(lambda: Client(ComponentConfig("realm1")), url=url,
                                         serializers=[SERIALIZERS[ser]()])
    if offer is not None:
        def accept(response):
            if isinstance(response, PerMessageDeflateResponse):
                return PerMessageDeflateResponseAccept(response)

        factory.setProtocolOptions(perMessageCompressionOffers=[offer], perMessageCompressionAccept=accept)
    u = urlparse(url)
    await asyncio.wait_for(loop.create_connection(factory, u.hostname, u.port), TIMEOUT)
    return await asyncio.wait_for(joined, TIMEOUT)


async def run(url, expect, offers):
    text = "the quick brown fox jumps over the lazy dog. " * 4000  # 180 KB, compresses well
    blob = os.urandom(50_000)  # does not compress
    for name, offer in [(n, OFFERS[n]) for n in offers] + [("none", None)]:
        for ser in ("json", "msgpack", "cbor", "ubjson"):
            what = f"offer {name}, {ser}"
            callee = await connect(url, ser, offer)
            caller = await connect(url, ser, offer)
            compressed = callee._transport._perMessageCompress is not None
            check(compressed == (expect and offer is not None),
                  f"permessage-deflate {'negotiated' if compressed else 'not negotiated'}, {what}")
            echo, topic = f"com.deflate.{name}.{ser}.echo", f"com.deflate.{name}.{ser}.topic"
            await callee.register(lambda *a, **kw: CallResult(*a, **kw), echo)
            res = await asyncio.wait_for(caller.call(echo, text, blob, k=text[:100]), TIMEOUT)
            check(list(res.results) == [text, blob] and res.kwresults == {"k": text[:100]},
                  f"180 KB of text and 50 KB of random bytes both ways, {what}")
            small = []
            for i in range(50):
                r = await asyncio.wait_for(caller.call(echo, i, "small"), TIMEOUT)
                small.append(list(r.results))
            got = []
            await callee.subscribe(lambda *a: got.append(a), topic)
            for i in range(50):
                await caller.publish(topic, i, text[: 10 * i], options=PublishOptions(acknowledge=True))
            await wait_for(lambda: len(got) == 50, "50 events")
            check(small == [[i, "small"] for i in range(50)] and got == [(i, text[: 10 * i]) for i in range(50)],
                  f"50 small calls and 50 events, in order, {what}")
            for s in (caller, callee):
                s.leave()
            await asyncio.sleep(0.05)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--no-compression-expected", action="store_true")
    ap.add_argument("--offers", default=",".join(OFFERS), help="which of the offers to make")
    args = ap.parse_args()
    print(f"# permessage-deflate over {args.url}", flush=True)
    await run(args.url, not args.no_compression_expected, args.offers.split(","))


if __name__ == "__main__":
    run_main(main, 120)
