#!/usr/bin/env python3
"""The security matrix (issue 18) with unmodified autobahn-python: `tests/tests/security.rs`.

- `security.py matrix --anon-ws URL --anon-rs URL --auth-ws URL --auth-rs URL --tls URL
  --dyn URL --dir CERTDIR [--reference]`: application sessions of every auth method and
  transport against the `wamp.*` and `crossbar.*` URIs (register, publish, subscribe, call;
  HELLO for realm `crossbar`), then every failure path of authentication, whose ABORT messages
  must not leak internals or secrets. `--reference`: Crossbar.io's answers where they differ
  (printed as `DIFF` lines).
- `security.py ratelimit --auth-ws URL --threshold N [--reference]`: many wrong passwords from
  one address while other addresses log in (the router's policy: `docs/auth.md`).
- `security.py mgmt --anon-ws URL --node-sock PATH`: management events of the node never reach
  an application realm, and the management realm is not an application realm.
- `security.py nodesock-probe --path PATH`: opens node.sock and sends a RawSocket handshake;
  prints `refused: <error>`, `closed` or `answered` (run as another user by the test).
- `security.py cdc-pins --url URL --outbox DIR --max-per-id N --max-per-token M`: wrong PINs
  sent concurrently to `cdc.manage.verify@1` from several sessions.
- `security.py scram-principal AUTHID PASSWORD ROLE`, `security.py fingerprint CERT`,
  `security.py pubkey SEED`: config values for the router.

Prints one line per check and exits 1 on the first failure.
"""
import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import socket
import ssl
import struct
import sys
import time
from urllib.parse import urlparse

# Secrets of the router's config (tests/tests/security.rs): no ABORT message may carry one.
TICKETS = {"joe": "secret!!!", "opsy": "ops-secret", "lim": "lim-secret"}
CRA = {"peter": "secret1", "salty": "secret2"}
SCRAM = {"sam": "scram-pass"}
ALICE_SEED = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510"
WRONG_SEED = "1d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510"
# The wrong credentials the clients send are not to be echoed either.
WRONG = "wr0ng-guess-7f3a"
SECRETS = [*TICKETS.values(), *CRA.values(), *SCRAM.values(), ALICE_SEED, WRONG_SEED, WRONG]

# What an ABORT message must not contain: Rust Debug text (Some(..), Err(..), `Name { field:`,
# `Kind("..")`, escaped bytes), source locations, panics and backtraces, Python tracebacks,
# absolute file paths.
LEAK = re.compile(
    r"""\b(?:Some|None|Ok|Err)\(
      | \b[A-Z][A-Za-z]+\s\{\s*[a-z_]+:
      | \b[A-Z][A-Za-z]+\(\s*"
      | \\x[0-9a-f]{2} | \\u\{
      | \.rs:\d+ | \bsrc/[a-z_]+
      | panicked | [Bb]acktrace | RUST_
      | Traceback | File\s"[^"]+",\sline | INTERNAL\sERROR
      | (?<![\w.:/])/(?:home|root|tmp|work|usr|etc|var|proc|opt|srv|run|lib)/""",
    re.X,
)

SEEN_ABORTS = []
# Against Crossbar.io (`--reference`): what it does differently is printed, not failed.
REFERENCE = False


def leak_in(text):
    """What in `text` looks like a leak (or None)."""
    if text is None:
        return None
    m = LEAK.search(text)
    if m:
        return f"internal text {m.group(0)!r}"
    for s in SECRETS:
        if s in text:
            return f"a secret ({s[:4]}…)"
    return None


def scram_credential(authid, password, iterations=8, memory=64):
    """A static principal's credential, as autobahn's `derive_scram_credential` makes one
    (cheap argon2 parameters: a login takes milliseconds)."""
    from autobahn.wamp import auth as wamp_auth

    salt = hashlib.sha256(authid.encode("utf8")).digest()[:16]
    salted = wamp_auth._hash_argon2id13_secret(
        password.encode("utf8"), base64.b64encode(salt).decode("ascii"), iterations, memory)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return {
        "kdf": "argon2id-13", "iterations": iterations, "memory": memory,
        "salt": binascii.b2a_hex(salt).decode("ascii"),
        "stored-key": hashlib.sha256(client_key).hexdigest(),
        "server-key": hmac.new(salted, b"Server Key", hashlib.sha256).hexdigest(),
    }


def fingerprint(path):
    """A certificate's SHA-1 fingerprint as autobahn writes it (`AB:CD:…`)."""
    with open(path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    h = hashlib.sha1(der).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, len(h), 2))


