// autobahn-js (npm `autobahn`, unmodified, on Node) against a WAMP router: RPC with args and
// kwargs (key order kept), errors with kwargs, progressive results, pub/sub with options,
// binary payloads (Buffer, Uint8Array) and BigInt values, over WebSocket with JSON,
// MessagePack and CBOR and over RawSocket (JSON: autobahn-js's RawSocket speaks only JSON).
//
//   node interop.js ws://127.0.0.1:8080/ws 127.0.0.1:8081 [deflate]
//
// `deflate`: every WebSocket connection must have negotiated permessage-deflate (Node's `ws`,
// which autobahn-js uses, offers it by default; read from its `extensions`).
//
// Prints one line per check; exits 1 on the first failure.
const autobahn = require('autobahn');

const [wsUrl, rawAddr, expectDeflate] = process.argv.slice(2);

// The extensions each WebSocket connection negotiated (autobahn-js does not expose them).
const WebSocket = require('ws');
const negotiated = [];
const emit = WebSocket.prototype.emit;
WebSocket.prototype.emit = function (event, ...args) {
    if (event === 'open') negotiated.push(this.extensions);
    return emit.call(this, event, ...args);
};
const [rawHost, rawPort] = rawAddr.split(':');

function check(cond, what) {
    if (!cond) {
        console.log(`FAIL ${what}`);
        process.exit(1);
    }
    console.log(`  ok  ${what}`);
}

function serializer(name) {
    switch (name) {
        case 'json': return new autobahn.serializer.JSONSerializer();
        case 'msgpack': return new autobahn.serializer.MsgpackSerializer();
        case 'cbor': return new autobahn.serializer.CBORSerializer();
    }
    throw new Error(`no serializer ${name}`);
}

function open(transport) {
    return new Promise((resolve, reject) => {
        const c = new autobahn.Connection({ transports: [transport], realm: 'realm1', max_retries: 0 });
        c.onopen = (session) => resolve({ c, session });
        c.onclose = (reason, details) => {
            reject(new Error(`connection closed: ${reason} ${JSON.stringify(details)}`));
            return true; // no reconnect
        };
        c.open();
    });
}

function waitFor(cond, what) {
    return new Promise((resolve, reject) => {
        const t0 = Date.now();
        const poll = () => {
            if (cond()) return resolve();
            if (Date.now() - t0 > 10000) return reject(new Error(`timed out waiting for ${what}`));
            setTimeout(poll, 20);
        };
        poll();
    });
}

const bytesOf = (b) => Array.from(b instanceof Uint8Array ? b : []);

