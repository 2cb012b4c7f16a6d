#!/usr/bin/env python3
"""Dynamic authenticators and authorizers, with unmodified autobahn-python (asyncio).

Three parts, in the roles a Crossbar.io deployment gives them:

- `RealmServices`: a `class` component in the router worker, on realm1: the anonymous
  authenticator (called on the realm the client joins) and the dynamic authorizer of role
  `limited`, plus `com.example.authorizer_calls` to count what the authorizer was asked.
- `dyn_auth.py authenticator --url URL`: an outside client on realm `auth` (the transports'
  `authenticator-realm`) with the ticket, wampcra and cryptosign authenticators. It prints
  `ready` once they are registered and runs until it is killed.
- `dyn_auth.py clients --ws URL --rs URL`: the client checks; one line per check, exit 1 on
  the first failure.
"""
import argparse
import asyncio
import binascii
import sys
import time

import txaio

# Crossbar.io runs router components under Twisted, crossbar-edge under asyncio: take the
# framework the host selected (asyncio when run as a script).
if txaio.using_twisted:
    from autobahn.twisted.wamp import ApplicationSession
else:
    from autobahn.asyncio.wamp import ApplicationSession
from autobahn.wamp import auth as wamp_auth
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions

ALICE_SEED = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510"
TOTP_SEED = "CACKN3GRF3KQZMEK"
WRONG_SEED = "1d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510"


def alice_key():
    from autobahn.wamp.cryptosign import CryptosignKey

    return CryptosignKey.from_bytes(binascii.unhexlify(ALICE_SEED))


def seen(realm, authid, details):
    """What the authenticator saw, handed back to the client in WELCOME.authextra."""
    t = details["transport"]
    return {"realm": realm, "authid": authid, "authmethod": details["authmethod"],
            "session": details["session"], "framing": t["channel_framing"],
            "peer": t["peer"], "authextra": details["authextra"]}


# ---- the router component on realm1 ----

class RealmServices(ApplicationSession):
    async def onJoin(self, details):
        asked = {}

        def anon_auth(realm, authid, details):
            return {"role": "open", "extra": {"welcome": "anon", "seen": seen(realm, authid, details)}}

        def authorize(session, uri, action, options):
            key = f"{uri} {action}"
            asked[key] = asked.get(key, 0) + 1
            if uri == "com.example.authorizer_calls":
                return True
            if uri.startswith("com.allowed."):
                # `disclose` given: Crossbar.io drops a publication allowed without it.
                return {"allow": True, "cache": False, "disclose": False}
            if uri.startswith("com.cached."):
                return {"allow": True, "cache": True}
            if uri.startswith("com.disclosed."):
                return {"allow": True, "disclose": True}
            if uri.startswith("com.broken."):
                raise ApplicationError("com.example.authorizer_broken", "kaput")
            if uri.startswith("com.badanswer."):
                return "yes"
            if uri.startswith("com.whoami."):
                # The session details are those of the session asking.
                return session["authid"] == "lim" and session["authrole"] == "limited"
            return False

        await self.register(anon_auth, "com.example.anon_auth")
        await self.register(authorize, "com.example.authorize")
        await self.register(lambda: asked, "com.example.authorizer_calls")
        print("dyn_auth.RealmServices ready", flush=True)


# ---- the outside authenticator on realm `auth` ----

