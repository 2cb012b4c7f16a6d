#!/usr/bin/env python3
"""What crosses between serializers: every sender serializer calls a callee and publishes to
a subscriber of every serializer (JSON, MessagePack, CBOR, UBJSON) with one set of values, and
the script prints what each side received, typed (int, float, Decimal, bytes, str, key order),
as one transcript line. The same transcript from Crossbar.io and crossbar-edge means payloads
arrive as Crossbar.io delivers them.

    serializers.py --url ws://127.0.0.1:8080/ws [--url rs://127.0.0.1:8081] [--uncarriable]

`--uncarriable`: a value the receiver's serializer cannot carry (an integer beyond 64 bits to
MessagePack) is an ERROR to the sender, `wamp.error.invalid_argument`, and the
subscribers that can read it get the event. (Crossbar.io never answers such a call.)
"""
import argparse
import asyncio
import json
from decimal import Decimal

from autobahn.wamp.types import CallResult, PublishOptions

from interop import TIMEOUT, SERIALIZERS, check, connect, expect_error, wait_for, run_main

NAMES = ["json", "msgpack", "cbor", "ubjson"]

# Values every serializer carries: integers of every width, floats, text, binary, nesting
# and key order.
VALUES = [0, 1, -1, 127, 128, 255, 256, -128, -129, 32767, 32768, -32769, 2**31, -(2**31) - 1,
          2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1, 1.5, -0.0, 1e300, 2.5e-308, "", "x", "é",
          "héllo wörld ✓", b"", b"\x00\x01\xfe\xff", [], [1, [2, [3]]], {}, None, True, False,
          {"zeta": 1, "alpha": {"z": 0, "a": [b"\x00"]}}]
KWARGS = {"zulu": 1, "alpha": "two", "mike": [3.25]}


def typed(v):
    """A value with its type, as a string (dicts in their order)."""
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int):
        return f"i{v}"
    if isinstance(v, float):
        return f"f{v!r}"
    if isinstance(v, Decimal):
        return f"d{v}"
    if isinstance(v, (bytes, bytearray)):
        return f"b{bytes(v).hex()}"
    if isinstance(v, str):
        return f"s{v!r}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(typed(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{typed(x)}" for k, x in v.items()) + "}"
    return f"?{type(v).__name__}:{v!r}"


# What Python's json writes beyond strict JSON, and Crossbar.io reads and writes back: NaN and
# the infinities (every serializer carries them), integers of any size (JSON and CBOR here:
# MessagePack carries none beyond 64 bits, and Crossbar.io reads UBJSON's as Decimals, which
# JSON receivers then get as strings; crossbar-edge reads them as the integers they are, see
# --uncarriable and docs/features.md#serializers).
PY_FLOATS = [float("nan"), float("inf"), float("-inf"), [float("-inf")]]
PY_INTS = [2**64, 2**70, -(2**70), -(2**64) - 1, 2**127, 2**200, -(2**200), [2**100]]
PASSES = [("", NAMES, VALUES, KWARGS),
          ("floats ", NAMES, PY_FLOATS, {"nan": float("nan")}),
          ("bigints ", ["json", "cbor"], PY_INTS, {"big": 2**90})]


async def run(url, lines):
    sessions = {n: await connect(url, n) for n in NAMES}
    events = {n: [] for n in NAMES}
    for n, s in sessions.items():
        def seen(*args, _n=n, **kwargs):
            # What the callee received, and the values back to the caller.
            return CallResult(typed(list(args)), typed(kwargs), *args, **kwargs)

        await s.register(seen, f"com.ser.seen.{n}")
        await s.subscribe(lambda *a, _n=n, **kw: events[_n].append((a, kw)), "com.ser.topic")
    for label, names, values, kwargs in PASSES:
        for sender in names:
            s = sessions[sender]
            for callee in names:
                res = await asyncio.wait_for(s.call(f"com.ser.seen.{callee}", *values, **kwargs), TIMEOUT)
                got_args, got_kwargs, *back = res.results
                lines.append(f"{label}{sender}->{callee} call args {got_args} kwargs {got_kwargs}")
                lines.append(f"{label}{callee}->{sender} result {typed(back)} {typed(res.kwresults)}")
            for n in NAMES:
                events[n].clear()
            opts = PublishOptions(acknowledge=True, exclude_me=False,
                                  eligible=[sessions[n]._session_id for n in names])
            await s.publish("com.ser.topic", *values, options=opts, **kwargs)
            await wait_for(lambda: all(events[n] for n in names), "the event on every serializer")
            for n in names:
                a, kw = events[n][0]
                lines.append(f"{label}{sender}->{n} event {typed(list(a))} {typed(kw)}")
    for s in sessions.values():
        s.leave()


