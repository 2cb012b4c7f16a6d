#!/usr/bin/env python3
"""Drives the real Crossbar.io master (autobahn-python, asyncio) for agent/tests/uplink_master.rs.

    crossbar_master.py --url ws://127.0.0.1:9000/ws --seed HEX pair --pubkey HEX --mrealm mrealm1 --node edge1
    crossbar_master.py --url … --seed HEX drive --mrealm mrealm1 --node edge1
    crossbar_master.py --url … --seed HEX workers --mrealm mrealm1 --node edge1
    crossbar_master.py --url … --seed HEX build --mrealm mrealm1 --node edge1 --existing router1 \
        --worker rtr2 --port 8080

`pair` creates the management realm (as the superuser) and pairs the node key with it.
`drive` waits for the node to be online, then calls the remote API the way a management
client does and checks the results and events. `build` does the same against a real
`crossbar-edge start` node: a router worker with a realm, an anonymous role and a WebSocket
transport on `--port`, all through the master, checking the node's events on the master. Prints one line per check, exits 1 on failure.
"""
import argparse
import asyncio
import binascii
import json
import sys
from urllib.parse import urlparse

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.cryptosign import CryptosignKey
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import ComponentConfig, SubscribeOptions

TIMEOUT = 30.0


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print(f"  ok  {what}", flush=True)


async def connect(url, realm, key):
    loop = asyncio.get_running_loop()
    joined = loop.create_future()

    class Client(ApplicationSession):
        def onConnect(self):
            self.join(realm, authmethods=["cryptosign"], authid="superuser",
                      authextra={"pubkey": key.public_key(), "channel_binding": None})

        def onChallenge(self, challenge):
            return key.sign_challenge(challenge)

        def onJoin(self, details):
            if not joined.done():
                joined.set_result(self)

        def onLeave(self, details):
            if not joined.done():
                joined.set_exception(Failure(f"left: {details.reason} {details.message}"))
            self.disconnect()

    factory = WampWebSocketClientFactory(lambda: Client(ComponentConfig(realm)), url=url)
    u = urlparse(url)
    await asyncio.wait_for(loop.create_connection(factory, u.hostname, u.port), TIMEOUT)
    return await asyncio.wait_for(joined, TIMEOUT)


async def pair(a, key):
    s = await connect(a.url, "com.crossbario.fabric", key)
    try:
        await s.call("crossbarfabriccenter.mrealm.create_mrealm", {"name": a.mrealm})
    except ApplicationError as e:
        print(f"  ..  create_mrealm: {e.error}", flush=True)
    r = await s.call("crossbarfabriccenter.mrealm.pair_node", a.pubkey, a.mrealm, a.node, None)
    check(r.get("authid") == a.node, f"pair_node -> {r.get('authid')} in {a.mrealm}")
    s.leave()


async def drive(a, key):
    s = await connect(a.url, a.mrealm, key)
    node = await s.call("crossbarfabriccenter.mrealm.get_node_by_authid", a.node)
    oid = node["oid"]
    for _ in range(int(TIMEOUT / 0.25)):
        if oid in await s.call("crossbarfabriccenter.mrealm.get_nodes", "online"):
            break
        await asyncio.sleep(0.25)
    check(oid in await s.call("crossbarfabriccenter.mrealm.get_nodes", "online"), f"node {a.node} ({oid}) is online")

    events = asyncio.Queue()
    await s.subscribe(lambda *args, **kw: events.put_nowait(("node", args)),
                      f"crossbarfabriccenter.node.{a.node}.on_worker_status")
    await s.subscribe(lambda *args, **kw: events.put_nowait(("worker", args)),
                      f"crossbarfabriccenter.node.{a.node}.worker.rtr1.on_router_realm_started")

    st = await s.call("crossbarfabriccenter.remote.node.get_status", oid)
    check(st.get("title") == "test node", f"remote.node.get_status -> {st}")
    workers = await s.call("crossbarfabriccenter.remote.node.get_workers", oid)
    check(workers == ["worker1"], f"remote.node.get_workers -> {workers}")
    r = await s.call("crossbarfabriccenter.remote.node.start_worker", oid, "rtr1", "router", {})
    check(r.get("id") == "rtr1", f"remote.node.start_worker -> {r}")
    kind, args = await asyncio.wait_for(events.get(), TIMEOUT)
    check(kind == "node" and list(args) == ["rtr1", "stopped", "started"], f"node event on the master: {args}")
    r = await s.call("crossbarfabriccenter.remote.router.start_router_realm", oid, "rtr1", "realm1", {"name": "realm1"})
    check(r.get("id") == "realm1", f"remote.router.start_router_realm -> {r}")
    kind, args = await asyncio.wait_for(events.get(), TIMEOUT)
    check(kind == "worker" and args[0] == "realm1", f"worker event on the master: {args}")
    try:
        await s.call("crossbarfabriccenter.remote.node.get_worker", oid, "nope")
        raise Failure("get_worker of an unknown worker succeeded")
    except ApplicationError as e:
        check(e.error == "crossbar.error.no_such_worker", f"node error comes back: {e.error}")
    got = await s.call("crossbarfabriccenter.mrealm.get_node", oid)
    check(got.get("status") == "online", f"get_node -> status {got.get('status')}, heartbeat {got.get('heartbeat')}")
    s.leave()