async def run_authenticator(url):
    from interop import connect

    s = await connect(url, "json", realm="auth")

    async def ticket(realm, authid, details):
        ticket = details.get("ticket")
        if authid == "slow":
            await asyncio.sleep(5)
            return "user"
        if authid == "hang":
            await asyncio.Future()
        if authid == "boom":
            raise ApplicationError("com.example.invalid_ticket", f"bad ticket for {authid}")
        if authid == "badrole":
            return "nosuchrole"
        if authid == "lim" and ticket == "lim":
            return "limited"
        if authid == "totp-user":
            # Crossbar.io's example authentication/ticket/totp: the ticket is a TOTP code.
            if wamp_auth.check_totp(TOTP_SEED, ticket):
                return "user"
            raise ApplicationError("com.example.invalid_ticket", f"invalid TOTP code for {authid}")
        if authid == "joe" and ticket == "secret":
            return {"role": "user", "authid": "joe@example",
                    "extra": {"plan": "gold", "seen": seen(realm, authid, details)}}
        raise ApplicationError("wamp.error.not_authorized", "invalid ticket")

    def wampcra(realm, authid, details):
        if authid == "peter":
            return {"secret": "secret1", "role": "frontend"}
        if authid == "salty":
            return {"secret": "secret2", "role": "frontend", "salt": "salt123",
                    "iterations": 100, "keylen": 16}
        raise ApplicationError("wamp.error.not_authorized", f"no such user {authid}")

    def cryptosign(realm, authid, details):
        if authid == "alice":
            return {"pubkey": alice_key().public_key(), "role": "frontend",
                    "extra": {"seen": seen(realm, authid, details)}}
        raise ApplicationError("wamp.error.not_authorized", f"no such principal {authid}")

    await s.register(ticket, "com.example.ticket")
    await s.register(wampcra, "com.example.wampcra")
    await s.register(cryptosign, "com.example.cryptosign")
    print("ready", flush=True)
    await asyncio.Future()


# ---- the clients ----

