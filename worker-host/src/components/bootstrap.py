"""crossbar-edge component bootstrap: runs one autobahn-python ApplicationSession subclass.

The worker starts `python -u -c <this file>` and writes one JSON object to stdin:
  {"component_id", "classname", "realm", "extra", "pythonpath": [...],
   "link": {"type": "rawsocket"|"websocket", "path"?, "host"?, "port"?, "url"?,
            "serializers": [...]},
   "auth": null | {"method": "ticket"|"wampcra"|"cryptosign", "authid", "authrole", "secret"}}
It imports `classname`, builds `ComponentConfig(realm, extra)` and connects it over the link,
with Twisted when the class is a Twisted session (as Crossbar.io components are), else asyncio.
txaio's framework is selected before the component's module is imported (Twisted first, as
in Crossbar.io; the process starts again with asyncio for an asyncio component).
Lines starting with "@@crossbar-component " on stdout tell the worker: "ready" (joined and
onJoin done) or "error" (could not start). SIGTERM leaves the session (GOODBYE) and exits.
"""

import importlib
import inspect
import json
import os
import signal
import sys
import traceback

MARK = "@@crossbar-component "
# Twisted's logging redirects sys.stdout through its log format; the markers go to the real
# stdout, unprefixed.
MARK_OUT = os.fdopen(os.dup(1), "w")


def mark(event, **kw):
    kw["event"] = event
    MARK_OUT.write(MARK + json.dumps(kw) + "\n")
    MARK_OUT.flush()


def fail(uri, message, code=2):
    mark("error", uri=uri, message=message)
    sys.exit(code)


def load_class(classname):
    module_name, _, class_name = classname.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except Exception:
        fail(
            "crossbar.error.class_import_failed",
            "Failed to import class '{}'\n{}\nPython module search path: {}".format(
                classname, traceback.format_exc(), sys.path
            ),
        )


# The worker's built-in class for Crossbar.io's "function" authenticators.
FUNCTION_AUTHENTICATOR = "crossbar_edge_builtin.FunctionAuthenticator"


def function_authenticator_class(framework):
    """Hosts one `function` authenticator: `create(config, None)` (Crossbar.io passes its
    worker controller, or None) makes the authenticator once, and it is registered as
    `extra.procedure`; the router calls it with (realm, authid, details) as it calls a
    dynamic authenticator, and its answer (or error) is the authentication's."""
    import txaio

    if framework == "twisted":
        from autobahn.twisted.wamp import ApplicationSession
    else:
        from autobahn.asyncio.wamp import ApplicationSession

    class FunctionAuthenticator(ApplicationSession):
        def onJoin(self, details):
            extra = self.config.extra
            module_name, _, name = extra["create"].rpartition(".")
            # An ImportError or AttributeError fails onJoin: the start error carries it.
            create = getattr(importlib.import_module(module_name), name)
            done = txaio.create_future()

            def created(authenticator):
                def authenticate(realm, authid, details):
                    return authenticator(realm, authid, details)

                registered = txaio.as_future(self.register, authenticate, extra["procedure"])
                txaio.add_callbacks(
                    registered,
                    lambda reg: txaio.resolve(done, reg),
                    lambda err: txaio.reject(done, err),
                )

            made = txaio.as_future(create, extra.get("config") or {}, None)
            txaio.add_callbacks(made, created, lambda err: txaio.reject(done, err))
            return done

    return FunctionAuthenticator


# The worker's built-in class for Crossbar.io's "function" router components.
FUNCTION_COMPONENT = "crossbar_edge_builtin.FunctionComponent"


def function_component_class(framework, callbacks):
    """A session whose `join`, `leave`, `connect` and `disconnect` events call the configured
    functions (`fn(session, details)`), as Crossbar.io's function components do."""
    functions = {}
    for event, ref in (callbacks or {}).items():
        module_name, _, name = ref.rpartition(".")
        try:
            functions[event] = getattr(importlib.import_module(module_name), name)
        except Exception:
            fail(
                "crossbar.error.class_import_failed",
                "Failed to import package '{}' (for '{}')\n{}\nPython module search path: {}".format(
                    module_name, ref, traceback.format_exc(), sys.path
                ),
            )

    if framework == "twisted":
        from autobahn.twisted.wamp import ApplicationSession
    else:
        from autobahn.asyncio.wamp import ApplicationSession

    class FunctionComponent(ApplicationSession):
        def __init__(self, config=None):
            ApplicationSession.__init__(self, config)
            for event, fn in functions.items():
                self.on(event, fn)

    return FunctionComponent