async def workers(a, key):
    """Polls remote.node.get_workers until the node answers (a reconnected node re-registers)."""
    s = await connect(a.url, a.mrealm, key)
    oid = (await s.call("crossbarfabriccenter.mrealm.get_node_by_authid", a.node))["oid"]
    last = None
    for _ in range(int(TIMEOUT / 0.25)):
        try:
            last = await s.call("crossbarfabriccenter.remote.node.get_workers", oid)
            break
        except ApplicationError as e:
            last = e.error
            await asyncio.sleep(0.25)
    check(last == ["worker1"], f"remote.node.get_workers -> {last}")
    s.leave()


async def next_event(events, topic, pred, what):
    """The next event on `topic` whose args satisfy `pred` (other events are skipped)."""
    async def wait():
        while True:
            t, args = await events.get()
            if t == topic and pred(args):
                return args
    try:
        return await asyncio.wait_for(wait(), TIMEOUT)
    except asyncio.TimeoutError:
        raise Failure(f"no event {topic} ({what})")


async def build(a, key):
    s = await connect(a.url, a.mrealm, key)
    oid = (await s.call("crossbarfabriccenter.mrealm.get_node_by_authid", a.node))["oid"]
    for _ in range(int(TIMEOUT / 0.25)):
        if oid in await s.call("crossbarfabriccenter.mrealm.get_nodes", "online"):
            break
        await asyncio.sleep(0.25)
    check(oid in await s.call("crossbarfabriccenter.mrealm.get_nodes", "online"), f"node {a.node} ({oid}) is online")

    # Every event of the node, as the master's management realm delivers it.
    prefix = f"crossbarfabriccenter.node.{a.node}."
    events = asyncio.Queue()
    await s.subscribe(lambda *args, details=None: events.put_nowait((details.topic[len(prefix):], list(args))),
                      prefix, SubscribeOptions(match="prefix", details=True))

    workers = await s.call("crossbarfabriccenter.remote.node.get_workers", oid)
    check(workers == [a.existing], f"remote.node.get_workers -> {workers}")
    w = a.worker
    r = await s.call("crossbarfabriccenter.remote.node.start_worker", oid, w, "router", {})
    check(r.get("id") == w and r.get("type") == "router", f"remote.node.start_worker -> {r}")
    args = await next_event(events, "on_worker_status", lambda x: x[:1] == [w] and x[-1] == "started", "worker started")
    check(True, f"on_worker_status on the master: {args}")
    workers = await s.call("crossbarfabriccenter.remote.node.get_workers", oid)
    check(sorted(workers) == sorted([a.existing, w]), f"remote.node.get_workers -> {workers}")

    r = await s.call("crossbarfabriccenter.remote.router.start_router_realm", oid, w, "realm1", {"name": "realm1"})
    check(r.get("id") == "realm1", f"remote.router.start_router_realm -> {r}")
    args = await next_event(events, f"worker.{w}.on_realm_started", lambda x: x[:1] == ["realm1"], "realm started")
    check(True, f"worker.{w}.on_realm_started on the master: {args}")

    role = {"name": "anonymous", "permissions": [
        {"uri": "app.", "match": "prefix",
         "allow": {"call": True, "register": True, "publish": True, "subscribe": True}}]}
    r = await s.call("crossbarfabriccenter.remote.router.start_router_realm_role", oid, w, "realm1", "anonymous", role)
    check(r.get("id") == "anonymous", f"remote.router.start_router_realm_role -> {r}")
    args = await next_event(events, f"worker.{w}.on_router_realm_role_started", lambda x: "anonymous" in json.dumps(x), "role started")
    check(True, f"worker.{w}.on_router_realm_role_started on the master: {args}")

    transport = {"type": "websocket", "serializers": ["json", "cbor"],
                 "endpoint": {"type": "tcp", "interface": "127.0.0.1", "port": a.port}}
    r = await s.call("crossbarfabriccenter.remote.router.start_router_transport", oid, w, "tr1", transport)
    check(r.get("id") == "tr1", f"remote.router.start_router_transport -> {r}")
    args = await next_event(events, f"worker.{w}.on_router_transport_started", lambda x: x[:1] == [{"id": "tr1"}], "transport started")
    check(True, f"worker.{w}.on_router_transport_started on the master: {args}")
    transports = await s.call("crossbarfabriccenter.remote.router.get_router_transports", oid, w)
    check([t.get("id") for t in transports] == ["tr1"] and transports[0].get("status") == "started",
          f"remote.router.get_router_transports -> {transports}")
    s.leave()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--seed", required=True)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pair")
    for n in ("pubkey", "mrealm", "node"):
        p.add_argument(f"--{n}", required=True)
    p = sub.add_parser("drive")
    for n in ("mrealm", "node"):
        p.add_argument(f"--{n}", required=True)
    p = sub.add_parser("workers")
    for n in ("mrealm", "node"):
        p.add_argument(f"--{n}", required=True)
    p = sub.add_parser("build")
    for n in ("mrealm", "node", "existing", "worker"):
        p.add_argument(f"--{n}", required=True)
    p.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    key = CryptosignKey.from_bytes(binascii.unhexlify(a.seed))
    await {"pair": pair, "drive": drive, "workers": workers, "build": build}[a.cmd](a, key)


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 120))
    except (Failure, ApplicationError, asyncio.TimeoutError, OSError) as e:
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
