#!/usr/bin/env python3
"""Scenarios against a running crossbar-cdc, driven by unmodified autobahn-python (asyncio).

    cdc_scenarios.py --url ws://127.0.0.1:9000/ws onboard --outbox DIR --owner-seed HEX \
        --owner-name alice --realm mrealm1 --node-pubkey HEX --node-id node1 \
        --guest-seed HEX --guest-name bob
    cdc_scenarios.py --url … pins --outbox DIR --seed HEX --name dave
    cdc_scenarios.py --url … guest --seed HEX --realm mrealm1 --node-id node1
    cdc_scenarios.py --url … isolation --seed HEX --realm mrealm1 --other-realm mrealm2 --other-node node2
    cdc_scenarios.py --url … unpaired --seed HEX
    cdc_scenarios.py --url … remote --seed HEX --realm mrealm1 --node-id node1 [--fake-node-seed HEX]
    cdc_scenarios.py --url … fakenode --seed HEX --node-id node1
    cdc_scenarios.py --url … persisted --seed HEX --realm mrealm1 --node-id node1 --guest-seed HEX

Prints one line per check and exits 1 on the first failure.
"""
import argparse
import asyncio
import binascii
import os
import ssl
import sys

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.cryptosign import CryptosignKey
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig, RegisterOptions
from urllib.parse import urlparse

TIMEOUT = 15.0
GLOBAL = "com.crossbario.cdc"
# For wss:// URLs: the CA file that signed the CDC's certificate (--cafile).
CAFILE = None


class Aborted(Exception):
    def __init__(self, reason, message):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)
    print(f"  ok  {what}", flush=True)


def key_of(seed_hex):
    return CryptosignKey.from_bytes(binascii.unhexlify(seed_hex))


async def connect(url, realm, key=None, authrole=None, serializer="json"):
    """Joins `realm` (None: let the CDC pick, as nodes do) anonymously or with cryptosign."""
    loop = asyncio.get_running_loop()
    joined = loop.create_future()

    class Client(ApplicationSession):
        def onConnect(self):
            if key is None:
                self.join(realm, authmethods=["anonymous"])
            else:
                self.join(realm, authmethods=["cryptosign"], authrole=authrole,
                          authextra={"pubkey": key.public_key(), "channel_binding": None})

        def onChallenge(self, challenge):
            return key.sign_challenge(challenge)

        def onJoin(self, details):
            if not joined.done():
                joined.set_result(self)

        def onLeave(self, details):
            if not joined.done():
                joined.set_exception(Aborted(details.reason, details.message))
            self.disconnect()

        def onDisconnect(self):
            if not joined.done():
                joined.set_exception(Aborted("transport.lost", "connection closed before join"))

    ser = {"json": JsonSerializer, "cbor": CBORSerializer, "msgpack": MsgPackSerializer}[serializer]()
    factory = WampWebSocketClientFactory(lambda: Client(ComponentConfig(realm)), url=url, serializers=[ser])
    u = urlparse(url)
    tls = None
    if u.scheme == "wss":
        tls = ssl.create_default_context(cafile=CAFILE)
    await asyncio.wait_for(loop.create_connection(factory, u.hostname, u.port, ssl=tls), TIMEOUT)
    return await asyncio.wait_for(joined, TIMEOUT)


async def expect_error(coro, uri, what):
    try:
        await asyncio.wait_for(coro, TIMEOUT)
    except ApplicationError as e:
        check(e.error == uri, f"{what} -> {uri} (got {e.error}: {e.args[0] if e.args else ''})")
        return e
    raise Failure(f"{what}: expected {uri}, got success")


async def expect_abort(coro, reason, what):
    try:
        await coro
    except Aborted as e:
        check(e.reason == reason, f"{what} -> {reason} (got {e.reason}: {e.message})")
        return e
    raise Failure(f"{what}: expected ABORT {reason}, got a session")


def pin_for(outbox, vid):
    """The PIN of verification `vid`, from the mail in the outbox."""
    for name in os.listdir(outbox):
        with open(os.path.join(outbox, name)) as f:
            text = f.read()
        if f"Verification ID: {vid}" in text:
            for line in text.splitlines():
                if line.startswith("PIN: "):
                    return line[len("PIN: "):].strip()
    raise Failure(f"no mail with a PIN for verification {vid}")