def cryptosign_key(seed):
    from autobahn.wamp.cryptosign import CryptosignKey

    return CryptosignKey.from_bytes(binascii.unhexlify(seed))


# ---------------------------------------------------------------------------------------------
# Clients


async def join(url, realm="realm1", method=None, authid=None, secret=None, ser="json", local=None,
               ssl_ctx=None, authextra=None, on_challenge=None):
    """Joins with autobahn (`method`: anonymous, ticket, wampcra, cryptosign, scram, tls) from
    the local address `local`; returns the session or raises Aborted."""
    from autobahn.asyncio.rawsocket import WampRawSocketClientFactory
    from autobahn.asyncio.wamp import ApplicationSession
    from autobahn.asyncio.websocket import WampWebSocketClientFactory
    from autobahn.wamp import auth as wamp_auth
    from autobahn.wamp.types import ComponentConfig
    from interop import SERIALIZERS, TIMEOUT, Aborted

    if method == "ticket" and on_challenge is None:
        on_challenge = lambda ch: secret  # noqa: E731
    elif method == "wampcra" and on_challenge is None:
        def on_challenge(ch):
            key = secret
            if "salt" in ch.extra:
                key = wamp_auth.derive_key(secret, ch.extra["salt"], ch.extra["iterations"], ch.extra["keylen"])
            return wamp_auth.compute_wcs(key, ch.extra["challenge"])
    elif method == "cryptosign":
        key = cryptosign_key(secret)
        if authextra is None:
            authextra = {"pubkey": key.public_key()}
        on_challenge = on_challenge or key.sign_challenge
    elif method == "scram" and on_challenge is None:
        a = wamp_auth.AuthScram(authid=authid, password=secret)
        if authextra is None:
            authextra = a.authextra
        on_challenge = lambda ch: a.on_challenge(None, ch)  # noqa: E731
    authmethods = [method] if method else None

    loop = asyncio.get_running_loop()
    joined = loop.create_future()

    class Client(ApplicationSession):
        def onConnect(self):
            self.join(realm, authmethods=authmethods, authid=authid, authextra=authextra)

        def onChallenge(self, challenge):
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

    u = urlparse(url)
    serializer = SERIALIZERS[ser]()
    make = lambda: Client(ComponentConfig(realm))  # noqa: E731
    if u.scheme in ("ws", "wss"):
        factory = WampWebSocketClientFactory(make, url=url, serializers=[serializer])
    else:
        factory = WampRawSocketClientFactory(make, serializer=serializer)
    kw = {}
    if ssl_ctx is not None:
        kw.update(ssl=ssl_ctx, server_hostname="localhost")
    if local:
        kw["local_addr"] = (local, 0)
    await asyncio.wait_for(loop.create_connection(factory, u.hostname, u.port, **kw), TIMEOUT)
    return await asyncio.wait_for(joined, TIMEOUT)


async def refused(what, reason, coro, message=None):
    """`coro` (a join) must be refused with `reason` (and `message` in its text); the ABORT's
    message must not leak. Returns the ABORT."""
    from interop import Aborted, Failure, check

    try:
        s = await coro
    except Aborted as e:
        SEEN_ABORTS.append((what, e.reason, e.message))
        check(e.reason == reason and (message is None or message in (e.message or "")),
              f"{what}: ABORT {reason} (got {e.reason}: {e.message})")
        problem = leak_in(e.message)
        if problem and REFERENCE:
            print(f"DIFF {what}: Crossbar.io's ABORT message leaks {problem}: {e.message}", flush=True)
        else:
            check(problem is None, f"{what}: the message leaks nothing ({problem or 'clean'})")
        return e
    s.leave()
    raise Failure(f"{what}: joined, expected ABORT {reason}")


DIFFS = set()


def differs(reference, what, edge, crossbar_io):
    """Prints the Crossbar.io difference once (reference mode) and returns what to expect."""
    if reference and edge != crossbar_io and what not in DIFFS:
        DIFFS.add(what)
        print(f"DIFF {what}: crossbar-edge {edge}, Crossbar.io {crossbar_io}", flush=True)
    return crossbar_io if reference else edge


# ---------------------------------------------------------------------------------------------
# 1. The management URIs from application sessions


MGMT_PROCEDURES = [
    "crossbar.get_status", "crossbar.get_workers", "crossbar.get_worker_log",
    "crossbar.worker.router1.get_router_realms", "crossbar.worker.router1.get_router_transports",
    "crossbar.worker.router1.get_process_info", "crossbar.worker.router1.stop_router_realm",
]


