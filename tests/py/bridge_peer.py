#!/usr/bin/env python3
"""The WAMP side of the HTTP bridge tests, with unmodified autobahn-python (asyncio).

Joins realm1, registers the procedures the `caller` service calls and subscribes to the
topics the `publisher` and `webhook` services publish to. Prints `ready`, then one JSON line
per event received (`{"topic", "args", "kwargs"}`), until it is killed.

    bridge_peer.py --url ws://127.0.0.1:8080/ws
"""
import argparse
import asyncio
import json
import sys

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallResult, SubscribeOptions


async def main(url):
    from interop import connect

    s = await connect(url, "json")
    await s.register(lambda a, b: a + b, "com.example.add2")

    def fail(*args):
        raise ApplicationError("com.example.error", "bad thing", 1, detail="x")

    await s.register(fail, "com.example.fail")
    await s.register(lambda: CallResult(1, 2, k=3), "com.example.split")
    await s.register(lambda: None, "com.example.nothing")

    def greet(name=None, n=None, data=None, data_type=None):
        return {"name": name, "n": n, "html": "<b>bold</b>", "data": data, "data_type": data_type}

    await s.register(greet, "com.example.greet")

    def on_event(*args, **kwargs):
        details = kwargs.pop("details")
        print(json.dumps({"topic": details.topic, "args": list(args), "kwargs": kwargs}), flush=True)

    await s.subscribe(on_event, "com.", options=SubscribeOptions(match="prefix", details_arg="details"))
    print("ready", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    try:
        asyncio.run(main(ap.parse_args().url))
    except Exception as e:  # noqa: BLE001 -- report any failure to the test
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
