#!/usr/bin/env python3
"""Call queues (a realm `store` with `call-queue`) with unmodified autobahn-python, after
Crossbar.io's example scaling-microservices/queued: two round-robin callees with REGISTER
concurrency 2 and 3, and more calls at once than they take. `call_queue.py --url URL
[--crossbar]`: the checks, one line each, exit 1 on the first failure. With --crossbar only
the checks Crossbar.io passes too (its queues have no limit, take every registration once the
realm has a store, and keep waiting calls through CANCEL and the callee leaving)."""
import argparse
import asyncio

from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, RegisterOptions

MAX = "crossbar.error.max_concurrency_reached"


class Kernel:
    """A callee that counts how many invocations it runs at once."""

    def __init__(self, name, delay):
        self.name, self.delay = name, delay
        self.running = self.peak = self.served = 0

    async def compute(self, call_no):
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.running -= 1
        self.served += 1
        return {"call_no": call_no, "kernel": self.name}


async def run(url, crossbar):
    from interop import check, connect, expect_error, wait_for

    # The example: 20 calls at once to two kernels taking 2 and 3 at a time.
    kernels = []
    for name, limit in (("a", 2), ("b", 3)):
        k = Kernel(name, 0.3)
        s = await connect(url, "json")
        await s.register(k.compute, "com.example.compute",
                         options=RegisterOptions(invoke="roundrobin", concurrency=limit))
        kernels.append((k, limit, s))
    caller = await connect(url, "msgpack")
    results = await asyncio.gather(*(caller.call("com.example.compute", i) for i in range(20)))
    check(sorted(r["call_no"] for r in results) == list(range(20)),
          "20 calls beyond the callees' concurrency all succeed, each once")
    check(all(k.peak <= limit for k, limit, _ in kernels),
          f"no callee ran more than its concurrency ({[(k.name, k.peak) for k, _, _ in kernels]})")
    check(all(k.peak == limit for k, limit, _ in kernels) and sum(k.served for k, _, _ in kernels) == 20,
          "both callees worked at their limit")
    if crossbar:
        return

    # A full queue refuses the call as a registration without a queue would.
    slow = Kernel("slow", 1.0)
    s = await connect(url, "json")
    await s.register(slow.compute, "com.example.small", options=RegisterOptions(concurrency=1))
    running = asyncio.ensure_future(caller.call("com.example.small", 0))
    await wait_for(lambda: slow.running == 1, "the first call runs")
    waiting = [asyncio.ensure_future(caller.call("com.example.small", i)) for i in (1, 2)]
    await asyncio.sleep(0.1)
    await expect_error(caller.call("com.example.small", 3), MAX, "a call beyond the queue's limit of 2")
    check([r["call_no"] for r in await asyncio.gather(running, *waiting)] == [0, 1, 2],
          "the queued calls run in order once places free up")

    # Without a call-queue entry, a callee at its limit refuses the call.
    busy = Kernel("busy", 1.0)
    await s.register(busy.compute, "com.example.unqueued", options=RegisterOptions(concurrency=1))
    first = asyncio.ensure_future(caller.call("com.example.unqueued", 0))
    await wait_for(lambda: busy.running == 1, "the unqueued call runs")
    await expect_error(caller.call("com.example.unqueued", 1), MAX, "a procedure without a call queue")
    await first

    # A waiting call can be canceled; the others keep their turn.
    running = asyncio.ensure_future(caller.call("com.example.small", 10))
    await wait_for(lambda: slow.running == 1, "a call runs")
    canceled = asyncio.ensure_future(caller.call("com.example.small", 11, options=CallOptions()))
    kept = asyncio.ensure_future(caller.call("com.example.small", 12))
    await asyncio.sleep(0.1)
    canceled.cancel()
    try:
        await canceled
    except asyncio.CancelledError:
        pass
    check([r["call_no"] for r in await asyncio.gather(running, kept)] == [10, 12],
          "a canceled waiting call is skipped")
    check(slow.served == 5, f"the canceled call never reached the callee (served {slow.served})")

    # The last callee leaving fails the calls still waiting.
    running = asyncio.ensure_future(caller.call("com.example.small", 20))
    await wait_for(lambda: slow.running == 1, "a call runs")
    waiting = asyncio.ensure_future(caller.call("com.example.small", 21))
    await asyncio.sleep(0.1)
    s.leave()
    for what, fut in (("the running call", running), ("the waiting call", waiting)):
        try:
            await fut
            check(False, f"{what} fails when the callee leaves")
        except ApplicationError as e:
            check(e.error in ("wamp.error.canceled", "wamp.error.no_such_procedure"),
                  f"{what} fails when the callee leaves ({e.error})")
    check(await caller.call("com.example.compute", 99) is not None, "the other registration still works")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--crossbar", action="store_true")
    args = ap.parse_args()
    print(f"# call queues over {args.url}", flush=True)
    await run(args.url, args.crossbar)


if __name__ == "__main__":
    from interop import run_main

    run_main(main, timeout=90)