async function run(label, transport, ser) {
    const ns = `com.js.${label.replace(/[^a-z]/g, '')}`;
    const callee = await open(transport());
    const caller = await open(transport());
    check(true, `${label}: two sessions joined`);

    await callee.session.register(`${ns}.echo`, (args, kwargs) => new autobahn.Result(args, kwargs));
    const r = await caller.session.call(`${ns}.echo`, [1, 'two', [3], { zeta: 1, alpha: 2 }], { zulu: 1, alpha: 2, mike: null });
    check(JSON.stringify(r.args) === '[1,"two",[3],{"zeta":1,"alpha":2}]'
        && JSON.stringify(r.kwargs) === '{"zulu":1,"alpha":2,"mike":null}',
        `${label}: call with args and kwargs, key order kept (got ${JSON.stringify(r.args)} ${JSON.stringify(r.kwargs)})`);

    await callee.session.register(`${ns}.fail`, () => {
        throw new autobahn.Error(`${ns}.bounds`, ['out of range'], { min: 3, max: 10 });
    });
    try {
        await caller.session.call(`${ns}.fail`);
        check(false, `${label}: error expected`);
    } catch (e) {
        check(e.error === `${ns}.bounds` && e.args[0] === 'out of range' && JSON.stringify(e.kwargs) === '{"min":3,"max":10}',
            `${label}: an error keeps its URI, args and kwargs in order (got ${e.error} ${JSON.stringify(e.kwargs)})`);
    }
    try {
        await caller.session.call(`${ns}.nope`);
        check(false, `${label}: error expected`);
    } catch (e) {
        check(e.error === 'wamp.error.no_such_procedure', `${label}: unknown procedure → wamp.error.no_such_procedure`);
    }

    await callee.session.register(`${ns}.progress`, (args, kwargs, details) => {
        if (details.progress) {
            details.progress([1]);
            details.progress([2]);
        }
        return 3;
    });
    const progress = [];
    const final = await caller.session.call(`${ns}.progress`, [], {}, { receive_progress: true })
        .then((v) => v, null, (p) => progress.push(p));
    check(JSON.stringify(progress) === '[1,2]' && final === 3,
        `${label}: progressive results, then the final one (got ${JSON.stringify(progress)} then ${final})`);

    const events = [];
    await callee.session.subscribe(`${ns}.topic`, (args, kwargs, details) => events.push({ args, kwargs, details }));
    const mine = [];
    await caller.session.subscribe(`${ns}.topic`, (args) => mine.push(args));
    const pub = await caller.session.publish(`${ns}.topic`, [1, 'a'], { k: 2 }, { acknowledge: true, exclude_me: false });
    check(pub && typeof pub.id === 'number', `${label}: acknowledged publish returns a publication id`);
    await waitFor(() => events.length === 1 && mine.length === 1, 'the event at both subscribers');
    check(JSON.stringify(events[0].args) === '[1,"a"]' && events[0].kwargs.k === 2,
        `${label}: the event carries args and kwargs; exclude_me false reaches the publisher too`);
    await caller.session.publish(`${ns}.topic`, ['only-callee'], {}, { acknowledge: true, eligible: [callee.session.id] });
    await waitFor(() => events.length === 2, 'the eligible event');
    check(mine.length === 1 && events[1].args[0] === 'only-callee', `${label}: eligible limits the receivers`);

    if (ser !== 'json') {
        const buf = Buffer.from([0, 1, 2, 254, 255]);
        const b = await caller.session.call(`${ns}.echo`, [buf]);
        check(JSON.stringify(bytesOf(b)) === JSON.stringify(bytesOf(buf)), `${label}: a Buffer round-trips as bytes`);
        const u8 = new Uint8Array([9, 8, 7]);
        const u = await caller.session.call(`${ns}.echo`, [u8]);
        check(JSON.stringify(bytesOf(u)) === '[9,8,7]', `${label}: a Uint8Array round-trips (got ${u && u.constructor.name})`);
    }
    if (ser === 'cbor') {
        const big = 2n ** 80n + 5n;
        const v = await caller.session.call(`${ns}.echo`, [big]);
        check(typeof v === 'bigint' && v === big, `${label}: a BigInt beyond 64 bits round-trips (got ${typeof v} ${v})`);
    }

    callee.c.close();
    caller.c.close();
}

async function main() {
    for (const ser of ['json', 'msgpack', 'cbor']) {
        await run(`websocket/${ser}`, () => ({ type: 'websocket', url: wsUrl, serializers: [serializer(ser)] }), ser);
    }
    if (expectDeflate === 'deflate') {
        // `extensions` is the response's Sec-WebSocket-Extensions value.
        check(negotiated.length > 0 && negotiated.every((e) => String(e || '').startsWith('permessage-deflate')),
            `every WebSocket connection negotiated permessage-deflate (${negotiated.map((e) => e || 'none').join(', ')})`);
    }
    await run('rawsocket/json', () => ({ type: 'rawsocket', host: rawHost, port: Number(rawPort) }), 'json');
    console.log('all ok');
    process.exit(0);
}

main().catch((e) => {
    console.log(`FAIL ${e && e.stack ? e.stack : e}`);
    process.exit(1);
});