def pick_serializers(names):
    from autobahn.wamp import serializer as s

    table = {
        "json": getattr(s, "JsonSerializer", None),
        "msgpack": getattr(s, "MsgPackSerializer", None),
        "cbor": getattr(s, "CBORSerializer", None),
        "ubjson": getattr(s, "UBJSONSerializer", None),
    }
    out = []
    for n in names or ["msgpack", "cbor", "json"]:
        k = table.get(n)
        if k is not None:
            try:
                out.append(k())
            except Exception:
                pass
    if not out:
        fail(
            "crossbar.error.invalid_configuration",
            "none of the serializers {} is available to autobahn-python".format(names),
        )
    return out


def install_auth(session, cfg):
    """Makes the session join with the configured credentials instead of anonymously."""
    auth = cfg.get("auth")
    if not auth:
        return
    method, secret = auth["method"], auth["secret"]
    realm = cfg["realm"]
    authextra = {}
    signer = None
    if method == "cryptosign":
        from autobahn.wamp.cryptosign import CryptosignKey

        signer = CryptosignKey.from_bytes(bytes.fromhex(secret))
        authextra["pubkey"] = signer.public_key()

    def on_connect():
        session.join(
            realm,
            authmethods=[method],
            authid=auth.get("authid"),
            authrole=auth.get("authrole"),
            authextra=authextra or None,
        )

    def on_challenge(challenge):
        if challenge.method == "ticket":
            return secret
        if challenge.method == "wampcra":
            from autobahn.wamp import auth as a

            key = secret
            if "salt" in challenge.extra:
                key = a.derive_key(
                    secret,
                    challenge.extra["salt"],
                    challenge.extra.get("iterations", 1000),
                    challenge.extra.get("keylen", 32),
                )
            return a.compute_wcs(key, challenge.extra["challenge"])
        if challenge.method == "cryptosign":
            return signer.sign_challenge(challenge)
        raise Exception("no credentials for a {} challenge".format(challenge.method))

    session.onConnect = on_connect
    session.onChallenge = on_challenge


def make_factory(klass, cfg, on_end, wrap_coroutine):
    from autobahn.wamp.types import ComponentConfig

    config = ComponentConfig(realm=cfg["realm"], extra=cfg.get("extra") or {})
    state = {"session": None}

    def create():
        session = klass(config)
        install_auth(session, cfg)

        # "ready" is when onJoin has finished, whatever it returned (a Deferred, a coroutine
        # or nothing): autobahn's own "ready" event fires too early for asyncio coroutines.
        on_join = session.onJoin

        def join_then_ready(details):
            import txaio

            try:
                res = on_join(details)
                if inspect.iscoroutine(res):
                    res = wrap_coroutine(res)
                d = txaio.as_future(lambda: res)
            except Exception:
                d = txaio.create_future_error(txaio.create_failure())

            def ready(_):
                mark("ready", session=session._session_id)

            def failed(err):
                # onJoin raised: the worker learns it now, not when its start times out.
                mark(
                    "error",
                    uri="crossbar.error.cannot_start",
                    message="onJoin failed: {}".format(txaio.failure_format_traceback(err)),
                )
                return None

            txaio.add_callbacks(d, ready, failed)
            return d

        session.onJoin = join_then_ready
        session.on("disconnect", lambda s, was_clean=True: on_end())
        state["session"] = session
        return session

    return create, state