async def request(session, outbox, uri, *args):
    vid = await session.call(uri, *args)
    check(isinstance(vid, str), f"{uri} -> verification {vid}")
    return vid, pin_for(outbox, vid)


async def request_and_verify(session, anon, outbox, uri, *args):
    vid, pin = await request(session, outbox, uri, *args)
    result = await anon.call("cdc.manage.verify@1", vid, pin)
    check(isinstance(result, dict), f"verify {uri} -> {result}")
    return result


async def scenario_onboard(a):
    """create user → PIN → verify → create realm → verify → register node → verify (+ a guest)."""
    anon = await connect(a.url, GLOBAL)
    owner = key_of(a.owner_seed)
    r = await request_and_verify(anon, anon, a.outbox, "cdc.manage.create_user@1",
                                 a.owner_name, f"{a.owner_name}@example.com", owner.public_key())
    check(r["user_name"] == a.owner_name, "user created")
    s = await connect(a.url, GLOBAL, owner)
    check(s._authrole == "user", "the user joins the global realm with cryptosign")
    r = await request_and_verify(s, anon, a.outbox, "cdc.manage.create_realm@1", a.realm, owner.public_key())
    check(r["management_realm"] == a.realm, "management realm created")
    r = await request_and_verify(s, anon, a.outbox, "cdc.manage.register_node@1",
                                 a.realm, a.node_pubkey, a.node_id, {"location": "test"})
    check(r["node_id"] == a.node_id, "node registered")
    if a.guest_seed:
        guest = key_of(a.guest_seed)
        await request_and_verify(anon, anon, a.outbox, "cdc.manage.create_user@1",
                                 a.guest_name, f"{a.guest_name}@example.com", guest.public_key())
        await request_and_verify(s, anon, a.outbox, "cdc.manage.register_user@1",
                                 a.realm, guest.public_key(), "guest", None)
        g = await connect(a.url, a.realm, guest)
        check(g._authrole == "guest", "the guest joins the management realm as guest")
        g.leave()
    m = await connect(a.url, a.realm, owner)
    check(m._authrole == "owner", "the owner joins the management realm as owner")
    nodes = await m.call("cdc.remote.list_nodes@1")
    check(a.node_id in nodes, f"list_nodes@1 -> {nodes}")
    status = await m.call("cdc.remote.status@1")
    check(status["realm"] == a.realm, f"status@1 -> realm {status['realm']}, now {status['now']}")
    for x in (m, s, anon):
        x.leave()


async def scenario_pins(a):
    """A reused PIN, a wrong PIN, too many tries."""
    anon = await connect(a.url, GLOBAL)
    k = key_of(a.seed)
    vid, pin = await request(anon, a.outbox, "cdc.manage.create_user@1", a.name, f"{a.name}@example.com", k.public_key())
    await expect_error(anon.call("cdc.manage.verify@1", vid, "AAAA-AAAA-AAAA"), "cdc.error.verification_failed", "a wrong PIN")
    await anon.call("cdc.manage.verify@1", vid, pin)
    check(True, "the right PIN")
    await expect_error(anon.call("cdc.manage.verify@1", vid, pin), "cdc.error.verification_failed", "the PIN again (reused)")
    k2 = key_of(a.seed[:-2] + ("00" if a.seed[-2:] != "00" else "01"))
    vid2, pin2 = await request(anon, a.outbox, "cdc.manage.create_user@1", a.name, f"{a.name}@example.com", k2.public_key())
    for i in range(5):
        await expect_error(anon.call("cdc.manage.verify@1", vid2, f"WRONG-{i}"), "cdc.error.verification_failed", f"wrong PIN #{i + 1}")
    await expect_error(anon.call("cdc.manage.verify@1", vid2, pin2), "cdc.error.too_many_tries", "the right PIN after 5 wrong ones")
    await expect_error(anon.call("cdc.manage.verify@1", "no-such-id", pin2), "cdc.error.no_such_verification", "an unknown verification")
    await expect_error(anon.call("cdc.manage.create_user@1", "x", "bad", "00"), "cdc.error.invalid_argument", "bad arguments")
    await expect_error(anon.call("cdc.manage.create_realm@1", "realmx", k.public_key()), "wamp.error.not_authorized",
                       "create_realm anonymously")
    anon.leave()


