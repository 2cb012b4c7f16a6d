// autobahn-js (npm `autobahn`, unmodified) over WAMP-over-Long-Poll next to a WebSocket
// client on the same realm: call, register, publish, subscribe both ways, progressive-free
// plain RPC errors with kwargs, and a clean close.
//
//   node longpoll.js http://127.0.0.1:8080/lp ws://127.0.0.1:8080/ws
//
// Prints one line per check; exits 1 on the first failure.

// Node has no XMLHttpRequest, which autobahn-js's long-poll transport uses (browsers do).
global.XMLHttpRequest = require('xhr2');
const autobahn = require('autobahn');

const [lpUrl, wsUrl] = process.argv.slice(2);

function check(cond, what) {
    if (!cond) {
        console.log(`FAIL ${what}`);
        process.exit(1);
    }
    console.log(`  ok  ${what}`);
}

function open(transport) {
    return new Promise((resolve, reject) => {
        const c = new autobahn.Connection({ transports: [transport], realm: 'realm1', max_retries: 0 });
        c.onopen = (session, details) => resolve({ c, session, details });
        c.onclose = (reason, details) => {
            reject(new Error(`connection ${transport.type} closed: ${reason} ${JSON.stringify(details)}`));
            return true; // no reconnect
        };
        c.open();
    });
}

function nextEvent(list, n) {
    return new Promise((resolve, reject) => {
        const t0 = Date.now();
        const poll = () => {
            if (list.length >= n) return resolve(list[n - 1]);
            if (Date.now() - t0 > 10000) return reject(new Error('no event within 10 s'));
            setTimeout(poll, 20);
        };
        poll();
    });
}

async function main() {
    const lp = await open({ type: 'longpoll', url: lpUrl });
    check(lp.details.transport.type === 'longpoll', `long-poll session ${lp.session.id} joined realm1`);
    const ws = await open({ type: 'websocket', url: wsUrl });
    check(ws.details.transport.type === 'websocket', 'websocket session joined realm1');

    await lp.session.register('com.lp.add2', (args) => args[0] + args[1]);
    check(await ws.session.call('com.lp.add2', [2, 3]) === 5, 'websocket calls a long-poll callee');
    await ws.session.register('com.ws.echo', (args, kwargs) => new autobahn.Result(args, kwargs));
    const r = await lp.session.call('com.ws.echo', [1, 'two', [3]], { key: 'value', n: null });
    check(JSON.stringify(r.args) === '[1,"two",[3]]' && r.kwargs.key === 'value' && r.kwargs.n === null,
        'long-poll calls a websocket callee with args and kwargs');
    await ws.session.register('com.ws.fail', () => {
        throw new autobahn.Error('com.example.error', ['bad thing'], { min: 3, max: 10 });
    });
    try {
        await lp.session.call('com.ws.fail');
        check(false, 'error expected');
    } catch (e) {
        check(e.error === 'com.example.error' && e.args[0] === 'bad thing' && e.kwargs.max === 10,
            'long-poll caller gets the callee\'s error with args and kwargs');
    }

    const atLp = [];
    const atWs = [];
    await lp.session.subscribe('com.topic.ws', (args) => atLp.push(args));
    await ws.session.subscribe('com.topic.lp', (args) => atWs.push(args));
    await ws.session.publish('com.topic.ws', ['from ws'], {}, { acknowledge: true });
    check((await nextEvent(atLp, 1))[0] === 'from ws', 'long-poll subscriber gets a websocket publication');
    await lp.session.publish('com.topic.lp', ['from lp'], {}, { acknowledge: true });
    check((await nextEvent(atWs, 1))[0] === 'from lp', 'websocket subscriber gets a long-poll publication');

    // Many messages in a row: one per receive, none lost, in order.
    for (let i = 0; i < 50; i++) {
        ws.session.publish('com.topic.ws', [i]);
    }
    await nextEvent(atLp, 51);
    check(atLp.slice(1).map((a) => a[0]).join(',') === [...Array(50).keys()].join(','),
        '50 publications reach the long-poll subscriber in order');

    // Idle for longer than the service's request_timeout (2 s in the test config): the held
    // receive is answered empty, the client polls again, and the session lives on.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    check(await ws.session.call('com.lp.add2', [20, 22]) === 42, 'the long-poll session survives an idle receive timeout');

    const closed = new Promise((resolve) => {
        lp.c.onclose = (reason) => { resolve(reason); return true; };
    });
    lp.c.close();
    check(await closed === 'closed', 'long-poll connection closes cleanly');
    ws.c.onclose = () => true;
    ws.c.close();
    console.log('all ok');
}

const guard = setTimeout(() => { console.log('FAIL timeout'); process.exit(1); }, 60000);
main().then(() => { clearTimeout(guard); process.exit(0); }, (e) => { console.log(`FAIL ${e.message || e}`); process.exit(1); });
