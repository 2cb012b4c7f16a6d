#!/usr/bin/env python3
"""WAMP-SCRAM with unmodified autobahn-python (`autobahn.wamp.auth.AuthScram`, argon2id-13).

- `scram_auth.py credentials`: prints the principals (JSON) for the router's config. They are
  derived from the passwords below exactly as autobahn's client derives its key, with cheap
  argon2 parameters so a login takes milliseconds.
- `scram_auth.py authenticator --url URL`: an outside dynamic authenticator on realm `auth`;
  prints `ready`, runs until killed.
- `scram_auth.py clients --static URL --dynamic URL --function URL`: the checks, one line each,
  exit 1 on the first failure. The same checks run against Crossbar.io.
- `create_authenticator(config)`: Crossbar.io's `function` authenticator factory.
"""
import argparse
import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import sys

from autobahn.wamp import auth as wamp_auth
from autobahn.wamp.exception import ApplicationError

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "joe.doe@example.com": "joe-pw", "dyn": "dyn-pw", "fun": "fun-pw"}
ROLES = {"alice": "user", "bob": "admin", "joe.doe@example.com": "user"}


def credential(authid, iterations=8, memory=64):
    """A static principal's credential, as `derive_scram_credential` makes one."""
    salt = hashlib.sha256(authid.encode("utf8")).digest()[:16]
    salted = wamp_auth._hash_argon2id13_secret(
        PASSWORDS[authid].encode("utf8"), base64.b64encode(salt).decode("ascii"), iterations, memory)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return {
        "kdf": "argon2id-13", "iterations": iterations, "memory": memory,
        "salt": binascii.b2a_hex(salt).decode("ascii"),
        "stored-key": hashlib.sha256(client_key).hexdigest(),
        "server-key": hmac.new(salted, b"Server Key", hashlib.sha256).hexdigest(),
    }


def principals():
    return {a: dict(credential(a), role=r) for a, r in ROLES.items()}


def answer(realm, authid, details, who):
    if authid == "boom":
        raise ApplicationError("com.example.no_scram_today", f"no SCRAM for {authid}")
    if authid not in ("dyn", "fun"):
        raise ApplicationError("wamp.error.not_authorized", f"no such user {authid}")
    return dict(credential(authid), role="user",
                extra={"by": who, "realm": realm, "authmethod": details.get("authmethod"),
                       "nonce_seen": "nonce" in (details.get("authextra") or {})})


def create_authenticator(config, controller=None):
    """Crossbar.io's `function` type: called once with the config, returns the authenticator."""
    def authenticate(realm, authid, details):
        return answer(realm, authid, details, config.get("by", "function"))
    return authenticate


async def run_authenticator(url):
    from interop import connect

    s = await connect(url, "json", realm="auth")
    await s.register(lambda realm, authid, details: answer(realm, authid, details, "dynamic"),
                     "com.example.scram")
    print("ready", flush=True)
    await asyncio.Future()


async def run_clients(static, dynamic, function):
    from interop import Aborted, Failure, check, connect

    async def scram(url, ser, authid, password):
        a = wamp_auth.AuthScram(authid=authid, password=password)
        s = await connect(url, ser, authmethods=["scram"], authid=authid, authextra=a.authextra,
                          on_challenge=lambda ch: a.on_challenge(None, ch))
        # autobahn's client checks the router's signature in WELCOME (Component does it itself).
        problem = a.on_welcome(s, s._authextra)
        check(problem is None, f"scram {authid}/{ser}: the router's signature verifies ({problem})")
        return s

    async def refused(what, reason, message, url, authid, password, ser="json", authextra=None):
        a = wamp_auth.AuthScram(authid=authid, password=password)
        try:
            s = await connect(url, ser, authmethods=["scram"], authid=authid,
                              authextra=a.authextra if authextra is None else authextra,
                              on_challenge=lambda ch: a.on_challenge(None, ch))
        except Aborted as e:
            check(e.reason == reason and message in (e.message or ""),
                  f"{what}: refused with {reason}, {message!r} (got {e.reason}: {e.message})")
            return
        s.leave()
        raise Failure(f"{what}: joined, expected {reason}")

    for ser in ("json", "msgpack", "cbor"):
        s = await scram(static, ser, "alice", "alice-pw")
        d = s._session_details
        check(d.authid == "alice" and d.authrole == "user" and d.authmethod == "scram"
              and d.authprovider == "static",
              f"static/{ser}: alice joined as user by scram/static "
              f"(got {d.authid}, {d.authrole}, {d.authmethod}, {d.authprovider})")
        s.leave()
    bob = await scram(static, "json", "bob", "bob-pw")
    check(bob._authrole == "admin", "static: bob gets his own role")
    # The session works: a call through the router.
    await bob.register(lambda x: x * 2, "com.example.double")
    check(await bob.call("com.example.double", 21) == 42, "static: the session calls")
    bob.leave()
    # (autobahn's client encodes the SCRAM message as ASCII: authids are ASCII in practice.)
    j = await scram(static, "cbor", "joe.doe@example.com", "joe-pw")
    check(j._authid == "joe.doe@example.com", "static: an e-mail address as authid")
    j.leave()

    await refused("static, wrong password", "wamp.error.not_authorized", "SCRAM authentication failed",
                  static, "alice", "wrong")
    await refused("static, unknown authid", "wamp.error.not_authorized",
                  'no principal with authid "mallory" exists', static, "mallory", "x")
    await refused("static, no nonce", "wamp.error.not_authorized", "client must send a nonce",
                  static, "alice", "alice-pw", authextra={})

    d = await scram(dynamic, "msgpack", "dyn", "dyn-pw")
    check(d._authrole == "user" and d._session_details.authprovider == "dynamic",
          f"dynamic: joined as user, authprovider dynamic (got {d._authrole}, {d._session_details.authprovider})")
    x = d._authextra
    check(x.get("by") == "dynamic" and x.get("realm") == "realm1" and x.get("authmethod") == "scram"
          and x.get("nonce_seen") is True and "scram_server_signature" in x,
          f"dynamic: the authenticator's extra and the router's signature in WELCOME ({x})")
    d.leave()
    await refused("dynamic, wrong password", "wamp.error.not_authorized", "SCRAM authentication failed",
                  dynamic, "dyn", "nope")
    await refused("dynamic, the authenticator raises", "com.example.no_scram_today", "no SCRAM for boom",
                  dynamic, "boom", "x")

    f = await scram(function, "json", "fun", "fun-pw")
    check(f._authrole == "user" and f._session_details.authprovider == "function"
          and f._authextra.get("by") == "fn-config",
          f"function: joined, created with its config (got {f._authrole}, "
          f"{f._session_details.authprovider}, {f._authextra.get('by')})")
    f.leave()
    await refused("function, unknown user", "wamp.error.not_authorized", "no such user zed",
                  function, "zed", "x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["credentials", "authenticator", "clients"])
    ap.add_argument("--url")
    ap.add_argument("--static")
    ap.add_argument("--dynamic")
    ap.add_argument("--function")
    args = ap.parse_args()
    if args.mode == "credentials":
        print(json.dumps(principals()))
        return
    from interop import Aborted, Failure

    try:
        if args.mode == "authenticator":
            asyncio.run(run_authenticator(args.url))
        else:
            asyncio.run(asyncio.wait_for(run_clients(args.static, args.dynamic, args.function), 60))
            print("all ok", flush=True)
    except (Failure, Aborted, asyncio.TimeoutError, ApplicationError, OSError) as e:
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
