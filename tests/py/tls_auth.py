#!/usr/bin/env python3
"""WAMP-TLS (client certificate) authentication, and WAMP-cryptosign bound to the TLS channel,
with unmodified autobahn-python (asyncio).

- `tls_auth.py fingerprint CERT`: prints the certificate's SHA-1 fingerprint as autobahn
  writes it (`AB:CD:…`), for the router's static principals.
- `tls_auth.py authenticator --url URL`: an outside dynamic authenticator on realm `auth`;
  prints `ready`, runs until killed.
- `tls_auth.py cryptosign-pubkey`: the public key of the cryptosign client.
- `tls_auth.py clients --dir DIR --static URL --rawsocket URL --dynamic URL --bound URL
  --plain URL [--function URL]`: the checks (`--bound`, `--plain`: cryptosign over wss://
  and ws://), one line each, exit 1 on the first failure. The same checks run against
  Crossbar.io; `--function` (a `function` authenticator, which Crossbar.io accepts in the
  config but denies at every login) only against crossbar-edge.
"""
import argparse
import asyncio
import os
import ssl
import sys

from autobahn.wamp.exception import ApplicationError


# The cryptosign client's private key (a test key, as in autobahn's test vectors).
CRYPTOSIGN_SEED = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510"


def cryptosign_pubkey():
    from autobahn.wamp.cryptosign import CryptosignKey

    return CryptosignKey.from_bytes(bytes.fromhex(CRYPTOSIGN_SEED)).public_key()


async def run_channel_binding(d, bound, plain):
    """WAMP-cryptosign bound to the TLS channel (`tls-unique`), as autobahn's AuthCryptoSign
    signs it: the challenge XOR SHA-256 of the handshake's first Finished message."""
    from autobahn.wamp.auth import AuthCryptoSign
    from interop import Aborted, Failure, check, connect

    ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))

    def auth(binding="tls-unique"):
        extra = {"channel_binding": binding} if binding else {}
        return AuthCryptoSign(privkey=CRYPTOSIGN_SEED, authid="carol", authextra=extra)

    async def join(url, authenticator, **kw):
        return await connect(url, "json", authmethods=["cryptosign"], authid="carol",
                             authextra=authenticator.authextra, on_challenge=authenticator, **kw)

    async def refused(what, message, url, authenticator, **kw):
        try:
            s = await join(url, authenticator, **kw)
        except Aborted as e:
            check(e.reason == "wamp.error.not_authorized" and message in (e.message or ""),
                  f"{what}: refused, {message!r} (got {e.reason}: {e.message})")
            return
        s.leave()
        raise Failure(f"{what}: joined, expected a refusal")

    for binding in ("tls-unique", None):
        s = await join(bound, auth(binding), ssl=ctx)
        check(s._authid == "carol" and s._authrole == "user",
              f"cryptosign over wss, channel binding {binding}: joined as carol (got {s._authid})")
        s.leave()

    class WrongChannel:
        """Signs for another TLS channel (what a relayed signature would be)."""
        authextra = auth().authextra

        def on_challenge(self, session, challenge):
            from autobahn.wamp.cryptosign import CryptosignKey

            key = CryptosignKey.from_bytes(bytes.fromhex(CRYPTOSIGN_SEED))
            return key.sign_challenge(challenge, channel_id=b"\x01" * 32, channel_id_type="tls-unique")

    await refused("cryptosign signed for another TLS channel", "message signed is bogus", bound, WrongChannel(),
                  ssl=ctx)
    await refused("tls-unique over plain ws://",
                  'channel binding "tls-unique" requested, but the transport has no TLS channel ID', plain, auth())


def fingerprint(path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    with open(path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA1()))


async def run_authenticator(url):
    from interop import connect

    s = await connect(url, "json", realm="auth")

    def authenticate(realm, authid, details):
        t = details["transport"]
        cert = t.get("peer_cert") or {}
        cn = (cert.get("subject") or {}).get("cn")
        if cn == "client-b":
            return {"role": "user", "authid": "b-by-cert",
                    "extra": {"cn": cn, "sha1": cert.get("sha1"), "channel_type": t.get("channel_type"),
                              "same_as_client_cert": t.get("client_cert") == cert,
                              "issuer": (cert.get("issuer") or {}).get("cn")}}
        raise ApplicationError("com.example.unknown_certificate", f"no user for certificate {cn}")

    await s.register(authenticate, "com.example.tls")
    print("ready", flush=True)
    await asyncio.Future()