async def run_clients(ws, rs, fn, reference):
    from interop import Aborted, Failure, check, connect, expect_error

    def ticket(secret):
        return lambda ch: secret

    def wampcra(secret):
        def answer(ch):
            key = secret
            if "salt" in ch.extra:
                key = wamp_auth.derive_key(secret, ch.extra["salt"], ch.extra["iterations"], ch.extra["keylen"])
            return wamp_auth.compute_wcs(key, ch.extra["challenge"])
        return answer

    async def refused(what, reason, message=None, **kw):
        try:
            s = await connect(**kw)
        except Aborted as e:
            check(e.reason == reason, f"{what}: refused with {reason} (got {e.reason}: {e.message})")
            if message is not None:
                check(message in (e.message or ""), f"{what}: message has {message!r} (got {e.message!r})")
            return
        s.leave()
        raise Failure(f"{what}: joined, expected {reason}")

    # A slow authenticator (5 s) holds up only its own handshake.
    slow = asyncio.ensure_future(connect(ws, "json", authmethods=["ticket"], authid="slow", on_challenge=ticket("x")))
    t0 = time.monotonic()

    for ser in ("json", "msgpack", "cbor"):
        joe = await connect(ws, ser, authmethods=["ticket"], authid="joe", on_challenge=ticket("secret"))
        check(joe._authid == "joe@example" and joe._authrole == "user",
              f"ticket/{ser}: authid and role from the authenticator (got {joe._authid}, {joe._authrole})")
        extra = joe._authextra
        check(extra.get("plan") == "gold", f"ticket/{ser}: extra reaches WELCOME.authextra")
        s = extra.get("seen", {})
        check(s.get("realm") == "realm1" and s.get("authid") == "joe" and s.get("authmethod") == "ticket"
              and s.get("framing") == "websocket" and isinstance(s.get("session"), int)
              and s.get("peer", "").startswith("tcp4:127.0.0.1:"),
              f"ticket/{ser}: the authenticator got (realm, authid, details) as Crossbar.io passes them: {s}")
        check(joe._session_details.authprovider == "dynamic", f"ticket/{ser}: authprovider is dynamic")
        check(isinstance(await joe.call("com.example.authorizer_calls"), dict), f"ticket/{ser}: the static role calls")
        joe.leave()
    check(not slow.done(), "joins went on while the slow authenticator was still working")

    code = wamp_auth.compute_totp(TOTP_SEED)
    t = await connect(ws, "msgpack", authmethods=["ticket"], authid="totp-user", on_challenge=ticket(code))
    check(t._authrole == "user", "ticket with a TOTP code: joined")
    t.leave()
    wrong = str((int(code) + 500000) % 1000000).zfill(6)
    await refused("ticket with a wrong TOTP code", "com.example.invalid_ticket", "invalid TOTP code",
                  url=ws, serializer="json", authmethods=["ticket"], authid="totp-user", on_challenge=ticket(wrong))
    await refused("ticket, wrong ticket", "wamp.error.not_authorized", "invalid ticket",
                  url=ws, serializer="json", authmethods=["ticket"], authid="joe", on_challenge=ticket("nope"))
    await refused("ticket, authenticator raises its own error", "com.example.invalid_ticket", "bad ticket for boom",
                  url=ws, serializer="cbor", authmethods=["ticket"], authid="boom", on_challenge=ticket("x"))
    await refused("ticket, authenticator names a missing role", "wamp.error.no_such_role",
                  'realm "realm1" has no role "nosuchrole"',
                  url=ws, serializer="json", authmethods=["ticket"], authid="badrole", on_challenge=ticket("x"))
    if not reference:
        # `authenticator-timeout` is crossbar-edge's: Crossbar.io waits forever.
        await refused("ticket, authenticator never answers (1.5 s timeout)", "wamp.error.authentication_failed",
                      "did not answer within", url=rs, serializer="msgpack", authmethods=["ticket"], authid="hang",
                      on_challenge=ticket("x"))
    await refused("wampcra, authenticator not registered", "wamp.error.no_such_procedure", "com.example.unregistered",
                  url=rs, serializer="cbor", authmethods=["wampcra"], authid="peter", on_challenge=wampcra("secret1"))

    for ser in ("json", "msgpack"):
        p = await connect(ws, ser, authmethods=["wampcra"], authid="peter", on_challenge=wampcra("secret1"))
        check(p._authrole == "frontend" and p._authid == "peter", f"wampcra/{ser}: joined as frontend")
        p.leave()
    salty = await connect(ws, "cbor", authmethods=["wampcra"], authid="salty", on_challenge=wampcra("secret2"))
    check(salty._authrole == "frontend", "wampcra: salted secret from the authenticator")
    salty.leave()
    await refused("wampcra, wrong secret", "wamp.error.not_authorized", "signature is invalid",
                  url=ws, serializer="json", authmethods=["wampcra"], authid="peter", on_challenge=wampcra("bad"))
    await refused("wampcra, unknown user", "wamp.error.not_authorized", "no such user",
                  url=ws, serializer="json", authmethods=["wampcra"], authid="mallory", on_challenge=wampcra("x"))

    from autobahn.wamp.cryptosign import CryptosignKey
    key = alice_key()
    a = await connect(ws, "msgpack", authmethods=["cryptosign"], authid="alice",
                      authextra={"pubkey": key.public_key()}, on_challenge=lambda ch: key.sign_challenge(ch))
    check(a._authrole == "frontend", "cryptosign: pubkey from the authenticator")
    check(a._authextra.get("seen", {}).get("authextra", {}).get("pubkey") == key.public_key(),
          "cryptosign: the authenticator saw the client's authextra")
    a.leave()
    wrong = CryptosignKey.from_bytes(binascii.unhexlify(WRONG_SEED))
    await refused("cryptosign, wrong key", "wamp.error.not_authorized", "signature",
                  url=ws, serializer="json", authmethods=["cryptosign"], authid="alice",
                  authextra={"pubkey": wrong.public_key()}, on_challenge=lambda ch: wrong.sign_challenge(ch))

    # anonymous, authenticated by the router component on the realm joined; role `open` has
    # allow-by-default.
    anon = await connect(ws, "json", authmethods=["anonymous"])
    check(anon._authrole == "open" and anon._authextra.get("welcome") == "anon",
          "anonymous: role and extra from the component's authenticator")
    await anon.register(lambda x: x, "com.open.echo")
    check(await anon.call("com.open.echo", 7) == 7, "allow-by-default role registers and calls")
    anon.leave()

    # The dynamic authorizer of role `limited`.
    lim = await connect(ws, "cbor", authmethods=["ticket"], authid="lim", on_challenge=ticket("lim"))
    check(lim._authrole == "limited", "ticket: joined as limited")
    await lim.register(lambda: "ok", "com.allowed.proc")
    check(await lim.call("com.allowed.proc") == "ok", "authorizer allows register and call")
    await expect_error(lim.register(lambda: 0, "com.denied.proc"), "wamp.error.not_authorized", "authorizer denies register")
    await expect_error(lim.call("com.denied.proc"), "wamp.error.not_authorized", "authorizer denies call")
    got = []
    await lim.subscribe(lambda x: got.append(x), "com.allowed.topic")
    await expect_error(lim.subscribe(lambda x: 0, "com.denied.topic"), "wamp.error.not_authorized", "authorizer denies subscribe")
    await lim.publish("com.allowed.topic", 1, options=PublishOptions(acknowledge=True, exclude_me=False))
    await expect_error(lim.publish("com.denied.topic", 1, options=PublishOptions(acknowledge=True)),
                       "wamp.error.not_authorized", "authorizer denies publish")
    for _ in range(200):
        if got:
            break
        await asyncio.sleep(0.02)
    check(got == [1], "allowed publication delivered")
    e = await expect_error(lim.call("com.broken.x"), "wamp.error.authorization_failed", "failing authorizer denies")
    check("kaput" in str(e.args), f"authorization_failed names the authorizer's error ({e.args})")
    await expect_error(lim.call("com.badanswer.x"), "wamp.error.authorization_failed", "bad authorizer answer denies")
    await lim.register(lambda: "who", "com.whoami.proc")
    check(await lim.call("com.whoami.proc") == "who", "authorizer receives the session's authid and authrole")
    await lim.register(lambda: "c", "com.cached.proc")
    for _ in range(3):
        check(await lim.call("com.cached.proc") == "c", "cached allow")
    for _ in range(2):
        await lim.call("com.allowed.proc")
    asked = await lim.call("com.example.authorizer_calls")
    check(asked.get("com.cached.proc call") == 1, f"a cached answer is asked once ({asked.get('com.cached.proc call')})")
    check(asked.get("com.allowed.proc call") == 3, f"an uncached answer is asked every time ({asked.get('com.allowed.proc call')})")
    lim.leave()

    # `function` authenticators (tests/py/dyn_auth_functions.py), hosted by the router worker.
    fred = await connect(fn, "json", authmethods=["ticket"], authid="fred", on_challenge=ticket("fred-secret"))
    check(fred._authrole == "user" and fred._session_details.authprovider == "function",
          f"function ticket authenticator: joined as user, authprovider function "
          f"(got {fred._authrole}, {fred._session_details.authprovider})")
    check(fred._authextra.get("config_keys") == ["secrets"] and fred._authextra.get("realm") == "realm1",
          f"the function was created with the config and called with the realm (got {fred._authextra})")
    fred.leave()
    await refused("function ticket authenticator, wrong ticket", "com.example.invalid_ticket", "wrong ticket for fred",
                  url=fn, serializer="cbor", authmethods=["ticket"], authid="fred", on_challenge=ticket("nope"))
    w = await connect(fn, "msgpack", authmethods=["wampcra"], authid="wilma", on_challenge=wampcra("wilma-secret"))
    check(w._authrole == "frontend" and w._authid == "wilma",
          f"function wampcra authenticator: the secret from the function (got {w._authid}, {w._authrole})")
    w.leave()

    # Everything above left the other sessions alone, and the slow one got in at last.
    s = await asyncio.wait_for(slow, 15)
    check(s._authrole == "user" and time.monotonic() - t0 >= 4.0, "the slow authenticator's session joined")
    s.leave()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["authenticator", "clients"])
    ap.add_argument("--url")
    ap.add_argument("--ws")
    ap.add_argument("--rs")
    ap.add_argument("--fn", help="the transport with function authenticators")
    ap.add_argument("--reference", action="store_true",
                    help="the router is Crossbar.io: skip the checks of crossbar-edge's extensions")
    args = ap.parse_args()
    from interop import Aborted, Failure

    try:
        if args.mode == "authenticator":
            asyncio.run(run_authenticator(args.url))
        else:
            asyncio.run(asyncio.wait_for(run_clients(args.ws, args.rs, args.fn, args.reference), 90))
            print("all ok", flush=True)
    except (Failure, Aborted, asyncio.TimeoutError, ApplicationError, OSError) as e:
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