async def app_checks(s, what, reference):
    """What a session of the catch-all role `user` may do with `wamp.*` and `crossbar.*`."""
    from autobahn.wamp.exception import ApplicationError
    from autobahn.wamp.types import PublishOptions, SubscribeOptions
    from interop import Failure, check, expect_error

    ack = PublishOptions(acknowledge=True)
    for uri in ("wamp.sec.mine", "wamp.session.get"):
        await expect_error(s.register(lambda: None, uri), "wamp.error.invalid_uri", f"{what}: register {uri}")
    await expect_error(s.publish("wamp.session.on_join", 1, options=ack), "wamp.error.invalid_uri",
                       f"{what}: publish wamp.session.on_join")
    # crossbar.*: refused unless the role names it (crossbar-edge); Crossbar.io lets a
    # catch-all grant ("" prefix) have it.
    want = differs(reference, "register/publish crossbar.* under a catch-all grant",
                   "wamp.error.not_authorized", "allowed")
    for action, coro in (("register", lambda: s.register(lambda: None, "crossbar.sec.mine")),
                         ("publish", lambda: s.publish("crossbar.on_node_status", 1, options=ack))):
        if want == "allowed":
            r = await coro()
            check(r is not None, f"{what}: {action} crossbar.* allowed (Crossbar.io)")
            if action == "register":
                await r.unregister()
        else:
            await expect_error(coro(), want, f"{what}: {action} crossbar.*")
    # Meta events and procedures: as Crossbar.io, by the role's grants.
    sub = await s.subscribe(lambda *a, **kw: None, "wamp.session.on_join")
    check(sub is not None, f"{what}: subscribe wamp.session.on_join")
    await sub.unsubscribe()
    sub = await s.subscribe(lambda *a, **kw: None, "crossbar.", options=SubscribeOptions(match="prefix"))
    check(sub is not None, f"{what}: subscribe crossbar.* (nothing of the node's is published here)")
    await sub.unsubscribe()
    n = await s.call("wamp.session.count")
    check(isinstance(n, int) and n >= 1, f"{what}: call wamp.session.count -> {n}")
    ids = await s.call("wamp.session.list")
    check(s._session_id in ids, f"{what}: call wamp.session.list lists itself")
    # The node's management procedures do not exist on an application realm.
    for proc in MGMT_PROCEDURES:
        try:
            await asyncio.wait_for(s.call(proc, "router1"), 10)
        except ApplicationError as e:
            check(e.error == "wamp.error.no_such_procedure", f"{what}: call {proc} -> {e.error}")
            continue
        raise Failure(f"{what}: {proc} answered on an application realm")


async def run_matrix(a):
    from interop import check, expect_error

    ref = a.reference
    d = a.dir

    def tls_ctx(client):
        ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
        if client:
            ctx.load_cert_chain(os.path.join(d, f"{client}.pem"), os.path.join(d, f"{client}.key"))
        return ctx

    logins = [
        ("anonymous over WebSocket", a.anon_ws, dict(method="anonymous")),
        ("anonymous over RawSocket", a.anon_rs, dict(method="anonymous", ser="msgpack")),
        ("ticket over WebSocket", a.auth_ws, dict(method="ticket", authid="joe", secret=TICKETS["joe"])),
        ("ticket over RawSocket", a.auth_rs, dict(method="ticket", authid="joe", secret=TICKETS["joe"],
                                                  ser="cbor")),
        ("wampcra", a.auth_ws, dict(method="wampcra", authid="peter", secret=CRA["peter"], ser="msgpack")),
        ("wampcra, salted", a.auth_ws, dict(method="wampcra", authid="salty", secret=CRA["salty"])),
        ("cryptosign over WebSocket", a.auth_ws, dict(method="cryptosign", authid="alice", secret=ALICE_SEED)),
        ("cryptosign over RawSocket", a.auth_rs, dict(method="cryptosign", authid="alice", secret=ALICE_SEED,
                                                      ser="msgpack")),
        ("scram", a.auth_ws, dict(method="scram", authid="sam", secret=SCRAM["sam"])),
        ("tls", a.tls, dict(method="tls", ssl_ctx=tls_ctx("client-a"))),
    ]
    for what, url, kw in logins:
        s = await join(url, **kw)
        check(s._authrole in ("user", "anonymous"), f"{what}: joined realm1 as {s._authrole}")
        await app_checks(s, what, ref)
        s.leave()
        # The management realm is no application realm: HELLO for it is refused on every
        # application transport, with the credentials that work for realm1.
        kw = dict(kw)
        if kw.get("method") == "tls":
            kw["ssl_ctx"] = tls_ctx("client-a")
        await refused(f"{what}: HELLO for realm crossbar", "wamp.error.no_such_realm",
                      join(url, realm="crossbar", **kw))

    # A role that names crossbar.app. explicitly may use it, and only it.
    from autobahn.wamp.types import PublishOptions

    ops = await join(a.auth_ws, method="ticket", authid="opsy", secret=TICKETS["opsy"])
    reg = await ops.register(lambda: "ops", "crossbar.app.status")
    check(await ops.call("crossbar.app.status") == "ops", "role ops: register and call crossbar.app.status")
    await reg.unregister()
    check(await ops.publish("crossbar.app.event", options=PublishOptions(acknowledge=True)) is not None,
          "role ops: publish crossbar.app.event")
    await expect_error(ops.register(lambda: None, "crossbar.other"), "wamp.error.not_authorized",
                       "role ops: register crossbar.other (not granted)")
    await expect_error(ops.register(lambda: None, "wamp.app.x"), "wamp.error.invalid_uri",
                       "role ops: register wamp.app.x")
    ops.leave()
    lim = await join(a.auth_ws, method="ticket", authid="lim", secret=TICKETS["lim"])
    await expect_error(lim.call("wamp.session.list"), "wamp.error.not_authorized",
                       "role restricted (com.allowed. only): call wamp.session.list")
    lim.leave()

    await failure_paths(a, tls_ctx)
    check(bool(SEEN_ABORTS), f"{len(SEEN_ABORTS)} ABORT messages checked for leaks")


