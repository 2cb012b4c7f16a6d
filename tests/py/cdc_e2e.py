#!/usr/bin/env python3
"""The seed flow against a real crossbar-cdc and a real crossbar-edge node (tests/tests/cdc_e2e.rs).

    cdc_e2e.py --url ws://127.0.0.1:P/ws onboard --outbox DIR --node-seed HEX --node-pubkey HEX
    cdc_e2e.py --url … walk --node-config PATH --web-port N    (prints SUBSCRIBED, then waits
                                                               for the node to come online)
    cdc_e2e.py --url … final                                   (after a CDC restart)

Fixed cast: alice owns mrealm1 with node1 (the real node) and guest bob; carol owns mrealm2
with node2 (never connects). Keys are derived from fixed seeds.

Every cdc.remote.*@1 procedure of the seed is called with its documented signature and its
effect on the node is checked; every on_*_status@1 event is observed. Prints one line per check
and exits 1 on the first failure.
"""
import argparse
import asyncio
import json
import os
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../cdc/tests/py"))

from autobahn.wamp.exception import ApplicationError  # noqa: E402

import cdc_scenarios as sc  # noqa: E402
from cdc_scenarios import (  # noqa: E402
    Aborted, Failure, TIMEOUT, check, connect, expect_abort, expect_error, key_of, request,
)

NODE, WORKER = "node1", "router1"
REALM, OTHER_REALM, OTHER_NODE = "mrealm1", "mrealm2", "node2"
ALICE, BOB, CAROL = "01" * 32, "02" * 32, "03" * 32
NODE2_SEED = "14" * 32
EVENTS = ["node", "worker", "realm", "role", "grant", "transport", "web_resource", "component", "profile"]
NOT_AUTHORIZED = "wamp.error.not_authorized"


def ns(**kw):
    return argparse.Namespace(**kw)


async def eventually(what, probe, timeout=TIMEOUT):
    """Polls `probe` (async, returns a truthy value when done) for `timeout` seconds."""
    last = None
    for _ in range(int(timeout / 0.1)):
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise Failure(f"timed out: {what} (last: {last})")


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except (urllib.error.URLError, ConnectionError) as e:
        return None, str(e)


async def scenario_onboard(a):
    """An unregistered key is refused; then create user → PIN → verify → create realm → verify
    → register node → verify (and a guest, and a second realm); the PIN rules."""
    await expect_abort(connect(a.url, None, key_of(a.node_seed), authrole="node", serializer="cbor"),
                       "fabric.auth-failed.node-unpaired", "the node's key before it is registered")
    await sc.scenario_onboard(ns(url=a.url, outbox=a.outbox, owner_seed=ALICE, owner_name="alice", realm=REALM,
                                 node_pubkey=a.node_pubkey, node_id=NODE, guest_seed=BOB, guest_name="bob"))
    await sc.scenario_onboard(ns(url=a.url, outbox=a.outbox, owner_seed=CAROL, owner_name="carol",
                                 realm=OTHER_REALM, node_pubkey=key_of(NODE2_SEED).public_key(),
                                 node_id=OTHER_NODE, guest_seed=None, guest_name=None))
    # Reused PIN, wrong PIN, too many tries per verification.
    await sc.scenario_pins(ns(url=a.url, outbox=a.outbox, seed="04" * 32, name="dave"))
    # Too many tries per PIN value: one guess sprayed over several pending verifications.
    anon = await connect(a.url, sc.GLOBAL)
    guess = "WXYA-3479-CDEF"
    vids = []
    for i in range(6):
        k = key_of(f"{0x30 + i:02x}" * 32)
        vid, _ = await request(anon, a.outbox, "cdc.manage.create_user@1", f"spray{i}", f"spray{i}@example.com",
                               k.public_key())
        vids.append(vid)
    for i, vid in enumerate(vids[:5]):
        await expect_error(anon.call("cdc.manage.verify@1", vid, guess), "cdc.error.verification_failed",
                           f"the same wrong PIN on verification #{i + 1}")
    await expect_error(anon.call("cdc.manage.verify@1", vids[5], guess), "cdc.error.too_many_tries",
                       "the same wrong PIN a 6th time, on a fresh verification")
    anon.leave()