def run_asyncio(klass, cfg):
    import asyncio

    import txaio

    txaio.use_asyncio()
    txaio.start_logging(level="info")
    from autobahn.asyncio.rawsocket import WampRawSocketClientFactory
    from autobahn.asyncio.websocket import WampWebSocketClientFactory

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    txaio.config.loop = loop
    create, state = make_factory(
        klass, cfg, lambda: loop.call_soon(loop.stop), loop.create_task
    )
    link = cfg["link"]
    sers = pick_serializers(link.get("serializers"))
    if link["type"] == "websocket":
        factory = WampWebSocketClientFactory(create, url=link["url"], serializers=sers)
    else:
        factory = WampRawSocketClientFactory(create, serializer=sers[0])
    # Watched from the start: the router may close before create_connection has returned.
    def protocol():
        return watch_early_close(factory(), "connection_lost", state, lambda: loop.call_soon(loop.stop))

    if link.get("path"):
        coro = loop.create_unix_connection(protocol, link["path"])
    elif link.get("tls"):
        tls = link["tls"]
        coro = loop.create_connection(protocol, link["host"], link["port"], ssl=ssl_context(tls),
                                      server_hostname=tls.get("hostname") or link["host"])
    else:
        coro = loop.create_connection(protocol, link["host"], link["port"])
    try:
        loop.run_until_complete(asyncio.wait_for(coro, link.get("timeout") or 10))
    except Exception as e:
        fail("crossbar.error.cannot_start", "cannot connect to the router: {}".format(e), 1)

    def on_term():
        s = state["session"]
        if s is not None and s.is_attached():
            s.leave("wamp.close.normal", "component stopped")
            loop.call_later(5, loop.stop)
        else:
            loop.stop()

    loop.add_signal_handler(signal.SIGTERM, on_term)
    loop.run_forever()


def watch_early_close(proto, method, state, stop):
    """A connection that ends before its WAMP session opened (a router that refused the TLS
    client certificate, or the WebSocket upgrade) fails the start with the reason, instead of
    leaving the component starting forever: autobahn makes the session only once the
    transport is open, so no session event would tell."""
    original = getattr(proto, method)

    def lost(reason):
        if state["session"] is None:
            why = getattr(reason, "value", reason)
            mark("error", uri="crossbar.error.cannot_start",
                 message="the connection to the router closed before the session opened: {}".format(
                     why or "closed by the router"))
            stop()
        return original(reason)

    setattr(proto, method, lost)
    return proto


def ssl_context(tls):
    """The client TLS context of a component transport: the public roots, or the configured
    CAs instead (as Crossbar.io), and a client certificate if one is configured."""
    import ssl

    if tls.get("ca_certificates"):
        # Verifies the server and its name, like the default context, with only these roots.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        for ca in tls["ca_certificates"]:
            ctx.load_verify_locations(cafile=ca)
    else:
        ctx = ssl.create_default_context()
    if tls.get("certificate"):
        ctx.load_cert_chain(tls["certificate"], tls["key"])
    return ctx


def twisted_tls(endpoint, tls, host):
    """Wraps a Twisted client endpoint in TLS as `ssl_context` configures it."""
    from twisted.internet.endpoints import wrapClientTLS
    from twisted.internet.ssl import (Certificate, PrivateCertificate, optionsForClientTLS,
                                      platformTrust, trustRootFromCertificates)

    trust = platformTrust()
    if tls.get("ca_certificates"):
        certs = []
        for ca in tls["ca_certificates"]:
            with open(ca) as f:
                certs.append(Certificate.loadPEM(f.read()))
        trust = trustRootFromCertificates(certs)
    client = None
    if tls.get("certificate"):
        with open(tls["certificate"]) as c, open(tls["key"]) as k:
            client = PrivateCertificate.loadPEM(c.read() + k.read())
    options = optionsForClientTLS(tls.get("hostname") or host, trustRoot=trust, clientCertificate=client)
    return wrapClientTLS(options, endpoint)


def run_twisted(klass, cfg):
    from autobahn.twisted.rawsocket import WampRawSocketClientFactory
    from autobahn.twisted.websocket import WampWebSocketClientFactory
    from twisted.internet import reactor
    from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint

    import txaio

    txaio.start_logging(level="info")

    def stop():
        if reactor.running:
            reactor.stop()

    from twisted.internet.defer import ensureDeferred

    create, state = make_factory(klass, cfg, stop, ensureDeferred)
    link = cfg["link"]
    sers = pick_serializers(link.get("serializers"))
    if link["type"] == "websocket":
        factory = WampWebSocketClientFactory(create, url=link["url"], serializers=sers)
    else:
        factory = WampRawSocketClientFactory(create, serializer=sers[0])
    timeout = link.get("timeout") or 10
    if link.get("path"):
        endpoint = UNIXClientEndpoint(reactor, link["path"], timeout=timeout)
    else:
        endpoint = HostnameEndpoint(reactor, link["host"], link["port"], timeout=timeout)
    if link.get("tls"):
        endpoint = twisted_tls(endpoint, link["tls"], link["host"])

    def connect_failed(f):
        mark(
            "error",
            uri="crossbar.error.cannot_start",
            message="cannot connect to the router: {}".format(f.getErrorMessage()),
        )
        stop()

    build = factory.buildProtocol
    factory.buildProtocol = lambda addr: watch_early_close(build(addr), "connectionLost", state, stop)
    endpoint.connect(factory).addErrback(connect_failed)

    def on_term(*_):
        def leave():
            s = state["session"]
            if s is not None and s.is_attached():
                s.leave("wamp.close.normal", "component stopped")
                reactor.callLater(5, stop)
            else:
                stop()

        reactor.callFromThread(leave)

    signal.signal(signal.SIGTERM, on_term)
    reactor.run(installSignalHandlers=False)