async def failure_paths(a, tls_ctx):
    """Every way a login fails; each ABORT must say why without leaking anything."""
    ref = a.reference
    ws, rs = a.auth_ws, a.auth_rs
    na = "wamp.error.not_authorized"
    await refused("ticket: wrong ticket", na, join(ws, method="ticket", authid="joe", secret=WRONG))
    await refused("ticket over RawSocket: wrong ticket", na,
                  join(rs, method="ticket", authid="joe", secret=WRONG, ser="msgpack"))
    await refused("ticket: unknown authid", na, join(ws, method="ticket", authid="mallory", secret=WRONG))
    await refused("ticket: no authid", na, join(ws, method="ticket", secret=WRONG))
    await refused("wampcra: wrong secret", na, join(ws, method="wampcra", authid="peter", secret=WRONG))
    await refused("wampcra, salted: wrong secret", na, join(ws, method="wampcra", authid="salty", secret=WRONG))
    await refused("wampcra: unknown authid", na, join(ws, method="wampcra", authid="mallory", secret=WRONG))
    await refused("wampcra: a signature that is no base64", na,
                  join(ws, method="wampcra", authid="peter", on_challenge=lambda ch: "%%% not base64 %%%"))
    await refused("cryptosign: unknown key", na, join(ws, method="cryptosign", authid="alice", secret=WRONG_SEED))
    await refused("cryptosign: unknown key, no authid", na, join(ws, method="cryptosign", secret=WRONG_SEED))
    other = cryptosign_key(WRONG_SEED)
    await refused("cryptosign: signed with another key", na,
                  join(ws, method="cryptosign", authid="alice", secret=ALICE_SEED, on_challenge=other.sign_challenge))
    await refused("cryptosign: a signature that is no hex", na,
                  join(ws, method="cryptosign", authid="alice", secret=ALICE_SEED, on_challenge=lambda ch: "zz" * 96))
    await refused("cryptosign: a malformed public key", na,
                  join(ws, method="cryptosign", authid="alice", secret=ALICE_SEED, authextra={"pubkey": "abc"}))
    await refused("scram: wrong password", na, join(ws, method="scram", authid="sam", secret=WRONG))
    await refused("scram: unknown authid", na, join(ws, method="scram", authid="mallory", secret=WRONG))
    await refused("scram: no nonce", na, join(ws, method="scram", authid="sam", secret=WRONG, authextra={}))
    await refused("tls: a certificate of the CA that is no principal", na,
                  join(a.tls, method="tls", ssl_ctx=tls_ctx("client-b")))
    await refused("anonymous on a transport without it", "wamp.error.no_auth_method", join(ws, method="anonymous"))
    await refused("ticket on a transport without it", "wamp.error.no_auth_method",
                  join(a.anon_ws, method="ticket", authid="joe", secret=TICKETS["joe"]))
    await refused("an unknown realm", "wamp.error.no_such_realm", join(a.anon_ws, realm="nope"))

    # A dynamic authenticator (registered below on realm `auth`) and its failures.
    from autobahn.wamp.exception import ApplicationError

    async def authenticate(realm, authid, details):
        if authid == "app-error":
            raise ApplicationError("com.sec.denied", "denied by the authenticator")
        if authid == "crash":
            raise RuntimeError("authenticator crashed")
        if authid == "bad-answer":
            return 42
        if authid == "slow":
            await asyncio.sleep(5)
        return {"role": "user", "secret": "dyn-secret"}

    svc = await join(a.anon_ws, realm="auth")
    await svc.register(authenticate, "com.sec.authenticate")
    dyn = a.dyn
    await refused("dynamic ticket: the authenticator raises an ApplicationError", "com.sec.denied",
                  join(dyn, method="ticket", authid="app-error", secret=WRONG), "denied by the authenticator")
    await refused("dynamic ticket: the authenticator raises RuntimeError", "wamp.error.runtime_error",
                  join(dyn, method="ticket", authid="crash", secret=WRONG))
    await refused("dynamic ticket: the authenticator answers 42", "wamp.error.authentication_failed",
                  join(dyn, method="ticket", authid="bad-answer", secret=WRONG))
    if not ref:
        # Crossbar.io waits for ever for an authenticator (no authenticator-timeout).
        await refused("dynamic ticket: the authenticator does not answer in time", "wamp.error.authentication_failed",
                      join(dyn, method="ticket", authid="slow", secret=WRONG))
    await refused("dynamic wampcra: the authenticator is not registered", "wamp.error.no_such_procedure",
                  join(dyn, method="wampcra", authid="peter", secret=WRONG))
    svc.leave()
    await protocol_violations(a.anon_rs)