async def scenario_guest(a):
    g = await connect(a.url, a.realm, key_of(a.seed))
    check(g._authrole == "guest", "joined as guest")
    nodes = await g.call("cdc.remote.list_nodes@1")
    check(a.node_id in nodes, f"a guest lists nodes: {nodes}")
    await expect_error(g.call("cdc.remote.start_worker@1", a.node_id, "worker1", {"type": "router"}),
                       "wamp.error.not_authorized", "a guest calling start_worker@1")
    await expect_error(g.call("cdc.remote.stop_node@1", a.node_id), "wamp.error.not_authorized", "a guest calling stop_node@1")
    g.leave()


async def scenario_isolation(a):
    s = await connect(a.url, a.realm, key_of(a.seed))
    nodes = await s.call("cdc.remote.list_nodes@1")
    check(a.other_node not in nodes, f"realm {a.realm} lists only its own nodes: {nodes}")
    await expect_error(s.call("cdc.remote.list_workers@1", a.other_node), "cdc.error.no_such_node",
                       f"listing the workers of {a.other_realm}'s node")
    await expect_error(s.call("cdc.remote.query_node@1", a.other_node), "cdc.error.no_such_node",
                       f"querying {a.other_realm}'s node")
    s.leave()
    await expect_abort(connect(a.url, a.other_realm, key_of(a.seed)), "wamp.error.not_authorized",
                       f"joining {a.other_realm}")


async def scenario_unpaired(a):
    await expect_abort(connect(a.url, None, key_of(a.seed), authrole="node", serializer="cbor"),
                       "fabric.auth-failed.node-unpaired", "an unpaired node key")


async def scenario_persisted(a):
    s = await connect(a.url, a.realm, key_of(a.seed))
    check(s._authrole == "owner", "the owner is still the owner")
    nodes = await s.call("cdc.remote.list_nodes@1")
    check(a.node_id in nodes, f"the node is still registered: {nodes}")
    if a.guest_seed:
        g = await connect(a.url, a.realm, key_of(a.guest_seed))
        check(g._authrole == "guest", "the guest is still a guest")
        g.leave()
    s.leave()