# Set when this process was started again with the other framework (see `restart_with`).
FRAMEWORK_ENV = "CROSSBAR_EDGE_TXAIO"


def select_framework():
    """Selects txaio's framework before any user code is imported, as Crossbar.io does (a
    module may call `txaio.make_logger()` at import): Twisted, as Crossbar.io runs its
    components, when it is installed; asyncio otherwise, or when the first attempt showed the
    component is written for asyncio."""
    import txaio

    framework = os.environ.get(FRAMEWORK_ENV)
    if framework is None:
        try:
            import twisted  # noqa: F401

            framework = "twisted"
        except ImportError:
            framework = "asyncio"
    if framework == "twisted":
        txaio.use_twisted()
    else:
        txaio.use_asyncio()
    return framework


def restart_with(framework, cfg):
    """Runs this bootstrap again in a fresh interpreter with `framework` selected: txaio
    cannot switch frameworks once chosen. The config goes through a pipe on stdin, as the
    worker sent it."""
    if os.environ.get(FRAMEWORK_ENV):
        return  # tried both: the caller reports the failure
    with open("/proc/self/cmdline", "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0") if a]
    data = json.dumps(cfg).encode()
    r, w = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(w, 1031, len(data) + 4096)  # F_SETPIPE_SZ: the whole config fits
    except Exception:
        pass
    os.write(w, data)
    os.close(w)
    os.dup2(r, 0)
    MARK_OUT.flush()
    os.execve(sys.executable, argv, dict(os.environ, **{FRAMEWORK_ENV: framework}))


def main():
    cfg = json.loads(sys.stdin.read())
    for p in reversed(cfg.get("pythonpath") or []):
        sys.path.insert(0, p)
    try:
        import autobahn  # noqa: F401
        from autobahn.wamp.protocol import ApplicationSession
        framework = select_framework()
    except Exception as e:
        fail(
            "crossbar.error.invalid_configuration",
            "autobahn-python cannot be imported by {}: {}".format(sys.executable, e),
        )
    other = "asyncio" if framework == "twisted" else "twisted"
    if cfg["classname"] == FUNCTION_COMPONENT:
        klass = function_component_class(framework, cfg.get("callbacks"))
        (run_twisted if framework == "twisted" else run_asyncio)(klass, cfg)
        return
    if cfg["classname"] == FUNCTION_AUTHENTICATOR:
        try:
            importlib.import_module(cfg["extra"]["create"].rpartition(".")[0])
        except RuntimeError as e:
            if "Explicitly using" in str(e):
                restart_with(other, cfg)
        except Exception:
            pass  # onJoin reports it
        klass = function_authenticator_class(framework)
        (run_twisted if framework == "twisted" else run_asyncio)(klass, cfg)
        return
    try:
        module_name, _, class_name = cfg["classname"].rpartition(".")
        importlib.import_module(module_name)
    except RuntimeError as e:
        # txaio's "Explicitly using 'twisted' already": the module is written for the other.
        if "Explicitly using" in str(e):
            restart_with(other, cfg)
    except Exception:
        pass  # load_class reports it
    klass = load_class(cfg["classname"])
    if not (isinstance(klass, type) and issubclass(klass, ApplicationSession)):
        fail(
            "crossbar.error.class_import_failed",
            "'{}' is not derived from autobahn's ApplicationSession".format(cfg["classname"]),
        )
    twisted = any(c.__module__.startswith("autobahn.twisted") for c in klass.__mro__)
    if twisted != (framework == "twisted"):
        restart_with("twisted" if twisted else "asyncio", cfg)
        fail(
            "crossbar.error.class_import_failed",
            "'{}' mixes autobahn's Twisted and asyncio sessions".format(cfg["classname"]),
        )
    if twisted:
        run_twisted(klass, cfg)
    else:
        run_asyncio(klass, cfg)


main()