def rawsocket_exchange(url, frames):
    """Sends JSON RawSocket frames (bytes, already encoded) and returns the router's first
    message (decoded), or None if it closed the connection."""
    try:
        return _rawsocket_exchange(url, frames)
    except ConnectionResetError:
        return None
    except socket.timeout:
        return "no answer"


def _rawsocket_exchange(url, frames):
    u = urlparse(url)
    with socket.create_connection((u.hostname, u.port), timeout=5) as sock:
        sock.sendall(bytes([0x7F, 0xF1, 0, 0]))  # 16 MiB, JSON
        answer = sock.recv(4)
        if len(answer) != 4 or answer[0] != 0x7F:
            return None
        for f in frames:
            sock.sendall(struct.pack(">I", len(f)) + f)
        head = b""
        while len(head) < 4:
            chunk = sock.recv(4 - len(head))
            if not chunk:
                return None
            head += chunk
        (n,) = struct.unpack(">I", head)
        n &= 0xFFFFFF
        body = b""
        while len(body) < n:
            chunk = sock.recv(n - len(body))
            if not chunk:
                return None
            body += chunk
        return json.loads(body)


async def protocol_violations(anon_rs):
    """Malformed HELLOs over RawSocket: the ABORT says what is wrong and nothing more."""
    from interop import check

    cases = [
        ("HELLO without roles", b'[1, "realm1", {}]'),
        ("HELLO with authmethods not a list", b'[1, "realm1", {"roles": {"caller": {}}, "authmethods": "ticket"}]'),
        ("HELLO with an authid that is a number", b'[1, "realm1", {"roles": {"caller": {}}, "authid": 5}]'),
        ("truncated JSON", b'[1, "realm1", {"roles": '),
        ("not a list", b'{"hello": 1}'),
        ("a CALL before HELLO", b'[48, 1, {}, "com.x"]'),
    ]
    for what, frame in cases:
        msg = await asyncio.get_running_loop().run_in_executor(None, rawsocket_exchange, anon_rs, [frame])
        if not isinstance(msg, list) and REFERENCE:
            print(f"DIFF {what}: Crossbar.io sends no ABORT ({msg or 'connection closed'})", flush=True)
            continue
        check(isinstance(msg, list) and msg[0] == 3, f"{what}: ABORT {msg[2] if isinstance(msg, list) else msg}")
        text = (msg[1] or {}).get("message") if isinstance(msg[1], dict) else None
        SEEN_ABORTS.append((what, msg[2], text))
        problem = leak_in(text)
        check(problem is None, f"{what}: the message leaks nothing ({problem or 'clean'}: {text})")


# ---------------------------------------------------------------------------------------------
# 3. Rate limit