class FakeNode:
    """A stand-in for a node's management uplink: joins like a node (HELLO realm null, authrole
    node, cryptosign), registers its API under crossbarfabriccenter.node.<node_id>. (one prefix
    registration), answers the way the node API does, publishes the status events a node
    publishes, heartbeats, and leaves when shut down."""

    def __init__(self, session, node_id):
        self.s = session
        self.node_id = node_id
        self.prefix = f"crossbarfabriccenter.node.{node_id}."
        self.workers = {}
        self.done = asyncio.get_running_loop().create_future()

    def pub(self, suffix, *args):
        self.s.publish(self.prefix + suffix, *args)

    def status(self, worker, kind, *ids, old="starting", new="started"):
        where = f"worker.{worker}." if worker else ""
        self.pub(f"{where}on_{kind}_status", *ids, old, new)

    async def handle(self, *args, details=None):
        name = details.procedure[len(self.prefix):]
        worker = None
        proc = name
        if name.startswith("worker."):
            _, worker, proc = name.split(".", 2)
            self.pub(f"worker.{worker}.on_log", {"text": f"{proc} called", "level": "info", "worker": worker})
        echo = {"proc": name, "args": list(args)}
        if proc == "get_status":
            return {"title": "fake node", "workers_by_type": {}}
        if proc == "get_workers":
            return sorted(self.workers)
        if proc == "get_worker":
            w = args[0]
            if w not in self.workers:
                raise ApplicationError("crossbar.error.no_such_worker", f"no worker {w}")
            return {"id": w, "type": self.workers[w], "status": "started"}
        if proc == "start_worker":
            self.workers[args[0]] = args[1]
            self.status(None, "worker", args[0], old="stopped", new="started")
            return dict(echo, id=args[0], status="started")
        if proc == "stop_worker":
            self.workers.pop(args[0], None)
            self.status(None, "worker", args[0], old="started", new="stopped")
            return echo
        if proc == "shutdown":
            asyncio.get_running_loop().call_later(0.3, self.leave)
            return {"restart": False}
        if proc == "get_worker_log":
            return [{"text": f"line {i}"} for i in range(min(args[1], 3))]
        if proc == "start_profiler":
            self.status(worker, "profile", "prof1", old="starting", new="running")
            return {"id": "prof1", "profiler": args[0], "runtime": args[1], "async": args[2]}
        if proc == "set_limit":
            self.pub(f"worker.{worker}.on_limit_set", args[0], None, args[1])
            return echo
        kinds = {"router_realm": ("realm", 1), "router_realm_role": ("role", 2),
                 "router_realm_role_grant": ("grant", 3), "router_transport": ("transport", 1),
                 "web_transport_service": ("web_service", 2), "router_component": ("component", 1),
                 "component": ("component", 1)}
        for verb, (old, new) in (("start_", ("starting", "started")), ("stop_", ("started", "stopped"))):
            if proc.startswith(verb) and proc[len(verb):] in kinds:
                kind, n = kinds[proc[len(verb):]]
                self.status(worker, kind, *args[:n], old=old, new=new)
        return echo

    def leave(self):
        self.s.leave()
        if not self.done.done():
            self.done.set_result(None)

    async def run(self):
        await self.s.register(self.handle, self.prefix, options=RegisterOptions(match="prefix", details_arg="details"))
        st = await self.s.call("crossbarfabriccenter.mrealm.get_status")
        print(f"  ok  fake node {self.node_id} joined {st['realm']}", flush=True)
        seq = 0
        while not self.done.done():
            seq += 1
            self.s.publish("crossbarfabriccenter.node.on_heartbeat", self.node_id,
                           {"timestamp": 0, "period": 1, "seq": seq, "workers": {}, "state": 1})
            await asyncio.sleep(1)


async def scenario_fakenode(a):
    s = await connect(a.url, None, key_of(a.seed), authrole="node", serializer="cbor")
    check(s._authid == a.node_id, f"the node joined as {s._authid} on {s._realm}")
    await FakeNode(s, a.node_id).run()


