#!/usr/bin/env python3
"""Session statistics (a realm's `stats`: `wamp.session.on_stats`) with unmodified
autobahn-python. The realm counts in rated messages of 512 bytes, publishes after 10 of them,
on join and on leave. `session_stats.py --url URL`: the checks, one line each, exit 1 on the
first failure. The same checks run against Crossbar.io."""
import argparse

STATS_KEYS = {"cycle", "serializer", "timestamp", "duration", "bytes", "messages", "rated_messages", "first", "last"}


async def run(url):
    from interop import check, connect, wait_for

    watcher = await connect(url, "json")
    events = []
    await watcher.subscribe(lambda info, stats: events.append((info, stats)), "wamp.session.on_stats")

    client = await connect(url, "cbor")
    sid = client._session_id
    mine = lambda: [s for i, s in events if i.get("session") == sid]  # noqa: E731
    await wait_for(lambda: len(mine()) >= 1, "the stats event of the join")
    info = next(i for i, _ in events if i.get("session") == sid)
    check(info == {"realm": "realm1", "session": sid, "authid": client._authid, "authrole": "anonymous"},
          f"the event names the session ({info})")
    first = mine()[0]
    check(set(first) == STATS_KEYS, f"the stats have autobahn's keys ({sorted(first)})")
    check(first["first"] is True and first["last"] is False and first["cycle"] >= 1 and first["serializer"] == "cbor",
          f"the join's stats are the first ({first})")

    # 12 calls: 24 messages of the client's, each at least one rated message.
    await client.register(lambda x: x, "com.example.echo")
    for i in range(12):
        await client.call("com.example.echo", "x" * 600)
    await wait_for(lambda: len(mine()) >= 2, "a stats event after 10 rated messages")
    second = mine()[1]
    check(second["first"] is False and second["last"] is False and second["cycle"] == first["cycle"] + 1,
          f"the next cycle ({second})")
    check(second["rated_messages"] >= 10 and second["bytes"] >= 600 and second["messages"] >= 5,
          f"it counts at least the trigger's 10 rated messages ({second})")
    check(second["timestamp"] >= first["timestamp"] and second["duration"] >= 0,
          "the cycle's start and duration in ns")

    # Crossbar.io publishes the stats of a session that left with GOODBYE when its
    # connection closes, with the session ID already cleared (None); crossbar-edge names it.
    n = len(events)
    client.leave()
    leaving = lambda: [s for i, s in events[n:] if s["last"] and i.get("session") in (sid, None)]  # noqa: E731
    await wait_for(lambda: leaving(), "the stats event of the leave")
    last = leaving()[0]
    check(last["first"] is False and last["cycle"] > second["cycle"], f"the leave's stats are the last ({last})")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    args = ap.parse_args()
    print(f"# session statistics over {args.url}", flush=True)
    await run(args.url)


if __name__ == "__main__":
    from interop import run_main

    run_main(main)