async def run_ratelimit(a):
    from interop import Aborted, Failure, check

    ref = a.reference
    threshold = a.threshold
    ws = a.auth_ws
    rl = "wamp.error.authentication_failed"
    na = "wamp.error.not_authorized"

    async def outcome(coro):
        try:
            s = await coro
        except Aborted as e:
            SEEN_ABORTS.append(("ratelimit", e.reason, e.message))
            problem = leak_in(e.message)
            if problem:
                raise Failure(f"ABORT {e.reason} leaks {problem}: {e.message}")
            if e.reason == rl and "rate-limited" in (e.message or ""):
                return "limited"
            if e.reason == na:
                return "wrong"
            return f"{e.reason}: {e.message}"
        s.leave()
        return "joined"

    def tally(results):
        return {k: results.count(k) for k in sorted(set(results))}

    # Many wrong tickets at once from 127.0.0.2.
    n = threshold + 30
    results = await asyncio.gather(*[
        outcome(join(ws, method="ticket", authid="joe", secret=f"{WRONG}-{i}", local="127.0.0.2")) for i in range(n)])
    if ref:
        check(results.count("wrong") == n, f"{n} wrong tickets at once: every one checked, none limited "
                                           f"(Crossbar.io has no limit): {tally(results)}")
        print("DIFF failed logins are not rate-limited by Crossbar.io", flush=True)
    else:
        check(results.count("wrong") == threshold and results.count("limited") == n - threshold,
              f"{n} wrong tickets at once from 127.0.0.2: exactly {threshold} checked, the rest refused as "
              f"rate-limited: {tally(results)}")

    # Meanwhile (an attack goes on from 127.0.0.2), other addresses log in, quickly.
    stop = asyncio.Event()

    async def flood():
        tried = 0
        while not stop.is_set():
            r = await outcome(join(ws, method="ticket", authid="joe", secret=WRONG, local="127.0.0.2"))
            if r not in ("limited", "wrong"):
                raise Failure(f"flood: {r}")
            tried += 1
        return tried

    flooding = asyncio.gather(*[flood() for _ in range(8)])
    slowest = 0.0
    for i, (method, authid, secret) in enumerate([("ticket", "joe", TICKETS["joe"]), ("wampcra", "peter", CRA["peter"]),
                                                  ("scram", "sam", SCRAM["sam"]), ("ticket", "joe", TICKETS["joe"])]):
        t0 = time.monotonic()
        s = await join(ws, method=method, authid=authid, secret=secret, local="127.0.0.1")
        took = time.monotonic() - t0
        slowest = max(slowest, took)
        s.leave()
        check(took < 3.0, f"{method} login from 127.0.0.1 during the flood: joined in {took * 1000:.0f} ms")
    stop.set()
    flooded = sum(await flooding)
    check(flooded > 0, f"the flood from 127.0.0.2 (8 connections at a time) made {flooded} more attempts "
                       f"meanwhile")

    # The limited address: even the right ticket is refused for the cooldown; logins by key
    # and anonymous ones are not limited (nothing to guess).
    r = await outcome(join(ws, method="ticket", authid="joe", secret=TICKETS["joe"], local="127.0.0.2"))
    check(r == ("joined" if ref else "limited"), f"the right ticket from 127.0.0.2: {r}")
    r = await outcome(join(ws, method="cryptosign", authid="alice", secret=ALICE_SEED, local="127.0.0.2"))
    check(r == "joined", f"cryptosign from 127.0.0.2: {r}")
    r = await outcome(join(a.anon_ws, method="anonymous", local="127.0.0.2"))
    check(r == "joined", f"anonymous from 127.0.0.2: {r}")

    # One at a time from 127.0.0.3 (wampcra) and 127.0.0.4 (scram): the threshold's worth of
    # wrong ones is checked, the next is refused, the right one too.
    for local, method, authid, right in (("127.0.0.3", "wampcra", "peter", CRA["peter"]),
                                         ("127.0.0.4", "scram", "sam", SCRAM["sam"])):
        results = [await outcome(join(ws, method=method, authid=authid, secret=WRONG, local=local))
                   for _ in range(threshold + 2)]
        want = ["wrong"] * (threshold + 2) if ref else ["wrong"] * threshold + ["limited"] * 2
        check(results == want, f"{threshold + 2} wrong {method} logins in a row from {local}: {tally(results)}")
        r = await outcome(join(ws, method=method, authid=authid, secret=right, local=local))
        check(r == ("joined" if ref else "limited"), f"the right {method} secret from {local}: {r}")

    # Wrong keys are not limited: a key cannot be guessed (docs/auth.md).
    results = await asyncio.gather(*[
        outcome(join(ws, method="cryptosign", authid="alice", secret=f"{i:064x}", local="127.0.0.5"))
        for i in range(1, 2 * threshold + 1)])
    check(results.count("wrong") == 2 * threshold, f"{2 * threshold} unknown cryptosign keys from 127.0.0.5: "
                                                   f"each refused as not_authorized, none limited: {tally(results)}")
    r = await outcome(join(ws, method="cryptosign", authid="alice", secret=ALICE_SEED, local="127.0.0.5"))
    check(r == "joined", f"the right key from 127.0.0.5 afterwards: {r}")
    check(len(SEEN_ABORTS) > threshold, f"{len(SEEN_ABORTS)} ABORT messages checked for leaks")