async def uncarriable(url):
    s = {n: await connect(url, n) for n in NAMES}
    got = {n: [] for n in NAMES}
    for n in NAMES:
        await s[n].register(lambda *a: list(a), f"com.unc.echo.{n}")
        await s[n].register(lambda: 2**70, f"com.unc.big.{n}")
        await s[n].subscribe(lambda *a, _n=n: got[_n].append(a), "com.unc.topic")
    big = 2**70
    for sender in ("cbor", "ubjson"):
        await expect_error(s[sender].call("com.unc.echo.msgpack", big), "wamp.error.invalid_argument",
                           f"{sender} caller, 2**70 to a MessagePack callee")
        check(await s[sender].call("com.unc.echo.json", big) == [big], f"{sender} caller, 2**70 to a JSON callee")
    # A JSON integer beyond 64 bits is one (as Python reads it), not a float.
    await expect_error(s["json"].call("com.unc.echo.msgpack", big), "wamp.error.invalid_argument",
                       "a JSON caller's 2**70 to a MessagePack callee")
    check(await s["json"].call("com.unc.echo.cbor", big) == [big], "a JSON caller's 2**70 to a CBOR callee")
    huge = [2**200, -(2**200)]
    check(await s["json"].call("com.unc.echo.ubjson", *huge) == huge,
          "a JSON caller's ±2**200 through a UBJSON callee and back (high-precision numbers)")
    check(await s["ubjson"].call("com.unc.echo.cbor", *huge) == huge,
          "a UBJSON caller's ±2**200 to a CBOR callee and back")
    # JSON to JSON, the arguments go as the sender wrote them: the integer stays one.
    check(await s["json"].call("com.unc.echo.json", big, 1.0) == [big, 1.0], "a JSON caller's 2**70 to a JSON callee")
    await expect_error(s["msgpack"].call("com.unc.big.cbor"), "wamp.error.invalid_argument",
                       "a CBOR callee's 2**70 to a MessagePack caller")
    check(await s["json"].call("com.unc.big.cbor") == big, "a CBOR callee's 2**70 to a JSON caller")
    await expect_error(s["cbor"].publish("com.unc.topic", big, options=PublishOptions(acknowledge=True, exclude_me=False)),
                       "wamp.error.invalid_argument", "an acknowledged CBOR publication of 2**70")
    await wait_for(lambda: got["cbor"] and got["json"] and got["ubjson"], "the event where it can be read")
    check(got["cbor"] == [(big,)] and got["json"] == [(big,)] and int(got["ubjson"][0][0]) == big,
          f"CBOR, JSON and UBJSON subscribers get 2**70 ({got})")
    await s["cbor"].publish("com.unc.topic", 1, options=PublishOptions(acknowledge=True, exclude_me=False))
    await wait_for(lambda: got["msgpack"], "the next event on the MessagePack session")
    check(got["msgpack"] == [(1,)], f"the MessagePack subscriber did not get 2**70 and gets the next event ({got['msgpack']})")
    check(all(x.is_connected() for x in s.values()), "every session is still connected")
    for x in s.values():
        x.leave()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", action="append", required=True)
    ap.add_argument("--uncarriable", action="store_true")
    args = ap.parse_args()
    if args.uncarriable:
        for url in args.url:
            print(f"# values a serializer cannot carry, over {url}", flush=True)
            await uncarriable(url)
        return
    lines = []
    for url in args.url:
        print(f"# every serializer pair over {url}", flush=True)
        await run(url, lines)
        check(True, f"calls, results and events between {', '.join(NAMES)} over {url}")
    for line in lines:
        print("TRANSCRIPT", line, flush=True)


if __name__ == "__main__":
    run_main(main)
