#!/usr/bin/env python3
"""Calls one crossbar-cdc procedure from the shell: the pairing walkthrough's client.

    cdc-call.py keygen FILE                 new cryptosign key (seed hex, mode 0600); prints the public key
    cdc-call.py pin VERIFICATION_ID [--outbox DIR]
                                            the PIN of a verification, from the CDC's outbox (no SMTP)
    cdc-call.py [--url URL] [--realm REALM] [--key FILE] PROCEDURE [ARG ...]
                                            calls PROCEDURE (a leading "cdc." may be left out) and prints
                                            the result as JSON; each ARG is a string, except null,
                                            true, false, {...}, [...] and json:<JSON> (json:50)

Without --key the session is anonymous (enough for create_user@1 and verify@1). Needs
autobahn with cryptosign support (Debian: python3-autobahn python3-nacl; pip:
'autobahn[encryption]').
"""

import argparse
import asyncio
import binascii
import json
import os
import sys
from urllib.parse import urlparse

TIMEOUT = 30.0
GLOBAL_REALM = "com.crossbario.cdc"
DEFAULT_OUTBOX = "/var/lib/crossbar-cdc/outbox"


def fail(message):
    print(f"cdc-call: {message}", file=sys.stderr)
    sys.exit(1)


def load_key(path):
    from autobahn.wamp.cryptosign import CryptosignKey

    try:
        with open(path) as f:
            seed = binascii.unhexlify(f.read().strip())
    except (OSError, binascii.Error) as e:
        fail(f"cannot read the key {path}: {e}")
    if len(seed) != 32:
        fail(f"{path}: expected 32 bytes of hex, got {len(seed)}")
    return CryptosignKey.from_bytes(seed)


def keygen(path):
    from autobahn.wamp.cryptosign import CryptosignKey

    if os.path.exists(path):
        fail(f"{path} exists: not overwritten")
    seed = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(binascii.hexlify(seed).decode() + "\n")
    print(CryptosignKey.from_bytes(seed).public_key())


def pin(vid, outbox):
    try:
        names = sorted(os.listdir(outbox))
    except OSError as e:
        fail(f"cannot read the outbox {outbox}: {e}")
    for name in names:
        with open(os.path.join(outbox, name), errors="replace") as f:
            text = f.read()
        if f"Verification ID: {vid}" in text:
            for line in text.splitlines():
                if line.startswith("PIN: "):
                    print(line[len("PIN: "):].strip())
                    return
    fail(f"no mail for verification {vid} in {outbox}")


def parse_arg(text):
    """A string, except `null`, `true`, `false`, JSON objects and lists, and `json:<any JSON>`
    (`json:50` for a number): PINs and IDs made of digits stay strings."""
    if text.startswith("json:"):
        try:
            return json.loads(text[len("json:"):])
        except ValueError as e:
            fail(f"bad JSON argument {text}: {e}")
    if text in ("null", "true", "false") or text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


async def call(url, realm, key, procedure, args):
    from autobahn.asyncio.wamp import ApplicationSession
    from autobahn.asyncio.websocket import WampWebSocketClientFactory
    from autobahn.wamp.types import ComponentConfig

    loop = asyncio.get_running_loop()
    done = loop.create_future()

    class Client(ApplicationSession):
        def onConnect(self):
            if key is None:
                self.join(realm, authmethods=["anonymous"])
            else:
                self.join(realm, authmethods=["cryptosign"],
                          authextra={"pubkey": key.public_key(), "channel_binding": None})

        def onChallenge(self, challenge):
            return key.sign_challenge(challenge)

        async def onJoin(self, details):
            try:
                result = await self.call(procedure, *args)
                if not done.done():
                    done.set_result(result)
            except Exception as e:  # the call's error goes to the user as it is
                if not done.done():
                    done.set_exception(e)
            self.leave()

        def onLeave(self, details):
            if not done.done():
                done.set_exception(RuntimeError(f"{details.reason}: {details.message}"))
            self.disconnect()

        def onDisconnect(self):
            if not done.done():
                done.set_exception(RuntimeError("connection closed"))

    u = urlparse(url)
    if u.scheme not in ("ws", "wss") or not u.hostname:
        fail(f"bad URL {url} (ws://host:port/path or wss://…)")
    port = u.port or (443 if u.scheme == "wss" else 80)
    factory = WampWebSocketClientFactory(lambda: Client(ComponentConfig(realm)), url=url)
    ssl_ctx = None
    if u.scheme == "wss":
        import ssl

        ssl_ctx = ssl.create_default_context()
    await asyncio.wait_for(loop.create_connection(factory, u.hostname, port, ssl=ssl_ctx), TIMEOUT)
    return await asyncio.wait_for(done, TIMEOUT)


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["keygen"]:
        if len(argv) != 2:
            fail("usage: cdc-call.py keygen FILE")
        return keygen(argv[1])
    if argv[:1] == ["pin"]:
        p = argparse.ArgumentParser(prog="cdc-call.py pin")
        p.add_argument("vid")
        p.add_argument("--outbox", default=DEFAULT_OUTBOX)
        a = p.parse_args(argv[1:])
        return pin(a.vid, a.outbox)
    p = argparse.ArgumentParser(prog="cdc-call.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=os.environ.get("CDC_URL", "ws://127.0.0.1:9000/ws"))
    p.add_argument("--realm", default=GLOBAL_REALM)
    p.add_argument("--key", default=os.environ.get("CDC_KEY"))
    p.add_argument("procedure")
    p.add_argument("args", nargs="*")
    a = p.parse_args(argv)
    procedure = a.procedure if a.procedure.startswith("cdc.") else "cdc." + a.procedure
    key = load_key(a.key) if a.key else None
    try:
        result = asyncio.run(call(a.url, a.realm, key, procedure, [parse_arg(x) for x in a.args]))
    except Exception as e:
        error = getattr(e, "error", None)
        detail = e.args[0] if getattr(e, "args", None) else str(e)
        fail(f"{procedure}: {error + ': ' if error else ''}{detail}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