# ---------------------------------------------------------------------------------------------
# 1b. Management events stay on the management realm


async def join_unix(path, realm):
    from autobahn.asyncio.rawsocket import WampRawSocketClientFactory
    from autobahn.asyncio.wamp import ApplicationSession
    from autobahn.wamp.serializer import MsgPackSerializer
    from autobahn.wamp.types import ComponentConfig
    from interop import TIMEOUT, Aborted

    loop = asyncio.get_running_loop()
    joined = loop.create_future()

    class Client(ApplicationSession):
        def onConnect(self):
            self.join(realm)

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

    factory = WampRawSocketClientFactory(lambda: Client(ComponentConfig(realm)), serializer=MsgPackSerializer())
    await asyncio.wait_for(loop.create_unix_connection(factory, path), TIMEOUT)
    return await asyncio.wait_for(joined, TIMEOUT)


async def run_mgmt(a):
    from autobahn.wamp.types import PublishOptions, SubscribeOptions
    from interop import check, wait_for

    app = await join(a.anon_ws)
    leaked, sentinel = [], []
    prefix = SubscribeOptions(match="prefix", details=True)
    await app.subscribe(lambda *args, details=None, **kw: leaked.append(details.topic), "crossbar.", options=prefix)
    await app.subscribe(lambda *args, **kw: sentinel.append(args), "com.sec.sentinel")

    m = await join_unix(a.node_sock, "crossbar")
    check(m._authrole is not None, f"node.sock: joined the management realm as {m._authrole}")
    # The caller of a management procedure does not get its own events: another session watches.
    watch = await join_unix(a.node_sock, "crossbar")
    seen = []
    await watch.subscribe(lambda *args, details=None, **kw: seen.append(details.topic), "crossbar.", options=prefix)
    realms = await m.call("crossbar.worker.router1.get_router_realms")
    realm_id = None
    for rid in realms:
        r = await m.call("crossbar.worker.router1.get_router_realm", rid)
        if (r.get("config") or {}).get("name") == "realm1" or r.get("name") == "realm1":
            realm_id = rid
    check(realm_id is not None, f"realm1 is the worker's realm {realm_id!r}")
    await m.call("crossbar.worker.router1.start_router_realm_role", realm_id, "probe",
                 {"name": "probe", "permissions": []})
    await m.call("crossbar.worker.router1.stop_router_realm_role", realm_id, "probe")
    await wait_for(lambda: any(t.endswith("on_router_realm_role_stopped") for t in seen),
                   "the management event of the stopped role")
    check(True, f"node.sock: {len(seen)} management events ({', '.join(sorted(set(seen)))})")
    # Once the application session has its own event back, anything of the node's would be
    # there before it.
    await app.publish("com.sec.sentinel", 1, options=PublishOptions(acknowledge=True, exclude_me=False))
    await wait_for(lambda: sentinel, "the sentinel event")
    check(leaked == [], f"realm1 saw no management event on crossbar.* (got {leaked})")
    # Application realms are not reachable through node.sock either.
    await refused("node.sock: HELLO for realm1", "wamp.error.no_such_realm", join_unix(a.node_sock, "realm1"))
    watch.leave()
    m.leave()
    app.leave()


# ---------------------------------------------------------------------------------------------
# 2. node.sock from another user