async def run_clients(d, static, rawsocket, dynamic, function, bound, plain):
    from interop import Aborted, Failure, check, connect

    await run_channel_binding(d, bound, plain)

    def context(client):
        ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
        if client:
            ctx.load_cert_chain(os.path.join(d, f"{client}.pem"), os.path.join(d, f"{client}.key"))
        return ctx

    async def refused(what, reason, message, url, client, ser="json"):
        try:
            s = await connect(url, ser, authmethods=["tls"], ssl=context(client))
        except Aborted as e:
            check(e.reason == reason and message in (e.message or ""),
                  f"{what}: refused with {reason}, {message!r} (got {e.reason}: {e.message})")
            return
        s.leave()
        raise Failure(f"{what}: joined, expected {reason}")

    for ser in ("json", "cbor"):
        a = await connect(static, ser, authmethods=["tls"], ssl=context("client-a"))
        d_ = a._session_details
        check(d_.authid == "alice" and d_.authrole == "user" and d_.authmethod == "tls"
              and d_.authprovider == "static",
              f"static/{ser}: client-a's certificate is alice (got {d_.authid}, {d_.authrole}, "
              f"{d_.authmethod}, {d_.authprovider})")
        await a.register(lambda: "pong", "com.example.ping")
        check(await a.call("com.example.ping") == "pong", f"static/{ser}: the session calls")
        a.leave()
    r = await connect(rawsocket, "msgpack", authmethods=["tls"], ssl=context("client-a"))
    check(r._authid == "alice", "static over TLS RawSocket: alice")
    r.leave()

    sha1_b = fingerprint(os.path.join(d, "client-b.pem"))
    await refused("static, a certificate of the CA that is no principal", "wamp.error.not_authorized",
                  f'no principal with authid "{sha1_b}" exists', static, "client-b")
    # A certificate the transport's CAs did not issue never gets past the TLS handshake: the
    # router answers the upgrade request with an alert (TLS 1.3 checks the client last).
    from urllib.parse import urlparse
    u = urlparse(static)
    try:
        reader, writer = await asyncio.open_connection(u.hostname, u.port, ssl=context("stranger"))
        writer.write(b"GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(100), 10)
        writer.close()
        check(answer == b"", f"a certificate from another CA: the connection is closed (got {answer!r})")
    except (ssl.SSLError, ConnectionError) as e:
        check(True, f"a certificate from another CA fails the handshake ({type(e).__name__}: {e})")

    b = await connect(dynamic, "json", authmethods=["tls"], ssl=context("client-b"))
    x = b._authextra
    check(b._authid == "b-by-cert" and b._session_details.authprovider == "dynamic",
          f"dynamic: authid from the authenticator (got {b._authid}, {b._session_details.authprovider})")
    check(x.get("cn") == "client-b" and x.get("sha1") == sha1_b and x.get("issuer") == "Test CA"
          and x.get("channel_type") == "tls" and x.get("same_as_client_cert") is True,
          f"dynamic: the authenticator saw the certificate in details.transport ({x})")
    b.leave()
    await refused("dynamic, the authenticator raises", "com.example.unknown_certificate",
                  "no user for certificate client-a", dynamic, "client-a")

    if function:
        f = await connect(function, "json", authmethods=["tls"], ssl=context("client-b"))
        check(f._authid == "bob" and f._authrole == "user" and f._session_details.authprovider == "function"
              and f._authextra.get("sha1") == sha1_b,
              f"function: the principal the function chose by the certificate (got {f._authid}, "
              f"{f._authrole}, {f._session_details.authprovider}, {f._authextra})")
        f.leave()
        await refused("function, the function raises", "com.example.unknown_certificate",
                      "no user for certificate client-a", function, "client-a")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["fingerprint", "cryptosign-pubkey", "authenticator", "clients"])
    ap.add_argument("cert", nargs="?")
    ap.add_argument("--url")
    ap.add_argument("--dir")
    ap.add_argument("--static")
    ap.add_argument("--rawsocket")
    ap.add_argument("--dynamic")
    ap.add_argument("--function")
    ap.add_argument("--bound", help="a wss:// transport with cryptosign")
    ap.add_argument("--plain", help="a ws:// transport with cryptosign")
    args = ap.parse_args()
    if args.mode == "fingerprint":
        print(fingerprint(args.cert))
        return
    if args.mode == "cryptosign-pubkey":
        print(cryptosign_pubkey())
        return
    from interop import Aborted, Failure

    try:
        if args.mode == "authenticator":
            asyncio.run(run_authenticator(args.url))
        else:
            asyncio.run(asyncio.wait_for(run_clients(args.dir, args.static, args.rawsocket, args.dynamic, args.function,
                                                   args.bound, args.plain), 60))
            print("all ok", flush=True)
    except (Failure, Aborted, asyncio.TimeoutError, ApplicationError, OSError) as e:
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
