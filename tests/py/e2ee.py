#!/usr/bin/env python3
"""Payload passthru mode (PPT) with autobahn-python's end-to-end encryption (cryptobox): the
caller, callee, publisher and subscriber share a KeyRing for `com.e2ee.`; the router forwards
the encrypted payload and its `enc_*` options unread. Every serializer, and across serializers.

    e2ee.py --url ws://127.0.0.1:8080/ws [--url rs://127.0.0.1:8081]
"""
import argparse
import asyncio

# interop first: it imports autobahn.asyncio, which selects txaio's framework.
from interop import TIMEOUT, check, connect, expect_error, wait_for, run_main

from autobahn.wamp.cryptobox import KeyRing  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import PublishOptions  # noqa: E402

NAMES = ["json", "msgpack", "cbor", "ubjson"]


async def run(url, keyring):
    for caller_ser, callee_ser in [(n, n) for n in NAMES] + [("json", "msgpack"), ("cbor", "ubjson")]:
        what = f"{caller_ser} → {callee_ser} over {url}"
        caller = await connect(url, caller_ser)
        callee = await connect(url, callee_ser)
        plain = await connect(url, callee_ser)
        for s in (caller, callee):
            s.set_payload_codec(keyring)
        seen = []

        def add(a, b, details=None):
            seen.append((a, b))
            return a + b

        def oops():
            raise ApplicationError("com.e2ee.oops", "secret detail", n=7)

        await callee.register(add, "com.e2ee.add")
        await callee.register(oops, "com.e2ee.oops")
        check(await asyncio.wait_for(caller.call("com.e2ee.add", 2, 3), TIMEOUT) == 5, f"encrypted call and result, {what}")
        check(seen == [(2, 3)], f"the callee decrypted the arguments, {what}")
        e = await expect_error(caller.call("com.e2ee.oops"), "com.e2ee.oops", f"encrypted error, {what}")
        check(list(e.args) == ["secret detail"] and e.kwargs == {"n": 7},
              f"the caller decrypted the error's arguments ({e.args}, {e.kwargs}), {what}")

        got, raw = [], []
        await callee.subscribe(lambda *a, **kw: got.append((a, kw)), "com.e2ee.topic")
        await plain.subscribe(lambda *a, **kw: raw.append((a, kw)), "com.e2ee.topic")
        await caller.publish("com.e2ee.topic", "hello", [1, 2], k={"x": b"\x00\xff"},
                             options=PublishOptions(acknowledge=True))
        await wait_for(lambda: got, f"the encrypted event, {what}")
        check(got == [(("hello", [1, 2]), {"k": {"x": b"\x00\xff"}})], f"the subscriber decrypted the event ({got}), {what}")
        await asyncio.sleep(0.2)
        check(all("hello" not in repr(r) for r in raw),
              f"a subscriber without the key does not read it ({raw}), {what}")
        for s in (caller, callee, plain):
            s.leave()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", action="append", required=True)
    args = ap.parse_args()
    keyring = KeyRing()
    priv, _pub = keyring.generate_key()
    keyring.set_key("com.e2ee.", priv)
    for url in args.url:
        print(f"# payload passthru (cryptobox) over {url}", flush=True)
        await run(url, keyring)


if __name__ == "__main__":
    run_main(main)
