#!/usr/bin/env python3
"""MQTT clients (paho-mqtt, mosquitto_pub/mosquitto_sub) and an autobahn-python WAMP client on
one realm of a router with MQTT transports (tests/data/mqtt-config.json).

    mqtt.py --ws ws://127.0.0.1:8080/ws --mqtt 1883 --mqtt-auth 1884 --universal 1885
    mqtt.py --ws ws://127.0.0.1:8080/ws --mqtt 1883 --transcript

Prints one line per check and exits 1 on the first failure. With `--transcript`, runs the
part Crossbar.io supports too and prints what the clients received as one `TRANSCRIPT` JSON
line, for comparing both routers byte for byte.
"""
import argparse
import asyncio
import json
import socket
import subprocess
import sys
import threading
import time

import msgpack
import paho.mqtt.client as paho
from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.types import ComponentConfig, PublishOptions, SubscribeOptions

# The shared helpers of the interop scripts (same directory).
from interop import TIMEOUT, Failure, check, wait_for


async def wamp_session(url):
    loop = asyncio.get_running_loop()
    joined = loop.create_future()

    class Client(ApplicationSession):
        def onJoin(self, details):
            joined.set_result(self)

    factory = WampWebSocketClientFactory(lambda: Client(ComponentConfig("realm1")), url=url)
    host, port = url.split("//")[1].split("/")[0].split(":")
    await asyncio.wait_for(loop.create_connection(factory, host, int(port)), TIMEOUT)
    return await asyncio.wait_for(joined, TIMEOUT)


class Mqtt:
    """A paho-mqtt client on its own network thread; records what it receives."""

    def __init__(self, port, client_id, username=None, password=None, will=None):
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id)
        if username:
            self.c.username_pw_set(username, password)
        if will:
            self.c.will_set(*will)
        self.connected = threading.Event()
        self.rc = None
        self.messages = []
        self.subacks = {}
        self.acked = set()
        self.unsubacks = set()
        self.c.on_unsubscribe = lambda c, u, mid, codes, p: self.unsubacks.add(mid)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.messages.append((m.topic, bytes(m.payload), m.qos, m.retain))
        self.c.on_subscribe = lambda c, u, mid, codes, p: self.subacks.__setitem__(mid, [int(x.value) for x in codes])
        self.c.on_publish = lambda c, u, mid, rc, p: self.acked.add(mid)
        self.port = port

    def _on_connect(self, c, u, flags, rc, props):
        self.rc = rc.value if hasattr(rc, "value") else rc
        self.connected.set()

    async def connect(self):
        self.c.connect("127.0.0.1", self.port, keepalive=30)
        self.c.loop_start()
        await wait_for(self.connected.is_set, "CONNACK")
        return self.rc

    async def subscribe(self, topic, qos=1):
        _, mid = self.c.subscribe(topic, qos)
        await wait_for(lambda: mid in self.subacks, f"SUBACK for {topic}")
        return self.subacks[mid]

    async def publish(self, topic, payload, qos=1, retain=False):
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        if qos > 0:
            await wait_for(lambda: info.mid in self.acked, f"PUBACK for {topic}")
        return info

    async def unsubscribe(self, topic):
        _, mid = self.c.unsubscribe(topic)
        await wait_for(lambda: mid in self.unsubacks, f"UNSUBACK for {topic}")

    def got(self, topic):
        return [m for m in self.messages if m[0] == topic]

    def stop(self):
        self.c.disconnect()
        self.c.loop_stop()


def native(args=None, kwargs=None):
    d = {}
    if args is not None:
        d["args"] = args
    if kwargs is not None:
        d["kwargs"] = kwargs
    return json.dumps(d).encode()


