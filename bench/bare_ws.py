"""A bare ``websockets`` server that broadcasts every text frame it receives to every connection:
the ceiling for push fan-out. Run: python -m bench.bare_ws PORT [--idle]

With ``--idle`` it speaks enough of the real protocol for ``bench.ws_clients`` (the ceiling of
the idle-sockets figure): a ``connection_established`` frame on connect, and a client's
``{"type":"ping"}`` keep-alive is not broadcast."""

from __future__ import annotations

import asyncio
import sys

from websockets.asyncio.server import ServerConnection, broadcast, serve

CLIENTS: set[ServerConnection] = set()
GREETING = '{"type":"connection_established","data":{}}'
PING = '{"type":"ping"}'


async def handler(ws: ServerConnection) -> None:
    CLIENTS.add(ws)
    try:
        async for frame in ws:
            broadcast(CLIENTS, frame)
    finally:
        CLIENTS.discard(ws)


async def idle_handler(ws: ServerConnection) -> None:
    await ws.send(GREETING)
    CLIENTS.add(ws)
    try:
        async for frame in ws:
            if frame != PING:
                broadcast(CLIENTS, frame)
    finally:
        CLIENTS.discard(ws)


async def main(port: int, idle: bool) -> None:
    chosen = idle_handler if idle else handler
    async with serve(chosen, "127.0.0.1", port, ping_interval=None, max_queue=None) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), "--idle" in sys.argv[2:]))
