#!/usr/bin/env python3
"""Scenarios against a running crossbar-cdc, driven by unmodified autobahn-python (asyncio).

    cdc_scenarios.py --url ws://127.0.0.1:9000/ws onboard --outbox DIR --owner-seed HEX \
        --owner-name alice --realm mrealm1 --node-pubkey HEX --node-id node1 \
        --guest-seed HEX --guest-name bob
    cdc_scenarios.py --url … pins --outbox DIR --seed HEX --name dave
    cdc_scenarios.py --url … guest --seed HEX --realm mrealm1 --node-id node1
    cdc_scenarios.py --url … isolation --seed HEX --realm mrealm1 --other-realm mrealm2 --other-node node2
    cdc_scenarios.py --url … unpaired --seed HEX
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
from autobahn.wamp.types import ComponentConfig
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
