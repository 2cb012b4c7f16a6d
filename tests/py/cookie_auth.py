#!/usr/bin/env python3
"""Cookie tracking and cookie authentication with unmodified autobahn-python (asyncio).

`cookie_auth.py clients --url URL [--logout-keeps-others]`: the checks, one line each, exit 1
on the first failure; it prints `COOKIE <cbtid>` for the login cookie. With `--cookie CBTID` it
only checks that the cookie still logs in (after a node restart). The same checks run against
Crossbar.io, with `--logout-keeps-others`: Crossbar.io 26 means to end the other sessions of a
cookie that logs out, but deletes the cookie before it looks for them and so ends none.
"""
import argparse
import asyncio
import sys

from autobahn.wamp.exception import ApplicationError


def set_cookie(session):
    return (session._transport.http_headers or {}).get("set-cookie")


async def run_clients(url, logout_kicks):
    from interop import Aborted, Failure, check, connect, wait_for

    async def refused(what, reason, **kw):
        try:
            s = await connect(url, "json", **kw)
        except Aborted as e:
            check(e.reason == reason, f"{what}: refused with {reason} (got {e.reason}: {e.message})")
            return
        s.leave()
        raise Failure(f"{what}: joined, expected {reason}")

    # A first connection gets a cookie, and logs in with a ticket.
    joe = await connect(url, "json", authmethods=["ticket"], authid="joe", on_challenge=lambda ch: "secret")
    header = set_cookie(joe)
    check(header is not None and header.startswith("cbtid=") and ";max-age=604800" in header,
          f"the upgrade sets a tracking cookie (got {header!r})")
    cbtid = header.split(";")[0].split("=", 1)[1]
    check(len(cbtid) == 24, f"the cookie ID has 24 characters ({cbtid!r})")
    joe.leave()
    cookie = {"Cookie": f"other=1; cbtid={cbtid}"}

    # The cookie now carries joe's login.
    s = await connect(url, "msgpack", authmethods=["cookie"], headers=cookie)
    d = s._session_details
    check(d.authid == "joe" and d.authrole == "user" and d.authprovider == "cookie" and d.authmethod == "ticket",
          f"the cookie logs in as joe (got {d.authid}, {d.authrole}, {d.authmethod}, {d.authprovider})")
    check(set_cookie(s) is None, "a known cookie is not set again")
    s.leave()
    s = await connect(url, "cbor", authmethods=["cookie", "ticket"], authid="joe",
                      on_challenge=lambda ch: "never asked", headers=cookie)
    check(s._session_details.authprovider == "cookie", "cookie first, ticket second: the cookie decides")
    s.leave()

    # No cookie, or one nobody issued: offering only `cookie` is not enough.
    await refused("no cookie", "wamp.error.no_auth_method", authmethods=["cookie"])
    await refused("a forged cookie", "wamp.error.no_auth_method", authmethods=["cookie"],
                  headers={"Cookie": "cbtid=AAAAAAAAAAAAAAAAAAAAAAAA"})

    # Logging in as someone else on the same cookie replaces the login.
    ann = await connect(url, "json", authmethods=["ticket"], authid="ann", on_challenge=lambda ch: "ann-secret",
                        headers=cookie)
    ann.leave()
    s = await connect(url, "json", authmethods=["cookie"], headers=cookie)
    check(s._authid == "ann", f"the cookie now logs in as ann (got {s._authid})")

    # Logout deletes the cookie (once the router has the GOODBYE: polled, bounded) and ends
    # the other sessions of the cookie, as Crossbar.io kicks its other connections.
    other = await connect(url, "json", authmethods=["cookie"], headers=cookie)
    check(other._authid == "ann", "a second connection with the cookie logs in as ann")
    s.leave("wamp.close.logout")
    if logout_kicks:
        await wait_for(lambda: not other.is_attached(), "the logout to end the cookie's other session")
        check(True, "the logout ended the other session of the same cookie")
    else:
        other.leave()
    for _ in range(50):
        try:
            again = await connect(url, "json", authmethods=["cookie"], headers=cookie)
        except Aborted:
            break
        again.leave()
        await asyncio.sleep(0.1)
    await refused("the cookie after a logout", "wamp.error.no_auth_method", authmethods=["cookie"], headers=cookie)

    # A fresh login for the restart check.
    joe = await connect(url, "json", authmethods=["ticket"], authid="joe", on_challenge=lambda ch: "secret")
    print(f"COOKIE {set_cookie(joe).split(';')[0].split('=', 1)[1]}", flush=True)
    joe.leave()


async def run_again(url, cbtid):
    from interop import check, connect

    s = await connect(url, "json", authmethods=["cookie"], headers={"Cookie": f"cbtid={cbtid}"})
    check(s._authid == "joe" and s._session_details.authprovider == "cookie",
          "the file store kept the login across a restart")
    s.leave()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["clients"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--cookie")
    ap.add_argument("--logout-keeps-others", action="store_true")
    args = ap.parse_args()
    from interop import Aborted, Failure

    try:
        if args.cookie:
            asyncio.run(asyncio.wait_for(run_again(args.url, args.cookie), 30))
        else:
            asyncio.run(asyncio.wait_for(run_clients(args.url, not args.logout_keeps_others), 60))
        print("all ok", flush=True)
    except (Failure, Aborted, asyncio.TimeoutError, ApplicationError, OSError) as e:
        print(f"FAIL {type(e).__name__}: {e}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
