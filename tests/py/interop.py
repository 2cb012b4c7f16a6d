#!/usr/bin/env python3
"""Interop checks for a WAMP router, driven by unmodified autobahn-python (asyncio).

Each scenario connects real autobahn sessions to the router under test and checks behaviour
against the WAMP spec and Crossbar.io (the same script passes against Crossbar.io itself).

    interop.py --url ws://127.0.0.1:8080/ws --serializer cbor --scenario rpc
    interop.py --url rs://127.0.0.1:8081 --serializer msgpack --scenario all
    interop.py --url ws://127.0.0.1:8082 --scenario auth --auth ticket --authid joe --secret s --expect ok

Prints one line per check and exits 1 on the first failure.
"""
import argparse
import asyncio
import binascii
import sys
from urllib.parse import urlparse

# URI namespace of this run (`--ns`), so parallel runs on one realm do not collide.
NS = "com"

from autobahn.asyncio.rawsocket import WampRawSocketClientFactory
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp import auth as wamp_auth
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer, UBJSONSerializer
from autobahn.wamp.types import (
    CallOptions,
    ComponentConfig,
    PublishOptions,
    RegisterOptions,
    SubscribeOptions,
)

TIMEOUT = 10.0
SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer,
               "ubjson": UBJSONSerializer}


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


async def connect(url, serializer, realm="realm1", authmethods=None, authid=None, authextra=None, on_challenge=None,
                  headers=None, ssl=None):
    """Opens one session; returns it once joined, or raises Aborted with the router's reason.
    `on_challenge`: a function of the CHALLENGE, or an autobahn authenticator object;
    `headers`: extra HTTP headers of a WebSocket upgrade (a Cookie); `ssl`: an SSLContext for
    wss:// and TLS RawSocket (`rss://`) URLs."""
    loop = asyncio.get_running_loop()
    joined = loop.create_future()

    class Client(ApplicationSession):
        def onConnect(self):
            self.join(realm, authmethods=authmethods, authid=authid, authextra=authextra)

        def onChallenge(self, challenge):
            if hasattr(on_challenge, "on_challenge"):
                # an autobahn authenticator (AuthCryptoSign, …): it reads the session's
                # transport details, e.g. the TLS channel id for channel binding
                return on_challenge.on_challenge(self, challenge)
            return on_challenge(challenge)

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

    def make():
        return Client(ComponentConfig(realm))

    ser = SERIALIZERS[serializer]()
    u = urlparse(url)
    if u.scheme in ("ws", "wss"):
        factory = WampWebSocketClientFactory(make, url=url, serializers=[ser], headers=headers)
    elif u.scheme in ("rs", "rss"):
        factory = WampRawSocketClientFactory(make, serializer=ser)
    else:
        raise ValueError(f"unsupported url {url}")
    tls = {"ssl": ssl, "server_hostname": u.hostname} if ssl is not None else {}
    await asyncio.wait_for(loop.create_connection(factory, u.hostname, u.port, **tls), TIMEOUT)
    return await asyncio.wait_for(joined, TIMEOUT)


