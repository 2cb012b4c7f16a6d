"""A subscriber on node-b receives what a publisher on node-a publishes (README: a realm on
two nodes). Needs autobahn-python: pip install 'autobahn[twisted]'.

    python3 hello.py [node-a URL] [node-b URL]
"""
import asyncio
import sys

from autobahn.asyncio.wamp import ApplicationRunner, ApplicationSession


class Subscriber(ApplicationSession):
    async def onJoin(self, details):
        await self.subscribe(lambda text: received.set_result(text), "com.example.hello")
        subscribed.set_result(True)


class Publisher(ApplicationSession):
    async def onJoin(self, details):
        self.publish("com.example.hello", "hello from node-a")


NODE_A = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8080/ws"
NODE_B = sys.argv[2] if len(sys.argv) > 2 else "ws://127.0.0.1:8090/ws"


async def main():
    await ApplicationRunner(NODE_B, "realm1").run(Subscriber, start_loop=False)
    await asyncio.wait_for(subscribed, 10)
    await ApplicationRunner(NODE_A, "realm1").run(Publisher, start_loop=False)
    print("node-b received:", await asyncio.wait_for(received, 10))


loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
received, subscribed = loop.create_future(), loop.create_future()
try:
    loop.run_until_complete(main())
except asyncio.TimeoutError:
    sys.exit("nothing received")
