#!/usr/bin/env python3
"""A realm shared by three crossbar-edge nodes over NATS, with unmodified autobahn-python:
a publisher on the first node, subscribers on the others.

  cluster.py --pub URL --sub URL --sub URL [--pause-file F]

Checks, one line each (exit 1 on the first failure): exact, prefix and wildcard
subscriptions on other nodes get every event, in order; disclosure, eligible and exclude by
session across nodes; a retained event reaches a late subscriber on another node; arguments
keep their values and key order from a JSON publisher to MessagePack and CBOR subscribers.
With --pause-file it prints `phase1 ok` and waits for that file (the test kills a NATS server
meanwhile), then checks that events flow again and arrive whole and in order."""
import argparse
import asyncio
import os

from autobahn.wamp.types import PublishOptions, SubscribeOptions

N = 1000


async def main():
    from interop import check, connect, wait_for

    ap = argparse.ArgumentParser()
    ap.add_argument("--pub", required=True)
    ap.add_argument("--sub", action="append", required=True)
    ap.add_argument("--pause-file")
    args = ap.parse_args()
    print(f"# cluster: publisher on {args.pub}, subscribers on {args.sub}", flush=True)

    pub = await connect(args.pub, "json")
    s2 = await connect(args.sub[0], "msgpack")
    s3 = await connect(args.sub[1], "cbor")
    got = {"exact": [], "prefix": [], "wildcard": [], "probe2": [], "probe3": []}

    def collect(name):
        def on_event(*a, **kw):
            details = kw.pop("details", None)
            got[name].append((a, kw, details))
        return on_event

    await s2.subscribe(collect("exact"), "com.cluster.topic", options=SubscribeOptions(details_arg="details"))
    await s2.subscribe(collect("prefix"), "com.clu", options=SubscribeOptions(match="prefix", details_arg="details"))
    await s3.subscribe(collect("wildcard"), "com..topic", options=SubscribeOptions(match="wildcard", details_arg="details"))
    await s2.subscribe(collect("probe2"), "com.cluster.probe")
    await s3.subscribe(collect("probe3"), "com.cluster.probe")

    async def probe(what):
        """Publishes probes until both subscribers' nodes receive them: the NATS interest of
        every node has spread through the cluster."""
        for k in ("probe2", "probe3"):
            got[k].clear()
        for _ in range(400):
            pub.publish("com.cluster.probe", "probe")
            await asyncio.sleep(0.05)
            if got["probe2"] and got["probe3"]:
                check(True, f"events flow between the nodes ({what})")
                return
        check(False, f"events flow between the nodes ({what})")

    async def burst(start, count):
        for k in ("exact", "prefix", "wildcard"):
            got[k].clear()
        for i in range(start, start + count):
            pub.publish("com.cluster.topic", i, n=i)
        await wait_for(lambda: all(len(got[k]) >= count for k in ("exact", "prefix", "wildcard")),
                       f"{count} events on every subscription")
        for k in ("exact", "prefix", "wildcard"):
            seq = [a[0] for a, _, _ in got[k]]
            check(seq == list(range(start, start + count)),
                  f"{k} subscription on another node: all {count} events, in order")

    await probe("at start")
    await burst(0, N)
    _, kw, details = got["exact"][0]
    check(kw == {"n": 0}, "keyword arguments cross")
    check(details.publisher is not None and details.publisher_authrole == "anonymous",
          f"the publisher on the other node is disclosed ({details.publisher}, {details.publisher_authrole})")
    check(got["prefix"][0][2].topic == "com.cluster.topic" and got["wildcard"][0][2].topic == "com.cluster.topic",
          "pattern events name their topic")

    # Eligible and exclude by session, across nodes.
    got["exact"].clear(), got["wildcard"].clear()
    pub.publish("com.cluster.topic", "only s3", options=PublishOptions(eligible=[s3._session_id]))
    pub.publish("com.cluster.topic", "not s2", options=PublishOptions(exclude=[s2._session_id]))
    pub.publish("com.cluster.topic", "everyone")
    await wait_for(lambda: len(got["wildcard"]) >= 3 and len(got["exact"]) >= 1, "filtered events")
    check([a[0] for a, _, _ in got["wildcard"]] == ["only s3", "not s2", "everyone"],
          "the eligible subscriber gets them all")
    check([a[0] for a, _, _ in got["exact"]] == ["everyone"], "eligible and exclude keep s2 out")

    # Values and key order from a JSON publisher to MessagePack and CBOR subscribers.
    got["exact"].clear(), got["wildcard"].clear()
    nested = {"zeta": 1, "alpha": [1.5, None, True], "mid": {"z": "ü", "a": -2**40}}
    pub.publish("com.cluster.topic", nested, zulu=1, alpha=2)
    await wait_for(lambda: got["exact"] and got["wildcard"], "the nested event")
    for k in ("exact", "wildcard"):
        a, kw, _ = got[k][0]
        check(a == (nested,) and list(a[0]) == ["zeta", "alpha", "mid"] and list(kw) == ["zulu", "alpha"],
              f"values and key order survive ({k})")

    # A retained event on one node, a late subscriber on another.
    await pub.publish("com.cluster.kept", "latest", options=PublishOptions(retain=True, acknowledge=True))
    await probe("after the retained event")
    late = await connect(args.sub[1], "json")
    kept = []
    await late.subscribe(lambda *a: kept.append(a), "com.cluster.kept", options=SubscribeOptions(get_retained=True))
    await wait_for(lambda: kept, "the retained event")
    check(kept == [("latest",)], f"a late subscriber on another node gets the retained event ({kept})")

    if args.pause_file:
        print("phase1 ok", flush=True)
        for _ in range(1200):
            if os.path.exists(args.pause_file):
                break
            await asyncio.sleep(0.05)
        else:
            check(False, "the test went on")
        await probe("after a NATS server went down")
        await burst(N, N)
    for s in (pub, s2, s3, late):
        s.leave()


if __name__ == "__main__":
    from interop import run_main

    run_main(main, timeout=120)