def nodesock_probe(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(path)
    except OSError as e:
        return f"refused: {type(e).__name__}"
    try:
        s.sendall(bytes([0x7F, 0xF2, 0, 0]))  # 16 MiB, MessagePack
        answer = s.recv(4)
    except OSError:
        answer = b""
    finally:
        s.close()
    return "answered" if len(answer) == 4 and answer[0] == 0x7F else "closed"


# ---------------------------------------------------------------------------------------------
# 4. Wrong PINs in parallel


async def run_cdc_pins(a):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../cdc/tests/py"))
    import cdc_scenarios as sc
    from autobahn.wamp.exception import ApplicationError
    from interop import Failure, check

    limit, per_token = a.max_per_id, a.max_per_token
    sessions = [await sc.connect(a.url, sc.GLOBAL) for _ in range(5)]
    serial = iter(range(10_000))

    async def new_verification():
        i = next(serial)
        k = sc.key_of(hashlib.sha256(f"pins-{i}".encode()).hexdigest())
        return await sc.request(sessions[i % len(sessions)], a.outbox, "cdc.manage.create_user@1",
                                f"pins{i}", f"pins{i}@example.com", k.public_key())

    async def verify(i, vid, pin):
        try:
            r = await asyncio.wait_for(sessions[i % len(sessions)].call("cdc.manage.verify@1", vid, pin), sc.TIMEOUT)
            return ("ok", r)
        except ApplicationError as e:
            text = e.args[0] if e.args else ""
            problem = leak_in(text)
            if problem:
                raise Failure(f"verify answered {e.error} leaking {problem}: {text}")
            return (e.error, text)

    def tally(results):
        kinds = [r[0] for r in results]
        return {k: kinds.count(k) for k in sorted(set(kinds))}

    for round_ in range(3):
        # Per verification: 50 distinct wrong PINs at once from 5 sessions.
        vid, pin = await new_verification()
        wrong = [f"WXYA-{i:04d}-{round_}CDE" for i in range(50)]
        results = await asyncio.gather(*[verify(i, vid, p) for i, p in enumerate(wrong)])
        t = tally(results)
        check(t.get("cdc.error.verification_failed", 0) == limit
              and t.get("cdc.error.too_many_tries", 0) == 50 - limit,
              f"round {round_ + 1}: 50 wrong PINs at once: {limit} checked, the rest too_many_tries ({t})")
        r = await verify(0, vid, pin)
        check(r[0] == "cdc.error.too_many_tries", f"round {round_ + 1}: the right PIN afterwards: {r[0]}")

        # Per PIN value: one wrong PIN sprayed at once over 12 pending verifications.
        pending = [await new_verification() for _ in range(12)]
        guess = f"KMNP-QRTU-{round_}7{round_}9"
        results = await asyncio.gather(*[verify(i, v, guess) for i, (v, _) in enumerate(pending)])
        t = tally(results)
        check(t.get("cdc.error.verification_failed", 0) == per_token
              and t.get("cdc.error.too_many_tries", 0) == 12 - per_token,
              f"round {round_ + 1}: one wrong PIN on 12 verifications at once: {per_token} checked ({t})")
        # The verifications themselves are not locked by it: their own PINs work.
        oks = await asyncio.gather(*[verify(i, v, p) for i, (v, p) in enumerate(pending)])
        check(all(r[0] == "ok" for r in oks), f"round {round_ + 1}: each of the 12 verifies with its own PIN "
                                              f"({tally(oks)})")
    for s in sessions:
        s.leave()


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("matrix")
    for k in ("--anon-ws", "--anon-rs", "--auth-ws", "--auth-rs", "--tls", "--dyn", "--dir"):
        m.add_argument(k, required=True)
    m.add_argument("--reference", action="store_true")
    r = sub.add_parser("ratelimit")
    r.add_argument("--auth-ws", required=True)
    r.add_argument("--anon-ws", required=True)
    r.add_argument("--threshold", type=int, required=True)
    r.add_argument("--reference", action="store_true")
    g = sub.add_parser("mgmt")
    g.add_argument("--anon-ws", required=True)
    g.add_argument("--node-sock", required=True)
    p = sub.add_parser("nodesock-probe")
    p.add_argument("--path", required=True)
    c = sub.add_parser("cdc-pins")
    c.add_argument("--url", required=True)
    c.add_argument("--outbox", required=True)
    c.add_argument("--max-per-id", type=int, required=True)
    c.add_argument("--max-per-token", type=int, required=True)
    s = sub.add_parser("scram-principal")
    s.add_argument("authid")
    s.add_argument("password")
    s.add_argument("role")
    f = sub.add_parser("fingerprint")
    f.add_argument("cert")
    k = sub.add_parser("pubkey")
    k.add_argument("seed")
    a = ap.parse_args()
    if a.cmd == "nodesock-probe":
        print(nodesock_probe(a.path), flush=True)
        return
    if a.cmd == "scram-principal":
        print(json.dumps(dict(scram_credential(a.authid, a.password), role=a.role)))
        return
    if a.cmd == "fingerprint":
        print(fingerprint(a.cert))
        return
    if a.cmd == "pubkey":
        print(cryptosign_key(a.seed).public_key())
        return
    from interop import run_main

    global REFERENCE
    REFERENCE = getattr(a, "reference", False)
    body = {"matrix": run_matrix, "ratelimit": run_ratelimit, "mgmt": run_mgmt, "cdc-pins": run_cdc_pins}[a.cmd]
    print(f"# {a.cmd}", flush=True)
    run_main(lambda: body(a), timeout=240)
    print("all ok", flush=True)


if __name__ == "__main__":
    main()