async def scenario_walk(a):
    s = await connect(a.url, REALM, key_of(ALICE))
    n, w = NODE, WORKER
    events = {}
    for t in EVENTS:
        topic = f"cdc.remote.on_{t}_status@1"
        await s.subscribe(lambda *args, _t=topic, **kw: events.setdefault(_t, []).append((args, kw)), topic)
    await s.subscribe(lambda *args, **kw: events.setdefault("cdc.remote.on_limit_set@1", []).append((args, kw)),
                      "cdc.remote.on_limit_set@1")
    print("SUBSCRIBED", flush=True)

    def seen(topic, pred=lambda args, kw: True):
        return any(pred(args, kw) for args, kw in events.get(f"cdc.remote.{topic}@1", []))

    async def wait_event(topic, pred, what):
        await eventually(f"{topic}: {what}", lambda: asyncio.sleep(0, seen(topic, pred)))
        check(True, f"{topic}@1: {what}")

    async def c(proc, *args, **kw):
        r = await asyncio.wait_for(s.call(f"cdc.remote.{proc}@1", *args, **kw), TIMEOUT)
        print(f"  ..  {proc}@1{args if len(str(args)) < 120 else '(…)'} -> {str(r)[:160]!r}", flush=True)
        return r

    # -- the node comes online by itself (the test starts it after SUBSCRIBED)
    await wait_event("on_node_status", lambda x, _: x == (n, "offline", "online"), "the node went online")
    st = await c("status")
    check(st["realm"] == REALM and st["nodes"]["online"] == 1 and "now" in st, "status@1: realm, now, 1 node online")
    check(await c("list_nodes") == [n], "list_nodes@1() lists node1 only (not mrealm2's node2)")
    check(await c("list_nodes", filter_status="online") == [n], "list_nodes@1(filter_status='online')")
    check(await c("list_nodes", "offline") == [], "list_nodes@1('offline') is empty")
    q = await c("query_node", n)
    check(q["status"] == "online" and q["node_id"] == n, "query_node@1: online")

    # -- negative: a guest may look but not start a worker; realm B is invisible to realm A
    g = await connect(a.url, REALM, key_of(BOB))
    check(n in await g.call("cdc.remote.list_nodes@1"), "the guest lists the realm's nodes")
    await expect_error(g.call("cdc.remote.start_worker@1", n, "guestw", {"type": "router"}), NOT_AUTHORIZED,
                       "a guest calling start_worker@1")
    g.leave()
    check("guestw" not in await c("list_workers", n), "… and the node has no such worker")
    await expect_error(s.call("cdc.remote.query_node@1", OTHER_NODE), "cdc.error.no_such_node",
                       "alice querying mrealm2's node")
    await expect_error(s.call("cdc.remote.list_workers@1", OTHER_NODE), "cdc.error.no_such_node",
                       "alice listing the workers of mrealm2's node")
    carol = await connect(a.url, OTHER_REALM, key_of(CAROL))
    check(await carol.call("cdc.remote.list_nodes@1") == [OTHER_NODE], "carol lists only mrealm2's node2")
    await expect_error(carol.call("cdc.remote.list_workers@1", n), "cdc.error.no_such_node",
                       "carol reaching mrealm1's node1")
    carol.leave()
    # Realm None, as the seed's tutorials join: the user's one management realm.
    carol = await connect(a.url, None, key_of(CAROL))
    check(carol._realm == OTHER_REALM, f"carol joining with realm None lands on {OTHER_REALM} (got {carol._realm})")
    check(await carol.call("cdc.remote.list_nodes@1") == [OTHER_NODE], "… and lists its node")
    carol.leave()
    await expect_abort(connect(a.url, OTHER_REALM, key_of(ALICE)), NOT_AUTHORIZED, "alice joining mrealm2")

    # -- workers
    check(await c("list_workers", n) == [], "list_workers@1: no workers yet")
    r = await c("start_worker", n, w, {"type": "router", "options": {"title": "router via CDC"}})
    check(r["id"] == w and r["status"] == "started", "start_worker@1 started a router worker")
    check(await c("list_workers", n) == [w], "list_workers@1 lists it")
    qw = await c("query_worker", n, w)
    check(qw["type"] == "router" and qw["status"] == "started" and qw["pid"] > 0, "query_worker@1: router, pid")
    await wait_event("on_worker_status", lambda x, _: x == (n, w, "starting", "started"), "(node1, router1, starting, started)")
    # The tutorials' form (crossbarexamples cdc/tut*.py): the worker type as a string.
    r = await c("start_worker", n, "tut_router", "router")
    check(r["id"] == "tut_router" and r["status"] == "started", "start_worker@1(node, worker, 'router')")
    check(sorted(await c("list_workers", n)) == sorted([w, "tut_router"]), "… listed beside router1")
    await c("stop_worker", n, "tut_router")
    check(await c("list_workers", n) == [w], "… and stopped again")

    # -- logs
    topic = await c("map_worker_log_topic", n, w)
    check(isinstance(topic, str) and n in topic and w in topic, f"map_worker_log_topic@1 -> {topic}")
    logs = []
    await s.subscribe(lambda *args, **kw: logs.append((args, kw)), topic)
    log = await c("query_worker_log", n, w)
    check(isinstance(log, list) and 0 < len(log) <= 50, f"query_worker_log@1 (limit 50 by default): {len(log)} records")
    log2 = await c("query_worker_log", n, w, 2)
    check(len(log2) == min(2, len(log)), "query_worker_log@1(…, 2) honours the limit")

    # -- limits
    limits = await c("list_limits", n, w)
    check(all(x in limits for x in ("cpu_affinity", "nice", "memory")), f"list_limits@1: {sorted(limits)}")
    nice = await c("get_limit", n, w, "nice")
    check(isinstance(nice, int), f"get_limit@1(nice) = {nice}")
    want = min(nice + 3, 19)
    check(await c("set_limit", n, w, "nice", want) == want, f"set_limit@1(nice, {want})")
    check(await c("get_limit", n, w, "nice") == want, "get_limit@1(nice) reads it back from the process")
    await wait_event("on_limit_set", lambda x, _: x == (n, w, "nice", nice, want), "(node, worker, nice, old, new)")
    mem = 1 << 30
    await c("set_limit", n, w, "memory", mem)
    check(await c("get_limit", n, w, "memory") == mem, "set_limit@1(memory, 1 GiB) took effect")
    await c("set_limit", n, w, "memory", None)
    check(await c("get_limit", n, w, "memory") != mem, "set_limit@1(memory, null) removed it")

    # -- profiles
    pid = await c("start_profile", n, w, "vmprof", 1, True)
    check(isinstance(pid, str), f"start_profile@1 -> profile {pid}")
    await eventually("the 1 s profile ends", lambda: _profile_done(c, n, w, pid))
    profiles = await c("list_profiles", n, w)
    mine = [p for p in profiles if p[0] == pid]
    check(len(mine) == 1 and mine[0][1] == "stopped" and mine[0][2], f"list_profiles@1: (id, status, ended) {mine}")
    prof = await c("query_profile", pid)
    check(prof["id"] == pid and prof["folded"] is not None, "query_profile@1(profile_id) returns the profile data")
    pid2 = await c("start_profile", n, w, "vmprof", 60)
    check(pid2 in [p[0] for p in await c("list_profiles", n, w, True)], "list_profiles@1(filter_running=True)")
    r = await c("stop_profile", n, w, pid2)
    check(r["id"] == pid2 and r["status"] == "stopped", f"stop_profile@1 returns once it ended -> status {r['status']}")
    check(await c("list_profiles", n, w, True) == [], "… and list_profiles@1(filter_running=True) right after lists none")
    await wait_event("on_profile_status", lambda x, _: x[:3] == (n, w, pid) and x[3] == "stopped",
                     "(node, worker, profile_id, status) for the finished profile")

    # -- realm, role, grants
    rlm, role = "realm1", "anon"
    r = await c("start_realm", n, w, rlm, {"name": rlm})
    check(r["id"] == rlm, "start_realm@1")
    check(await c("list_realms", n, w) == [rlm], "list_realms@1")
    check((await c("query_realm", n, w, rlm))["id"] == rlm, "query_realm@1")
    await wait_event("on_realm_status", lambda x, _: x == (n, w, rlm, "starting", "started"), "realm1 started")
    r = await c("start_role", n, w, rlm, role, {"name": "anonymous", "permissions": []})
    check(r["name"] == "anonymous", "start_role@1")
    check(await c("list_roles", n, w, rlm) == [role], "list_roles@1: a list of IDs")
    check((await c("query_role", n, w, rlm, role))["id"] == role, "query_role@1")
    await wait_event("on_role_status", lambda x, _: x == (n, w, rlm, role, "starting", "started"), "role started")
    # The tutorials' spelling (the node's own procedure names) of the same procedures.
    check(await c("list_router_realms", n, w) == [rlm], "list_router_realms@1 (alias)")
    check((await c("query_router_realm_role", n, w, rlm, role))["id"] == role, "query_router_realm_role@1 (alias)")
    r = await c("start_router_realm_role", n, w, rlm, "user-0", {"name": "user-0", "permissions": []})
    check(r["name"] == "user-0", "start_router_realm_role@1 (alias) with a role id that has a dash")
    await c("stop_router_realm_role", n, w, rlm, "user-0")
    check(await c("list_router_realm_roles", n, w, rlm) == [role], "stop_router_realm_role@1 (alias)")
    grants = {
        "rpc": {"uri": "app.rpc.", "match": "prefix", "allow": {"call": True, "register": True}},
        "topics": {"uri": "app.topic.", "match": "prefix", "allow": {"publish": True, "subscribe": True}},
    }
    for gid, cfg in grants.items():
        await c("start_grant", n, w, rlm, role, gid, cfg)
    listed = await c("list_grants", n, w, rlm, role)
    check(sorted(listed) == ["rpc", "topics"], "list_grants@1: a list of IDs")
    qg = await c("query_grant", n, w, rlm, role, "rpc")
    check(qg["id"] == "rpc" and qg["status"] == "started", "query_grant@1")
    await wait_event("on_grant_status", lambda x, kw: x == (n, w, rlm, role, "starting", "started") and
                     kw.get("grant_id") == "rpc", "(node, worker, realm, role, old, new), grant_id=rpc")

    # -- transport: started through the CDC, it serves a client under the grants
    t, port = "web1", a.web_port
    tcfg = {"type": "web", "endpoint": {"type": "tcp", "port": port, "interface": "127.0.0.1"},
            "paths": {"/": {"type": "static", "directory": "../web"},
                      "ws": {"type": "websocket", "serializers": ["json"]}}}
    r = await c("start_transport", n, w, t, tcfg)
    check(r["id"] == t and r["status"] == "started", "start_transport@1")
    tl = await c("list_transports", n, w)
    check(tl == [t], "list_transports@1: a list of IDs")
    check((await c("query_transport", n, w, t))["id"] == t, "query_transport@1")
    await wait_event("on_transport_status", lambda x, _: x == (n, w, t, "starting", "started"), "web1 started")
    code, body = http_get(port, "/")
    check(code == 200 and "hello from crossbar-edge" in body, f"the transport serves its static files: {code} {body}")
    url = f"ws://127.0.0.1:{port}/ws"
    callee = await connect(url, rlm)
    caller = await connect(url, rlm)
    await callee.register(lambda x: ["echo", x], "app.rpc.echo")
    check(await caller.call("app.rpc.echo", 1) == ["echo", 1], "a client of the transport calls under the rpc grant")
    await expect_error(caller.call("other.proc"), NOT_AUTHORIZED, "a call outside every grant")

    # -- web resources
    r = await c("start_web_resource", n, w, t, "info", {"type": "json", "value": {"info": 1}})
    code, body = http_get(port, "/info")
    check(code == 200 and json.loads(body) == {"info": 1}, "start_web_resource@1: /info is served")
    check("info" in await c("list_web_resources", n, w, t), "list_web_resources@1")
    await c("query_web_resource", n, w, t, "info")
    await wait_event("on_web_resource_status", lambda x, _: x == (n, w, t, "info", "starting", "started"),
                     "(node, worker, transport, resource, old, new)")
    await c("stop_web_resource", n, w, t, "info")
    code, body = http_get(port, "/info")
    check(code == 404, f"stop_web_resource@1: /info is gone ({code} {body})")
    check("info" not in await c("list_web_resources", n, w, t), "… and no longer listed")

    # -- components: the Rust example as an `exec` router component, started through the CDC
    comp = {"type": "exec", "executable": a.component_exe, "arguments": ["app.rpc.comp"],
            "realm": rlm, "role": "anonymous"}
    check(await c("list_components", n, w) == [], "list_components@1: none yet")
    await c("start_component", n, w, "comp1", comp)
    await wait_event("on_component_status", lambda x, _: x == (n, w, "comp1", "starting", "started"),
                     "comp1 started")
    check(await c("list_components", n, w) == ["comp1"], "list_components@1: a list of IDs")
    q = await c("query_component", n, w, "comp1")
    check(q.get("id") == "comp1" and q.get("status") == "started", f"query_component@1: {q}")

    async def comp_echo():
        try:
            return await caller.call("app.rpc.comp.echo", "via-cdc") == "via-cdc"
        except ApplicationError:
            return False
    await eventually("the component's procedure answers a client", comp_echo)
    await c("stop_component", n, w, "comp1")
    await wait_event("on_component_status", lambda x, _: x == (n, w, "comp1", "stopping", "stopped"),
                     "comp1 stopped")
    await expect_error(caller.call("app.rpc.comp.echo", "x"), "wamp.error.no_such_procedure",
                       "stop_component@1: its procedure is gone")

    # -- stop_role@1 with a grant id (as the seed documents it) stops the grant
    await c("stop_role", n, w, rlm, role, "rpc")
    await expect_error(caller.call("app.rpc.echo", 2), NOT_AUTHORIZED,
                       "stop_role@1(…, grant_id): the next call on the live session is denied")
    check(sorted(await c("list_grants", n, w, rlm, role)) == ["topics"],
          "… and the grant is gone")
    await wait_event("on_grant_status", lambda x, kw: x == (n, w, rlm, role, "stopping", "stopped") and
                     kw.get("grant_id") == "rpc", "the rpc grant stopped")
    for x in (callee, caller):
        x.leave()

    # -- stop role, transport, realm
    await c("stop_role", n, w, rlm, role)
    check(await c("list_roles", n, w, rlm) == [], "stop_role@1 stopped the role")
    await wait_event("on_role_status", lambda x, _: x == (n, w, rlm, role, "stopping", "stopped"), "role stopped")
    await c("stop_transport", n, w, t)
    check(http_get(port, "/")[0] is None, "stop_transport@1 closed the port")
    check(await c("list_transports", n, w) == [], "… and it is no longer listed")
    await wait_event("on_transport_status", lambda x, _: x == (n, w, t, "stopping", "stopped"), "web1 stopped")
    await c("stop_realm", n, w, rlm)
    check(await c("list_realms", n, w) == [], "stop_realm@1")
    await wait_event("on_realm_status", lambda x, _: x == (n, w, rlm, "stopping", "stopped"), "realm1 stopped")

    # -- configuration files
    await c("save_config", n)
    with open(a.node_config) as f:
        on_disk = json.load(f)
    check([x.get("id") for x in on_disk.get("workers", [])] == [w], "save_config@1 wrote the live workers to the file")
    text = await c("download_config", n)
    check(isinstance(text, str) and json.loads(text) == on_disk, "download_config@1 returns the file's text")
    cfg = json.loads(text)
    cfg["controller"].setdefault("options", {})["title"] = "uploaded via CDC"
    await c("upload_config", n, cfg)
    with open(a.node_config) as f:
        check(json.load(f)["controller"]["options"]["title"] == "uploaded via CDC", "upload_config@1 wrote the file")
    check(json.loads(await c("download_config", n))["controller"]["options"]["title"] == "uploaded via CDC",
          "download_config@1 returns the uploaded config")
    # download → edit the text → upload the text (JSON, then YAML)
    text = (await c("download_config", n)).replace("uploaded via CDC", "uploaded as text")
    await c("upload_config", n, text)
    with open(a.node_config) as f:
        check(json.load(f)["controller"]["options"]["title"] == "uploaded as text", "upload_config@1 takes the file's text")
    yaml_text = "version: 2\ncontroller:\n  options:\n    title: uploaded as YAML\nworkers: []\n"
    await c("upload_config", n, yaml_text)
    with open(a.node_config) as f:
        check(json.load(f)["controller"]["options"]["title"] == "uploaded as YAML", "upload_config@1 takes YAML text")
    await expect_error(c("upload_config", n, "version: 2\nworkers: [{type: router, realms: 5}]\n"),
                       "crossbar.error.invalid_configuration", "upload_config@1 refuses a bad config")
    await expect_error(c("upload_config", n, "{not json"), "crossbar.error.invalid_configuration",
                       "upload_config@1 refuses text that does not parse")
    await c("upload_config", n, cfg)

    # -- the worker's log topic carried its lines
    await eventually("a live log line", lambda: asyncio.sleep(0, bool(logs)))
    check(True, f"the worker's log topic carried {len(logs)} lines")

    # -- stop the worker
    await c("stop_worker", n, w)
    check(await c("list_workers", n) == [], "stop_worker@1")
    await wait_event("on_worker_status", lambda x, _: x[:2] == (n, w) and x[3] == "stopped", "router1 stopped")

    missing = [t for t in EVENTS if t not in ("node",) and not seen(f"on_{t}_status")]
    if missing:
        print(f"EVENTS_MISSING {json.dumps(missing)}", flush=True)
    check(not missing, f"every on_*_status@1 observed (missing: {missing})")
    s.leave()