async def wait_for(cond, what):
    for _ in range(int(TIMEOUT / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise Failure(f"timed out waiting for {what}")


async def expect_error(coro, uri, what):
    try:
        await asyncio.wait_for(coro, TIMEOUT)
    except ApplicationError as e:
        check(e.error == uri, f"{what} -> {uri} (got {e.error})")
        return e
    raise Failure(f"{what}: expected {uri}, got success")


async def scenario_rpc(url, ser):
    callee = await connect(url, ser)
    caller = await connect(url, ser)

    def add2(a, b):
        return a + b

    def echo(*args, **kwargs):
        from autobahn.wamp.types import CallResult

        return CallResult(*args, **kwargs)

    def fail(*args):
        raise ApplicationError(f"{NS}.test.error", "bad thing", 1, 2, detail="x")

    await callee.register(add2, f"{NS}.test.add2")
    await callee.register(echo, f"{NS}.test.echo")
    await callee.register(fail, f"{NS}.test.fail")

    check(await caller.call(f"{NS}.test.add2", 2, 3) == 5, "call with args")
    res = await caller.call(f"{NS}.test.echo", 1, "two", [3], key="value", n=None)
    check(list(res.results) == [1, "two", [3]] and res.kwresults == {"key": "value", "n": None}, "call with args and kwargs")
    check((res.callee, res.callee_authid, res.callee_authrole) == (callee._session_id, callee._authid, callee._authrole),
          f"RESULT discloses the callee, as Crossbar.io does (got {res.callee}, {res.callee_authid}, {res.callee_authrole})")
    blob = bytes(range(256))
    check(await caller.call(f"{NS}.test.echo", blob) == blob, "binary argument round trip")
    e = await expect_error(caller.call(f"{NS}.test.fail", 7), f"{NS}.test.error", "application error")
    check(list(e.args) == ["bad thing", 1, 2] and e.kwargs == {"detail": "x"}, "application error keeps args and kwargs")

    if ser == "cbor":
        # CBOR tags travel as sent: a bignum beyond 64 bits (tag 2, what a JavaScript BigInt
        # becomes) and a typed array (tag 64, a Uint8Array); a JSON peer gets the number.
        import cbor2

        big, typed = 2**88 + 7, cbor2.CBORTag(64, b"\x01\x02\x03")
        res = await caller.call(f"{NS}.test.echo", big, -(2**80), typed)
        check(list(res.results) == [big, -(2**80), typed] if hasattr(res, "results") else False,
              f"CBOR bignums and tagged values round-trip (got {res})")
        js = await connect(url, "json")
        got_json = []
        await js.subscribe(lambda *a: got_json.append(a), f"{NS}.big")
        await caller.publish(f"{NS}.big", big, options=PublishOptions(acknowledge=True))
        await wait_for(lambda: got_json, "bignum event on a JSON session")
        check(got_json[0] == (big,), f"a JSON subscriber gets a CBOR bignum as the number (got {got_json[0]})")
        js.leave()

    # CALL.Options.timeout is in seconds, as Crossbar.io and autobahn-python read it.
    async def slow():
        await asyncio.sleep(3)
        return "late"

    await callee.register(slow, f"{NS}.test.slow")
    t0 = asyncio.get_running_loop().time()
    await expect_error(caller.call(f"{NS}.test.slow", options=CallOptions(timeout=1)), "wamp.error.canceled",
                       "call with timeout=1")
    took = asyncio.get_running_loop().time() - t0
    check(0.8 <= took <= 2.5, f"a call timeout of 1 is one second (took {took:.2f} s)")

    # Dictionaries keep the sender's key order, as Crossbar.io forwards them (not sorted).
    def bounds(*args):
        raise ApplicationError(f"{NS}.test.bounds", min=3, max=10)

    await callee.register(bounds, f"{NS}.test.bounds")
    e = await expect_error(caller.call(f"{NS}.test.bounds"), f"{NS}.test.bounds", "error with kwargs")
    check(list(e.kwargs) == ["min", "max"], f"error kwargs keep the callee's key order (got {list(e.kwargs)})")
    nested = {"zeta": 1, "alpha": {"z": 0, "m": 1, "a": 2}, "mid": [{"y": 1, "b": 2}]}
    res = await caller.call(f"{NS}.test.echo", nested, zulu=1, alpha=2, mike=3)
    got_order = (list(res.kwresults), list(res.results[0]), list(res.results[0]["alpha"]), list(res.results[0]["mid"][0]))
    check(got_order == (["zulu", "alpha", "mike"], ["zeta", "alpha", "mid"], ["z", "m", "a"], ["y", "b"]),
          f"call kwargs and nested dicts keep their key order (got {got_order})")
    await expect_error(caller.call(f"{NS}.test.nope"), "wamp.error.no_such_procedure", "unknown procedure")
    other = await connect(url, ser)
    await expect_error(other.register(add2, f"{NS}.test.add2"), "wamp.error.procedure_already_exists", "duplicate registration")
    # REGISTER concurrency, as Crossbar.io has it: a callee at its limit takes no more calls.
    async def busy():
        # Long enough that the next call is routed while this one runs, on a loaded machine too
        # (the caller's messages are routed in order).
        await asyncio.sleep(1.5)
        return "done"

    await callee.register(busy, f"{NS}.test.busy", options=RegisterOptions(concurrency=1))
    first = asyncio.ensure_future(caller.call(f"{NS}.test.busy"))
    await asyncio.sleep(0.1)
    await expect_error(caller.call(f"{NS}.test.busy"), "crossbar.error.max_concurrency_reached",
                       "a second call to a callee with concurrency 1")
    check(await first == "done" and await caller.call(f"{NS}.test.busy") == "done",
          "the callee takes calls again once its invocation ended")
    for s in (callee, other):
        await s.register(busy, f"{NS}.test.busyrr", options=RegisterOptions(concurrency=1, invoke="roundrobin"))
    two = [asyncio.ensure_future(caller.call(f"{NS}.test.busyrr")) for _ in range(2)]
    await asyncio.sleep(0.1)
    await expect_error(caller.call(f"{NS}.test.busyrr"), "crossbar.error.max_concurrency_reached",
                       "a third call to two round-robin callees with concurrency 1")
    check([await t for t in two] == ["done", "done"], "round-robin spreads calls over callees below their limit")
    # Shared registrations: first and last pick by registration order, random spreads.
    for policy in ("first", "last", "random"):
        for name, s in (("callee", callee), ("other", other)):
            await s.register(lambda name=name: name, f"{NS}.shared.{policy}", options=RegisterOptions(invoke=policy))
        got = [await caller.call(f"{NS}.shared.{policy}") for _ in range(40)]
        expected = {"first": {"callee"}, "last": {"other"}, "random": {"callee", "other"}}[policy]
        check(set(got) == expected, f"shared registration '{policy}' invokes {sorted(expected)} (got {sorted(set(got))})")
    await expect_error(caller.register(lambda: None, f"{NS}.shared.first", options=RegisterOptions(invoke="last")),
                       "wamp.error.procedure_exists_with_different_invocation_policy",
                       "a shared registration with another policy")
    # REGISTER with force_reregister, as Crossbar.io has it: the procedure moves to the new callee.
    await other.register(lambda a, b: "taken over", f"{NS}.test.add2", options=RegisterOptions(force_reregister=True))
    check(await caller.call(f"{NS}.test.add2", 2, 3) == "taken over", "force_reregister takes the procedure over")

    # Pattern-based registrations: exact beats prefix beats wildcard.
    await callee.register(lambda *a, **kw: "prefix", f"{NS}.pat.", options=RegisterOptions(match="prefix"))
    await other.register(lambda *a, **kw: "wildcard", f"{NS}..leaf", options=RegisterOptions(match="wildcard"))
    await other.register(lambda *a, **kw: "exact", f"{NS}.pat.leaf")
    check(await caller.call(f"{NS}.pat.leaf") == "exact", "exact registration wins")
    check(await caller.call(f"{NS}.pat.other") == "prefix", "prefix registration")
    check(await caller.call(f"{NS}.x.leaf") == "wildcard", "wildcard registration")

    # Registration revocation (wamp.registration.remove_callee), as Crossbar.io has it.
    reg = await callee.register(lambda: "still here", f"{NS}.test.revoked")
    check(await caller.call(f"{NS}.test.revoked") == "still here", "a registration to revoke")
    await other.call("wamp.registration.remove_callee", reg.id, callee._session_id, "com.example.revoked")
    await expect_error(caller.call(f"{NS}.test.revoked"), "wamp.error.no_such_procedure", "a revoked registration")
    await expect_error(other.call("wamp.registration.remove_callee", reg.id, callee._session_id),
                       "wamp.error.no_such_registration", "revoking it again")

    for s in (callee, caller, other):
        s.leave()


async def scenario_pubsub(url, ser):
    pub = await connect(url, ser)
    sub = await connect(url, ser)
    got = []
    mine = []

    def on_event(*args, **kwargs):
        got.append((args, kwargs, kwargs.pop("details", None)))

    await sub.subscribe(lambda *a, details=None, **kw: got.append(("exact", a, kw, details)), f"{NS}.ps.topic",
                        options=SubscribeOptions(details=True))
    await sub.subscribe(lambda *a, details=None, **kw: got.append(("prefix", a, kw, details)), f"{NS}.ps.",
                        options=SubscribeOptions(match="prefix", details=True))
    await sub.subscribe(lambda *a, details=None, **kw: got.append(("wildcard", a, kw, details)), f"{NS}..topic",
                        options=SubscribeOptions(match="wildcard", details=True))
    await pub.subscribe(lambda *a, **kw: mine.append(a), f"{NS}.ps.topic")

    p = await pub.publish(f"{NS}.ps.topic", 1, "a", k=2, options=PublishOptions(acknowledge=True))
    check(p is not None and isinstance(p.id, int), "acknowledged publish returns a publication id")
    await wait_for(lambda: len(got) == 3, "three events")
    kinds = sorted(g[0] for g in got)
    check(kinds == ["exact", "prefix", "wildcard"], "one event per matching subscription")
    check(all(g[1] == (1, "a") and g[2] == {"k": 2} for g in got), "event args and kwargs")
    topics = {g[0]: g[3].topic for g in got}
    check(topics["prefix"] == f"{NS}.ps.topic" and topics["wildcard"] == f"{NS}.ps.topic", "pattern events carry the topic")
    await asyncio.sleep(0.2)
    check(mine == [], "publisher does not receive its own event by default")
    await pub.publish(f"{NS}.ps.topic", 2, options=PublishOptions(acknowledge=True, exclude_me=False))
    await wait_for(lambda: mine == [(2,)], "own event with exclude_me=False")
    check(True, "publisher receives its own event with exclude_me=False")
    await wait_for(lambda: len(got) == 6, "the subscriber's events of the second publication")
    got.clear()
    await pub.publish(f"{NS}.other", options=PublishOptions(acknowledge=True))
    await asyncio.sleep(0.2)
    check(got == [], "no event for a non-matching topic")
    got.clear()
    await pub.publish(f"{NS}.ps.order", {"b": 1, "a": 2}, zulu=1, alpha=2, options=PublishOptions(acknowledge=True))
    await wait_for(lambda: any(g[0] == "prefix" for g in got), "event with dicts")
    ev = next(g for g in got if g[0] == "prefix")
    check((list(ev[2]), list(ev[1][0])) == (["zulu", "alpha"], ["b", "a"]),
          f"event kwargs and dict arguments keep their key order (got {list(ev[2])}, {list(ev[1][0])})")
    # Event retention: the last `retain: true` event is sent to a later subscriber that asks.
    await pub.publish(f"{NS}.ps.kept", "old", options=PublishOptions(acknowledge=True, retain=True))
    await pub.publish(f"{NS}.ps.kept", "latest", k=1, options=PublishOptions(acknowledge=True, retain=True))
    kept = []
    await sub.subscribe(lambda *a, details=None, **kw: kept.append((a, kw, details.retained)), f"{NS}.ps.kept",
                        options=SubscribeOptions(details=True, get_retained=True))
    await wait_for(lambda: kept, "the retained event")
    check(kept == [(("latest",), {"k": 1}, True)], f"a later subscriber with get_retained gets the retained event (got {kept})")
    blob = b"\x00\x01\xfe\xff"
    await pub.publish(f"{NS}.ps.bin", blob, options=PublishOptions(acknowledge=True))
    await wait_for(lambda: any(g[0] == "prefix" and g[1] == (blob,) for g in got), "binary event")
    check(True, "binary payload in an event")
    # Subscription revocation (wamp.subscription.remove_subscriber).
    revoked = []
    victim = await sub.subscribe(lambda *a: revoked.append(a), f"{NS}.ps.revoked")
    await pub.call("wamp.subscription.remove_subscriber", victim.id, sub._session_id, "com.example.revoked")
    await pub.publish(f"{NS}.ps.revoked", 1, options=PublishOptions(acknowledge=True))
    await asyncio.sleep(0.2)
    check(revoked == [], "a revoked subscription gets no more events")
    for s in (pub, sub):
        s.leave()


async def scenario_auth(url, ser, args):
    method = args.auth
    on_challenge = None
    authextra = None
    if method == "ticket":
        on_challenge = lambda ch: args.secret  # noqa: E731
    elif method == "wampcra":
        def on_challenge(ch):
            key = args.secret
            if "salt" in ch.extra:
                key = wamp_auth.derive_key(args.secret, ch.extra["salt"], ch.extra["iterations"], ch.extra["keylen"])
            return wamp_auth.compute_wcs(key, ch.extra["challenge"])
    elif method == "cryptosign":
        from autobahn.wamp.cryptosign import CryptosignKey

        key = CryptosignKey.from_bytes(binascii.unhexlify(args.secret))
        authextra = {"pubkey": key.public_key()}

        def on_challenge(ch):
            return key.sign_challenge(ch)
    try:
        s = await connect(url, ser, realm=args.realm, authmethods=[method], authid=args.authid,
                          authextra=authextra, on_challenge=on_challenge)
    except Aborted as e:
        check(args.expect == e.reason, f"{method} authid={args.authid}: refused with {e.reason} ({e.message})")
        return
    check(args.expect == "ok", f"{method} authid={args.authid}: joined as role {s._authrole}")
    if args.role:
        check(s._authrole == args.role, f"authrole is {args.role}")
    if args.denied_call:
        await expect_error(s.call(args.denied_call), "wamp.error.not_authorized", f"call {args.denied_call}")
    s.leave()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--serializer", default="json", choices=sorted(SERIALIZERS))
    ap.add_argument("--scenario", default="all", choices=["rpc", "pubsub", "all", "auth"])
    ap.add_argument("--realm", default="realm1")
    ap.add_argument("--auth")
    ap.add_argument("--authid")
    ap.add_argument("--secret")
    ap.add_argument("--role")
    ap.add_argument("--expect", default="ok")
    ap.add_argument("--denied-call")
    ap.add_argument("--ns", default="com", help="URI namespace of the rpc/pubsub scenarios")
    args = ap.parse_args()
    global NS
    NS = args.ns
    print(f"# {args.scenario} over {args.url} with {args.serializer}", flush=True)
    if args.scenario in ("rpc", "all"):
        await scenario_rpc(args.url, args.serializer)
    if args.scenario in ("pubsub", "all"):
        await scenario_pubsub(args.url, args.serializer)
    if args.scenario == "auth":
        await scenario_auth(args.url, args.serializer, args)


def run_main(main, timeout=60, also=()):
    """Runs a script's `main()` within `timeout` seconds; a failed check, an ABORT, a timeout, a
    WAMP error or a connection error (and the exception types in `also`) prints one FAIL line
    and exits 1."""
    try:
        asyncio.run(asyncio.wait_for(main(), timeout))
    except (Failure, Aborted, asyncio.TimeoutError, ApplicationError, OSError, *also) as e:
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    run_main(main)
