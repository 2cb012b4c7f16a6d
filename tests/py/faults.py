#!/usr/bin/env python3
"""Application load for the fault-injection tests (tests/tests/faults.rs), with unmodified
autobahn-python. Each mode prints progress lines the test reads:

  faults.py load --url URL --ns NS --seconds S
      a callee and a caller on the same router; the caller calls NS.echo every few ms and
      reconnects both (every 0.2 s) whenever a connection is lost. Prints `ready` after the
      first result, `progress ok=N fail=M` twice a second, and at the end one line
      `summary {json}` with ok, fail and ok_after_last_fail.
  faults.py subscriber --url URL --topic T
      counts events on T; prints `ready` once subscribed, `session ID`, `events N` twice a
      second, and `closed REASON` when the router ends the session.
  faults.py publisher --url URL --topic T --size BYTES
      publishes events of BYTES as fast as the router takes them, until killed.
"""
import argparse
import asyncio
import json
import sys
import time

from autobahn.wamp.exception import ApplicationError


async def load(args):
    from interop import connect

    ok = fail = ok_after_fail = 0
    last_fail = None
    sessions = {}
    said_ready = False

    async def ensure():
        for role in ("callee", "caller"):
            s = sessions.get(role)
            if s is not None and s.is_attached():
                continue
            sessions[role] = s = await connect(args.url, "msgpack")
            if role == "callee":
                await s.register(lambda x: x, f"{args.ns}.echo")

    deadline = time.monotonic() + args.seconds
    next_report = time.monotonic()
    while time.monotonic() < deadline:
        try:
            await ensure()
            r = await asyncio.wait_for(sessions["caller"].call(f"{args.ns}.echo", ok), 5)
            if r != ok:
                raise ApplicationError("com.faults.wrong_result", r)
            ok += 1
            if last_fail is not None:
                ok_after_fail += 1
            if not said_ready:
                print("ready", flush=True)
                said_ready = True
        except Exception as e:  # noqa: BLE001 - every failure counts, then reconnect
            fail += 1
            last_fail = time.monotonic()
            ok_after_fail = 0
            print(f"failure {type(e).__name__}: {e}", flush=True)
            for s in sessions.values():
                try:
                    s.disconnect()
                except Exception:  # noqa: BLE001
                    pass
            sessions.clear()
            await asyncio.sleep(0.2)
        if time.monotonic() >= next_report:
            print(f"progress ok={ok} fail={fail}", flush=True)
            next_report += 0.5
        await asyncio.sleep(0.005)
    print("summary " + json.dumps({"ok": ok, "fail": fail, "ok_after_last_fail": ok_after_fail}), flush=True)


async def subscriber(args):
    from interop import connect

    s = await connect(args.url, "msgpack")
    count = 0

    def on_event(*a, **kw):
        nonlocal count
        count += 1

    await s.subscribe(on_event, args.topic)
    closed = asyncio.get_running_loop().create_future()
    s.on("leave", lambda session, details: closed.done() or closed.set_result(details.reason))
    s.on("disconnect", lambda session, was_clean=False: closed.done() or closed.set_result("transport lost"))
    print(f"session {s._session_id}", flush=True)
    print("ready", flush=True)
    while not closed.done():
        print(f"events {count}", flush=True)
        await asyncio.wait([closed], timeout=0.5)
    print(f"closed {closed.result()}", flush=True)


async def publisher(args):
    from interop import connect

    s = await connect(args.url, "msgpack")
    payload = "x" * args.size
    print("ready", flush=True)
    n = 0
    while True:
        s.publish(args.topic, n, payload)
        n += 1
        if n % 100 == 0:
            # Let the transport write what was published.
            await asyncio.sleep(0)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["load", "subscriber", "publisher"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--ns", default="com.faults")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--topic", default="com.faults.topic")
    ap.add_argument("--size", type=int, default=2048)
    args = ap.parse_args()
    await {"load": load, "subscriber": subscriber, "publisher": publisher}[args.mode](args)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