async def _profile_done(c, n, w, pid):
    return any(p[0] == pid and p[1] in ("stopped", "failed") for p in await c("list_profiles", n, w))


async def scenario_final(a):
    """After a CDC restart: the registry is intact, the node reconnected by itself;
    stop_node@1 → offline."""
    await sc.scenario_persisted(ns(url=a.url, seed=ALICE, realm=REALM, node_id=NODE, guest_seed=BOB))
    s = await connect(a.url, REALM, key_of(ALICE))
    n = NODE
    events = []
    await s.subscribe(lambda *args, **kw: events.append(args), "cdc.remote.on_node_status@1")

    async def online():
        return n in await s.call("cdc.remote.list_nodes@1", "online")

    await eventually("node1 reconnects to the restarted CDC", online, timeout=30)
    check(True, "the node reconnected by itself")
    check((await s.call("cdc.remote.query_node@1", n))["status"] == "online", "query_node@1: online")
    check(await s.call("cdc.remote.list_workers@1", n) == [], "the node answers list_workers@1 again")
    r = await s.call("cdc.remote.stop_node@1", n)
    check(isinstance(r, dict) and r.get("node_id") == n, f"stop_node@1 -> {r}")
    await eventually("node1 offline", lambda: asyncio.sleep(0, (n, "online", "offline") in events))
    check(True, "on_node_status@1: (node1, online, offline)")
    check(await s.call("cdc.remote.list_nodes@1", "offline") == [n], "list_nodes@1('offline')")
    await expect_error(s.call("cdc.remote.list_workers@1", n), "cdc.error.node_offline", "calling the offline node")
    s.leave()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    sub = ap.add_subparsers(dest="scenario", required=True)
    p = sub.add_parser("onboard")
    for x in ("outbox", "node-seed", "node-pubkey"):
        p.add_argument(f"--{x}", required=True)
    p = sub.add_parser("walk")
    p.add_argument("--node-config", required=True)
    p.add_argument("--web-port", type=int, required=True)
    p.add_argument("--component-exe", required=True)
    sub.add_parser("final")
    a = ap.parse_args()
    print(f"# {a.scenario} against {a.url}", flush=True)
    await globals()[f"scenario_{a.scenario}"](a)
    print("DONE", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 100))
    except (Failure, Aborted, asyncio.TimeoutError, ApplicationError, OSError, KeyError, TypeError) as e:
        print(f"FAIL {type(e).__name__}: {e!r}", flush=True)
        sys.exit(1)