async def scenario_remote(a):
    """Every cdc.remote.*@1 procedure with its documented signature against a node, every
    on_*_status@1 event, then stop_node@1 → offline."""
    s = await connect(a.url, a.realm, key_of(a.seed))
    n, w = a.node_id, "worker1"
    events = {}
    topics = ["node", "worker", "realm", "role", "grant", "transport", "web_resource", "component", "profile"]
    for t in topics:
        topic = f"cdc.remote.on_{t}_status@1"
        await s.subscribe(lambda *args, _t=topic, **kw: events.setdefault(_t, []).append(args), topic)
    await s.subscribe(lambda *args, **kw: events.setdefault("cdc.remote.on_limit_set@1", []).append(args),
                      "cdc.remote.on_limit_set@1")
    node = None
    if a.fake_node_seed:
        node = await asyncio.create_subprocess_exec(sys.executable, __file__, "--url", a.url, "fakenode",
                                                    "--seed", a.fake_node_seed, "--node-id", n)
    for _ in range(int(TIMEOUT / 0.1)):
        if n in await s.call("cdc.remote.list_nodes@1", "online"):
            break
        await asyncio.sleep(0.1)
    check(n in await s.call("cdc.remote.list_nodes@1", filter_status="online"), f"node {n} is online")
    st = await s.call("cdc.remote.status@1")
    check(st["nodes"]["online"] >= 1, f"status@1: {st['nodes']}")
    check((await s.call("cdc.remote.query_node@1", n))["status"] == "online", "query_node@1")

    async def c(uri, *args, expect=None):
        r = await asyncio.wait_for(s.call(f"cdc.remote.{uri}@1", *args), TIMEOUT)
        if expect is not None and isinstance(r, dict) and "proc" in r:
            check(r["proc"] == expect[0] and r["args"] == expect[1], f"{uri}@1 → {r['proc']}{tuple(r['args'])}")
        else:
            check(True, f"{uri}@1 → {str(r)[:100]}")
        return r

    await c("save_config", n, expect=("save_config", []))
    await c("upload_config", n, {"version": 2}, expect=("upload_config", [{"version": 2}]))
    await c("download_config", n, expect=("download_config", []))
    await c("start_worker", n, w, {"type": "router", "options": {"title": "r1"}}, expect=("start_worker", [w, "router", {"title": "r1"}]))
    await c("start_worker", n, "container1", {"type": "container"}, expect=("start_worker", ["container1", "container", {}]))
    check(w in await c("list_workers", n), "list_workers@1 lists the new worker")
    await c("query_worker", n, w)
    log_topic = await c("map_worker_log_topic", n, w)
    logs = []
    await s.subscribe(lambda *args, **kw: logs.append(args), log_topic)
    check(len(await c("query_worker_log", n, w, 2)) <= 2, "query_worker_log@1 honours limit")
    await c("query_worker_log", n, w)
    await c("list_limits", n, w, expect=(f"worker.{w}.get_limits", []))
    await c("get_limit", n, w, "nice", expect=(f"worker.{w}.get_limit", ["nice"]))
    await c("set_limit", n, w, "nice", 5, expect=(f"worker.{w}.set_limit", ["nice", 5]))
    pid = await c("start_profile", n, w, "vmprof", 1, True)
    await c("list_profiles", n, w, expect=(f"worker.{w}.get_profiles", [False]))
    await c("query_profile", pid, expect=(f"worker.{w}.get_profile", [pid]))
    await c("stop_profile", n, w, pid, expect=(f"worker.{w}.stop_profiler", [pid]))
    r = "realm1"
    await c("start_realm", n, w, r, {"name": r}, expect=(f"worker.{w}.start_router_realm", [r, {"name": r}]))
    await c("list_realms", n, w, expect=(f"worker.{w}.get_router_realms", []))
    await c("query_realm", n, w, r, expect=(f"worker.{w}.get_router_realm", [r]))
    await c("start_role", n, w, r, "anon", {"name": "anon", "permissions": []},
            expect=(f"worker.{w}.start_router_realm_role", [r, "anon", {"name": "anon", "permissions": []}]))
    await c("list_roles", n, w, r, expect=(f"worker.{w}.get_router_realm_roles", [r]))
    await c("query_role", n, w, r, "anon", expect=(f"worker.{w}.get_router_realm_role", [r, "anon"]))
    grant = {"uri": "", "match": "prefix", "allow": {"call": True}}
    await c("start_grant", n, w, r, "anon", "grant1", grant,
            expect=(f"worker.{w}.start_router_realm_role_grant", [r, "anon", "grant1", grant]))
    await c("list_grants", n, w, r, "anon", expect=(f"worker.{w}.get_router_realm_role_grants", [r, "anon"]))
    await c("query_grant", n, w, r, "anon", "grant1", expect=(f"worker.{w}.get_router_realm_role_grant", [r, "anon", "grant1"]))
    await c("stop_role", n, w, r, "anon", "grant1", expect=(f"worker.{w}.stop_router_realm_role_grant", [r, "anon", "grant1"]))
    await c("stop_role", n, w, r, "anon", expect=(f"worker.{w}.stop_router_realm_role", [r, "anon"]))
    t = "transport1"
    tcfg = {"type": "web", "endpoint": {"type": "tcp", "port": 0}, "paths": {}}
    await c("start_transport", n, w, t, tcfg, expect=(f"worker.{w}.start_router_transport", [t, tcfg, True]))
    await c("list_transports", n, w, expect=(f"worker.{w}.get_router_transports", []))
    await c("query_transport", n, w, t, expect=(f"worker.{w}.get_router_transport", [t]))
    await c("start_web_resource", n, w, t, "info", {"type": "nodeinfo"},
            expect=(f"worker.{w}.start_web_transport_service", [t, "info", {"type": "nodeinfo"}]))
    await c("list_web_resources", n, w, t, expect=(f"worker.{w}.get_web_transport_services", [t]))
    await c("query_web_resource", n, w, t, "info", expect=(f"worker.{w}.get_web_transport_service", [t, "info"]))
    await c("stop_web_resource", n, w, t, "info", expect=(f"worker.{w}.stop_web_transport_service", [t, "info"]))
    await c("stop_transport", n, w, t, expect=(f"worker.{w}.stop_router_transport", [t]))
    comp = {"type": "class", "classname": "x.Y", "realm": r}
    await c("start_component", n, w, "component1", comp, expect=(f"worker.{w}.start_router_component", ["component1", comp]))
    await c("list_components", n, w, expect=(f"worker.{w}.get_router_components", []))
    await c("query_component", n, w, "component1", expect=(f"worker.{w}.get_router_component", ["component1"]))
    await c("stop_component", n, w, "component1", expect=(f"worker.{w}.stop_router_component", ["component1"]))
    await c("start_component", n, "container1", "component2", comp,
            expect=("worker.container1.start_component", ["component2", comp]))
    await c("stop_realm", n, w, r, expect=(f"worker.{w}.stop_router_realm", [r]))
    await c("stop_worker", n, "container1", expect=("stop_worker", ["container1"]))
    for _ in range(int(TIMEOUT / 0.1)):
        if len(events) >= 10 and logs:
            break
        await asyncio.sleep(0.1)
    for topic in [f"cdc.remote.on_{t}_status@1" for t in topics] + ["cdc.remote.on_limit_set@1"]:
        got = events.get(topic, [])
        check(got and got[0][0] == n, f"{topic}: {got[:1]}")
    check(any(e[1:] == (w, "stopped", "started") for e in events["cdc.remote.on_worker_status@1"]),
          "on_worker_status@1 has the seed's tuple (node, worker, old, new)")
    check(logs, f"the worker's log topic carries its lines: {logs[:1]}")
    await c("stop_node", n)
    for _ in range(int(TIMEOUT / 0.1)):
        if (n, "online", "offline") in events.get("cdc.remote.on_node_status@1", []):
            break
        await asyncio.sleep(0.1)
    check((n, "online", "offline") in events.get("cdc.remote.on_node_status@1", []), "stop_node@1 → offline")
    check(n in await s.call("cdc.remote.list_nodes@1", "offline"), "list_nodes@1('offline')")
    await expect_error(s.call("cdc.remote.list_workers@1", n), "cdc.error.node_offline", "an offline node")
    if node is not None:
        check(await asyncio.wait_for(node.wait(), TIMEOUT) == 0, "the fake node exited")
    s.leave()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--cafile")
    sub = ap.add_subparsers(dest="scenario", required=True)
    p = sub.add_parser("onboard")
    for n in ("outbox", "owner-seed", "owner-name", "realm", "node-pubkey", "node-id"):
        p.add_argument(f"--{n}", required=True)
    p.add_argument("--guest-seed")
    p.add_argument("--guest-name")
    p = sub.add_parser("pins")
    for n in ("outbox", "seed", "name"):
        p.add_argument(f"--{n}", required=True)
    p = sub.add_parser("guest")
    for n in ("seed", "realm", "node-id"):
        p.add_argument(f"--{n}", required=True)
    p = sub.add_parser("isolation")
    for n in ("seed", "realm", "other-realm", "other-node"):
        p.add_argument(f"--{n}", required=True)
    p = sub.add_parser("unpaired")
    p.add_argument("--seed", required=True)
    p = sub.add_parser("fakenode")
    for n in ("seed", "node-id"):
        p.add_argument(f"--{n}", required=True)
    p = sub.add_parser("remote")
    for n in ("seed", "realm", "node-id"):
        p.add_argument(f"--{n}", required=True)
    p.add_argument("--fake-node-seed")
    p = sub.add_parser("persisted")
    for n in ("seed", "realm", "node-id"):
        p.add_argument(f"--{n}", required=True)
    p.add_argument("--guest-seed")
    a = ap.parse_args()
    global CAFILE
    CAFILE = a.cafile
    print(f"# {a.scenario} against {a.url}", flush=True)
    await globals()[f"scenario_{a.scenario}"](a)


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 90))
    except (Failure, Aborted, asyncio.TimeoutError, ApplicationError, OSError) as e:
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
