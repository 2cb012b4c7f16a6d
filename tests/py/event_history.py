#!/usr/bin/env python3
"""Event history (`wamp.subscription.get_events`, a realm `store` with `event-history`) with
unmodified autobahn-python. `event_history.py --url URL`: the checks, one line each, exit 1 on
the first failure. The same checks run against Crossbar.io."""
import argparse
import asyncio
import sys

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions


async def run(url):
    from interop import Failure, check, connect, expect_error, wait_for

    reader = await connect(url, "json")
    # The history subscription exists from the realm's start (the store subscribes to it).
    sub_id = await reader.call("wamp.subscription.lookup", "com.example.history")
    check(isinstance(sub_id, int), f"the history subscription exists before any subscriber ({sub_id})")

    got = []
    sub = await reader.subscribe(lambda *a, **kw: got.append(a), "com.example.history")
    check(sub.id == sub_id, "a subscriber joins the history subscription")

    pub = await connect(url, "msgpack")
    for i in range(5):
        await pub.publish("com.example.history", i, n=i, options=PublishOptions(acknowledge=True))
    await pub.publish("com.example.other", 99, options=PublishOptions(acknowledge=True))
    await wait_for(lambda: len(got) == 5, "5 events")

    events = await reader.call("wamp.subscription.get_events", sub_id, 10)
    check([e["args"] for e in events] == [[4], [3], [2]],
          f"the last 3 events (the limit), newest first: {[e['args'] for e in events]}")
    e = events[0]
    check(e["kwargs"] == {"n": 4} and e["topic"] == "com.example.history" and e["realm"] == "realm1"
          and e["session_id"] == pub._session_id and e["authrole"] == "anonymous"
          and isinstance(e["publication"], int) and isinstance(e["time_ns"], int),
          f"an event record as Crossbar.io keeps it ({e})")
    two = await reader.call("wamp.subscription.get_events", sub_id, 2)
    check([x["args"] for x in two] == [[4], [3]], "get_events with a smaller limit")

    other = await reader.subscribe(lambda *a: None, "com.example.other")
    await expect_error(reader.call("wamp.subscription.get_events", other.id),
                       "wamp.error.history_unavailable", "a subscription without history")
    await expect_error(reader.call("wamp.subscription.get_events", 4242),
                       "wamp.error.no_such_subscription", "an unknown subscription")
    # Without subscribers the history subscription stays, with its events.
    await sub.unsubscribe()
    again = await reader.call("wamp.subscription.lookup", "com.example.history")
    check(again == sub_id, "the history subscription outlives its subscribers")
    reader.leave()
    pub.leave()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    args = ap.parse_args()
    from interop import Aborted, Failure

    try:
        asyncio.run(asyncio.wait_for(run(args.url), 60))
        print("all ok", flush=True)
    except (Failure, Aborted, asyncio.TimeoutError, ApplicationError, OSError) as e:
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
