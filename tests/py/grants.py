#!/usr/bin/env python3
"""A client whose rights come from grants started at runtime (tests/tests/management.rs).

The role it joins with (anonymous) is expected to hold two grants: call + register on
`<ns>.rpc.` and publish + subscribe on `<ns>.topic.` (prefix). The script checks both, and that
nothing else is allowed. With `--wait-revoke` it then prints `READY`, waits for a line on stdin
(the test stops the RPC grant meanwhile) and checks that the next call, on the same session, is
denied while the other grant still applies.

    grants.py --url ws://127.0.0.1:8080/ws --ns app [--wait-revoke]

Prints one line per check and exits 1 on the first failure.
"""
import argparse
import asyncio
import sys

from autobahn.wamp.types import PublishOptions

from interop import TIMEOUT, check, connect, expect_error, wait_for, run_main

NOT_AUTHORIZED = "wamp.error.not_authorized"


async def publish_and_receive(pub, got, topic, n):
    await asyncio.wait_for(pub.publish(topic, n, options=PublishOptions(acknowledge=True)), TIMEOUT)
    await wait_for(lambda: n in got, f"event {n} on {topic}")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--serializer", default="json")
    ap.add_argument("--realm", default="realm1")
    ap.add_argument("--ns", default="app")
    ap.add_argument("--wait-revoke", action="store_true")
    args = ap.parse_args()
    ns, url, ser = args.ns, args.url, args.serializer
    print(f"# grants over {url} with {ser}", flush=True)

    callee = await connect(url, ser, realm=args.realm)
    caller = await connect(url, ser, realm=args.realm)
    await callee.register(lambda x: ["echo", x], f"{ns}.rpc.echo")
    check(await caller.call(f"{ns}.rpc.echo", 1) == ["echo", 1], "call allowed by the rpc grant")

    got = []
    await callee.subscribe(lambda n: got.append(n), f"{ns}.topic.news")
    await publish_and_receive(caller, got, f"{ns}.topic.news", 1)
    check(True, "publish/subscribe allowed by the topic grant")

    await expect_error(callee.register(lambda: None, f"{ns}.topic.proc"), NOT_AUTHORIZED, "register outside the rpc grant")
    await expect_error(caller.call(f"{ns}.topic.proc"), NOT_AUTHORIZED, "call outside the rpc grant")
    await expect_error(
        caller.publish(f"{ns}.rpc.echo", 1, options=PublishOptions(acknowledge=True)),
        NOT_AUTHORIZED,
        "publish outside the topic grant",
    )
    await expect_error(callee.subscribe(lambda *a: None, f"{ns}.rpc.echo"), NOT_AUTHORIZED, "subscribe outside the topic grant")
    await expect_error(caller.call("other.proc"), NOT_AUTHORIZED, "call outside every grant")

    if args.wait_revoke:
        print("READY", flush=True)
        line = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline), 30)
        check(line.strip() == "revoked", f"told the rpc grant is stopped ({line.strip()!r})")
        await expect_error(caller.call(f"{ns}.rpc.echo", 2), NOT_AUTHORIZED, "call after the rpc grant stopped")
        await publish_and_receive(caller, got, f"{ns}.topic.news", 2)
        check(True, "the topic grant still applies")

    for s in (callee, caller):
        s.leave()
    print("DONE", flush=True)


if __name__ == "__main__":
    run_main(main)
