"""A WebSocket client worker for the realtime benchmarks (one process, many connections).

    python -m bench.ws_clients WS_URL TOKENS_FILE [--connect-concurrency N] [--source-address A]

Opens one connection per token line (from source address A when given: each loopback address
has its own ~28,000 ephemeral ports, so several workers together exceed what one address
holds), prints ``ready <n>`` and then answers commands on stdin: ``report`` prints
``{"<key>": [count, last arrival]}`` for the frames received since the last report (key: the
generated message number, or the broadcast title) and ``rss`` the process RSS in KiB; ``quit``
closes everything. A generated message's content is ``<tag>:<n>:<send time>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import uvloop
import websockets

from bench.loadgen import parse_content

_PING_EVERY_S = 30.0


class Worker:
    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = {}
        self.connections: list[websockets.ClientConnection] = []
        self.closed = 0

    def _record(self, raw: str | bytes) -> None:
        frame = json.loads(raw)
        now = time.time()
        if frame["type"] == "new_message":
            parsed = parse_content(frame["data"]["content"], "m")
            if parsed is None:
                return
            key = str(parsed[0])
        elif frame["type"] == "broadcast_received":
            key = frame["data"]["title"]
        else:
            return
        slot = self.arrivals.setdefault(key, [0, 0.0])
        slot[0] += 1
        slot[1] = max(slot[1], now)

    async def _serve(self, ws: websockets.ClientConnection) -> None:
        next_ping = time.monotonic() + random.uniform(1, _PING_EVERY_S)
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), max(0.01, next_ping - time.monotonic()))
                    self._record(raw)
                except TimeoutError:
                    await ws.send('{"type":"ping"}')
                    next_ping = time.monotonic() + _PING_EVERY_S
        except websockets.ConnectionClosed:
            self.closed += 1

    async def connect_all(
        self, url: str, tokens: list[str], concurrency: int, source: str | None = None
    ) -> None:
        gate = asyncio.Semaphore(concurrency)
        local: dict[str, Any] = {"local_addr": (source, 0)} if source else {}

        async def one(token: str) -> None:
            async with gate:
                for attempt in range(5):
                    try:
                        ws = await websockets.connect(
                            f"{url}?token={token}", ping_interval=None, open_timeout=60, **local
                        )
                        break
                    except (OSError, TimeoutError, websockets.InvalidHandshake):
                        await asyncio.sleep(0.2 * (attempt + 1))
                else:
                    raise RuntimeError("could not connect")
                await ws.recv()  # connection_established
                self.connections.append(ws)
                asyncio.get_running_loop().create_task(self._serve(ws))

        await asyncio.gather(*(one(t) for t in tokens))


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def run(url: str, tokens: list[str], concurrency: int, source: str | None) -> None:
    worker = Worker()
    await worker.connect_all(url, tokens, concurrency, source)
    print(f"ready {len(worker.connections)}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "report":
            arrivals, worker.arrivals = worker.arrivals, {}
            print(json.dumps({"arrivals": arrivals, "closed": worker.closed}), flush=True)
        elif line == "rss":
            print(json.dumps({"rss_kib": _rss_kib()}), flush=True)
        elif line == "quit":
            break
    await asyncio.gather(*(ws.close() for ws in worker.connections), return_exceptions=True)


def main() -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    p = argparse.ArgumentParser(prog="ws_clients")
    p.add_argument("url")
    p.add_argument("tokens_file")
    p.add_argument("--connect-concurrency", type=int, default=100)
    p.add_argument("--source-address", help="local address to connect from (e.g. 127.0.0.2)")
    a = p.parse_args()
    tokens = Path(a.tokens_file).read_text().split()
    uvloop.run(run(a.url, tokens, a.connect_concurrency, a.source_address))


if __name__ == "__main__":
    main()