async def run(a):
    wamp = await wamp_session(a.ws)
    events = []

    def recorder(name):
        def on_event(*args, details=None, **kwargs):
            events.append((name, args, kwargs, details))

        return on_event

    def named(name):
        return [e for e in events if e[0] == name]

    # --- MQTT subscriber, WAMP publisher: topic and payload mapping, wildcards, QoS granted.
    sub = Mqtt(a.mqtt, "sub1")
    check(await sub.connect() == 0, "paho connects anonymously (CONNACK 0)")
    check(await sub.subscribe("sensors/+/temp", qos=1) == [1], "subscribe with + granted QoS 1")
    check(await sub.subscribe("sensors/#", qos=0) == [0], "subscribe with # granted QoS 0")
    check(await sub.subscribe("bad/+/#") == [128], "a filter with + and # (not expressible in WAMP) gets return code 0x80")
    await wamp.publish("sensors.kitchen.temp", 21.5, unit="C", options=PublishOptions(acknowledge=True))
    await wait_for(lambda: len(sub.got("sensors/kitchen/temp")) == 2, "the event on both filters")
    payloads = {(m[2], m[1]) for m in sub.got("sensors/kitchen/temp")}
    expected = json.dumps({"args": [21.5], "kwargs": {"unit": "C"}}, separators=(",", ":")).encode()
    check(payloads == {(1, expected), (0, expected)},
          f"WAMP event reaches MQTT as native JSON at the granted QoS (got {payloads})")

    # --- MQTT publisher, WAMP subscriber: QoS 0, 1 and 2, args and kwargs in order.
    await wamp.subscribe(recorder("cmd"), "app.cmd", options=SubscribeOptions(details=True))
    pub = Mqtt(a.mqtt, "pub1")
    await pub.connect()
    await pub.publish("app/cmd", native([1, 2], {"zeta": 1, "alpha": 2}), qos=1)
    check(True, "QoS 1 PUBLISH is acknowledged (PUBACK)")
    await pub.publish("app/cmd", native(["q0"]), qos=0)
    info = pub.c.publish("app/cmd", native(["q2"]), qos=2)
    await wait_for(lambda: info.mid in pub.acked, "QoS 2 PUBCOMP")
    check(True, "QoS 2 PUBLISH completes (PUBREC, PUBREL, PUBCOMP)")
    await wait_for(lambda: len(named("cmd")) == 3, "three events from MQTT")
    got = [(e[1], e[2]) for e in named("cmd")]
    check(got[0] == ((1, 2), {"zeta": 1, "alpha": 2}) and list(got[0][1]) == ["zeta", "alpha"],
          f"MQTT native JSON arrives as WAMP args and kwargs, key order kept (got {got[0]})")
    check({g[0] for g in got[1:]} == {("q0",), ("q2",)}, "QoS 0 and QoS 2 publications arrive once each")

    # --- Retained: MQTT retain → WAMP retention, for later MQTT and WAMP subscribers.
    await pub.publish("state/door", native(["open"]), qos=1, retain=True)
    late = Mqtt(a.mqtt, "late1")
    await late.connect()
    await late.subscribe("state/door")
    await wait_for(lambda: late.got("state/door"), "retained message for a later MQTT subscriber")
    m = late.got("state/door")[0]
    check(m[3] is True and json.loads(m[1]) == {"args": ["open"]}, "a later MQTT subscriber gets the retained message with retain=1")
    await wamp.subscribe(recorder("door"), "state.door", options=SubscribeOptions(details=True, get_retained=True))
    await wait_for(lambda: named("door"), "retained event for a WAMP subscriber")
    check(named("door")[0][1] == ("open",) and named("door")[0][3].retained, "a WAMP subscriber with get_retained gets it as retained")
    await late.subscribe("state/#")
    await wait_for(lambda: len(late.got("state/door")) == 2, "retained message for a # filter")
    check(True, "a # filter gets the retained messages it matches")

    # --- Passthrough: bytes unchanged MQTT → MQTT, and one binary argument in WAMP.
    await wamp.subscribe(recorder("raw"), "raw.blob", options=SubscribeOptions(details=True))
    await sub.subscribe("raw/#")
    blob = bytes(range(256)) + b"not json"
    await pub.publish("raw/blob", blob, qos=1)
    await wait_for(lambda: sub.got("raw/blob") and named("raw"), "passthrough message")
    check(sub.got("raw/blob")[0][1] == blob, "passthrough payload reaches an MQTT subscriber byte for byte")
    check(named("raw")[0][1] == (blob,), "a WAMP subscriber sees a passthrough payload as one binary argument")
    await wamp.publish("raw.blob", b"\x01\x02", options=PublishOptions(acknowledge=True))
    await wait_for(lambda: len(sub.got("raw/blob")) == 2, "WAMP binary argument to a passthrough MQTT subscriber")
    check(sub.got("raw/blob")[1][1] == b"\x01\x02", "a WAMP event with one binary argument reaches MQTT as its bytes")

    # --- Dynamic: payloads converted by WAMP procedures.
    await wamp.register(lambda uri, topic, payload: {"args": [payload.decode().upper(), uri, topic]}, "codec.decode")
    await wamp.register(lambda topic, uri, args, kwargs: ("enc:" + args[0] + ":" + topic).encode(), "codec.encode")
    await wamp.subscribe(recorder("dyn"), "dyn.in", options=SubscribeOptions(details=True))
    await pub.publish("dyn/in", b"hello", qos=1)
    await wait_for(lambda: named("dyn"), "decoded event")
    check(named("dyn")[0][1] == ("HELLO", "dyn.in", "dyn/in"), "the decoder procedure turns an MQTT payload into WAMP args")
    await sub.subscribe("dyn/out")
    await wamp.publish("dyn.out", "abc", options=PublishOptions(acknowledge=True))
    await wait_for(lambda: sub.got("dyn/out"), "encoded message")
    check(sub.got("dyn/out")[0][1] == b"enc:abc:dyn/out", "the encoder procedure turns a WAMP event into an MQTT payload")

    # --- Unsubscribe.
    await sub.unsubscribe("dyn/out")
    n = len(sub.got("dyn/out"))
    await wamp.publish("dyn.out", "again", options=PublishOptions(acknowledge=True))
    marker = len(sub.got("sensors/kitchen/temp"))
    await wamp.publish("sensors.kitchen.temp", 1, options=PublishOptions(acknowledge=True))
    await wait_for(lambda: len(sub.got("sensors/kitchen/temp")) == marker + 2, "an event after unsubscribe")
    check(len(sub.got("dyn/out")) == n, "no message on a filter after UNSUBSCRIBE")

    # --- Last will: published when the connection is lost, not after DISCONNECT.
    await wamp.subscribe(recorder("will"), "clients.gone", options=SubscribeOptions(details=True))
    clean = Mqtt(a.mqtt, "clean1", will=("clients/gone", native(["clean"]), 1))
    await clean.connect()
    clean.stop()
    crash = Mqtt(a.mqtt, "crash1", will=("clients/gone", native(["crashed"]), 1))
    await crash.connect()
    crash.c.socket().shutdown(socket.SHUT_RDWR)
    await wait_for(lambda: named("will"), "the last will")
    await asyncio.sleep(0.3)
    check([e[1] for e in named("will")] == [("crashed",)], "the last will is published for a lost connection only")

    # --- Authentication: ticket from username and password; the role's grants apply.
    good = Mqtt(a.mqtt_auth, "dev7", "sensor7", "secret7")
    check(await good.connect() == 0, "username/password accepted as a ticket (CONNACK 0)")
    bad = Mqtt(a.mqtt_auth, "dev8", "sensor7", "wrong")
    rc = await bad.connect()
    # paho reports MQTT 3.1.1 return codes as reason codes: 4 → 134.
    check(rc == 134, f"a wrong password is refused: bad user name or password (CONNACK {rc})")
    bad.c.loop_stop()
    anon = Mqtt(a.mqtt_auth, "dev9")
    rc = await anon.connect()
    check(rc == 135, f"anonymous is refused where only ticket is configured: not authorized (CONNACK {rc})")
    anon.c.loop_stop()
    await wamp.subscribe(recorder("dev"), "devices.d7", options=SubscribeOptions(details=True))
    await good.publish("devices/d7", native(["reading"]), qos=1)
    await good.publish("other/topic", native(["denied"]), qos=1)
    await wait_for(lambda: named("dev"), "event from the authenticated device")
    check(named("dev")[0][3].publisher is None and named("dev")[0][1] == ("reading",), "the device publishes under its role")
    check(await good.subscribe("other/#") == [128], "a subscription the role does not grant gets 0x80")

    # --- A malformed packet closes that connection only.
    s = socket.create_connection(("127.0.0.1", a.mqtt), timeout=TIMEOUT)
    s.sendall(bytes([0x10, 0x0C, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x3C, 0x00, 0x00]))
    check(s.recv(4) == bytes([0x20, 0x02, 0x00, 0x00]), "a raw CONNECT gets CONNACK 0")
    s.sendall(bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))  # a remaining length of five bytes
    s.settimeout(TIMEOUT)
    check(s.recv(16) == b"", "a malformed packet closes the connection")
    s.close()
    before = len(sub.got("sensors/kitchen/temp"))
    await pub.publish("sensors/hall/temp", native([19]), qos=1)
    await wait_for(lambda: sub.got("sensors/hall/temp"), "other clients still served")
    check(len(sub.got("sensors/kitchen/temp")) == before, "other MQTT connections keep working")

    # --- Universal transport: MQTT recognized on a shared port, MessagePack payloads.
    uni = Mqtt(a.universal, "uni1")
    check(await uni.connect() == 0, "MQTT on a universal transport's port")
    await uni.subscribe("uni/#")
    await wamp.publish("uni.x", 7, k="v", options=PublishOptions(acknowledge=True))
    await wait_for(lambda: uni.got("uni/x"), "message on the universal transport")
    check(msgpack.unpackb(uni.got("uni/x")[0][1]) == {"args": [7], "kwargs": {"k": "v"}}, "native MessagePack payload")

    # --- mosquitto_sub and mosquitto_pub, as a user would.
    mosq_sub = subprocess.Popen(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(a.mqtt), "-t", "mosq/#", "-q", "1", "-C", "1", "-v", "-W", "10"],
        stdout=subprocess.PIPE, text=True)
    # Published until the subscriber (started concurrently) has it: a bounded wait on the condition.
    deadline = time.monotonic() + TIMEOUT
    while mosq_sub.poll() is None and time.monotonic() < deadline:
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(a.mqtt), "-t", "mosq/a", "-q", "1",
                        "-m", '{"args": ["from mosquitto"]}'], check=True, timeout=TIMEOUT)
        await asyncio.sleep(0.1)
    out = mosq_sub.communicate(timeout=TIMEOUT)[0]
    check(out.strip() == 'mosq/a {"args":["from mosquitto"]}', f"mosquitto_pub → mosquitto_sub through the realm (got {out!r})")
    await wamp.subscribe(recorder("mosq"), "mosq.b", options=SubscribeOptions(details=True))
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(a.mqtt), "-t", "mosq/b", "-q", "1",
                    "-m", '{"args": [1, 2, 3], "kwargs": {"who": "mosquitto"}}'], check=True, timeout=TIMEOUT)
    await wait_for(lambda: named("mosq"), "mosquitto_pub event in WAMP")
    check((named("mosq")[0][1], named("mosq")[0][2]) == ((1, 2, 3), {"who": "mosquitto"}), "mosquitto_pub reaches a WAMP subscriber")

    for c in (sub, pub, late, good, uni):
        c.stop()
    wamp.leave()


async def transcript(a):
    """What MQTT and WAMP clients receive through the `""` native JSON mapping."""
    out = {}
    wamp = await wamp_session(a.ws)
    sub = Mqtt(a.mqtt, "t-sub")
    await sub.connect()
    out["suback"] = await sub.subscribe("m/#", qos=0)
    await wamp.publish("m.out", 21.5, "é", unit="C", options=PublishOptions(acknowledge=True))
    await wamp.publish("m.out2", options=PublishOptions(acknowledge=True))
    await wait_for(lambda: len(sub.messages) == 2, "two messages")
    out["mqtt_received"] = [[t, p.decode(), q, r] for t, p, q, r in sub.messages]

    events = []
    await wamp.subscribe(lambda *args, details=None, **kw: events.append([list(args), list(kw.items()), details.retained]),
                         "m.in", options=SubscribeOptions(details=True))
    pub = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(a.mqtt), "-t", "m/in", "-q", "1"]
    subprocess.run(pub + ["-m", '{"args": [1], "kwargs": {"z": 1, "a": 2}}'], check=True, timeout=TIMEOUT)
    subprocess.run(pub + ["-m", "not json"], check=True, timeout=TIMEOUT)
    subprocess.run(pub + ["-r", "-m", '{"args": ["ret"]}'], check=True, timeout=TIMEOUT)
    await wait_for(lambda: len(events) == 2, "two events from mosquitto_pub")
    out["wamp_received"] = events

    later = await wamp_session(a.ws)
    retained = []
    await later.subscribe(lambda *args, details=None, **kw: retained.append([list(args), details.retained]),
                          "m.in", options=SubscribeOptions(details=True, get_retained=True))
    await wait_for(lambda: retained, "the retained event")
    out["wamp_retained"] = retained
    late = Mqtt(a.mqtt, "t-late")
    await late.connect()
    await late.subscribe("m/in", qos=0)
    await wait_for(lambda: late.messages, "the retained message")
    out["mqtt_retained"] = [[t, p.decode(), q, r] for t, p, q, r in late.messages]
    for c in (sub, late):
        c.stop()
    print("TRANSCRIPT " + json.dumps(out, ensure_ascii=False), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ws", required=True)
    ap.add_argument("--mqtt", type=int, required=True)
    ap.add_argument("--mqtt-auth", type=int)
    ap.add_argument("--universal", type=int)
    ap.add_argument("--transcript", action="store_true")
    a = ap.parse_args()
    try:
        asyncio.run(transcript(a) if a.transcript else run(a))
    except Failure as e:
        print(f"FAIL {e}", flush=True)
        sys.exit(1)
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
