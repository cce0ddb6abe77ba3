"""10,000 idle authenticated WebSocket connections on one ``im serve`` process: server RSS, and
whether delivery still works (a broadcast to everyone: time until every socket has it).

Raises the open-file limit to the hard limit (needs >= connections + a few hundred).
Run: .venv/bin/python -m bench.realtime_idle [--connections 10000] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness import API, token_for
from bench.rt_common import (
    Clients,
    raise_fd_limit,
    register_many,
    rss_mib,
    start_server,
    token,
    ws_url,
)

ROOT, ROOT_PASSWORD = "idle_root", "idle-root-secret"


async def run(connections: int, workers: int, idle_seconds: float) -> None:
    limit = raise_fd_limit()
    print(f"open-file limit {limit}")
    with tempfile.TemporaryDirectory() as d:
        server = start_server(
            Path(d), IM_FIRST_SUPERUSER=ROOT, IM_FIRST_SUPERUSER_PASSWORD=ROOT_PASSWORD
        )
        assert server.proc is not None
        pid = server.proc.pid
        clients: list[Clients] = []
        try:
            started = time.perf_counter()
            users = await register_many(server.url, connections, concurrency=32)
            print(f"registered {len(users)} users in {time.perf_counter() - started:.0f} s")
            before = rss_mib(pid)
            tokens = [token(u["id"]) for u in users]
            started = time.perf_counter()
            clients = [Clients(ws_url(server), tokens[i::workers]) for i in range(workers)]
            connected = sum(c.wait_ready() for c in clients)
            print(f"{connected} connections open in {time.perf_counter() - started:.0f} s")
            await asyncio.sleep(idle_seconds)
            after = rss_mib(pid)
            print(f"server RSS: {before:.0f} MiB before, {after:.0f} MiB with {connected} idle "
                  f"connections ({(after - before) * 1024 / connected:.1f} KiB each)")  # fmt: skip
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                root = {"Authorization": f"Bearer {await token_for(http, ROOT, ROOT_PASSWORD)}"}
                stats = (await http.get(f"{API}/realtime/connection-stats", headers=root)).json()
                print(f"connection-stats: {stats}")
                sent_at = time.time()
                body = {"title": "hello-everyone", "content": "still there?"}
                r = await http.post(f"{API}/realtime/broadcast", json=body, headers=root)
                r.raise_for_status()
            count, last = 0, 0.0
            deadline = time.monotonic() + 60
            while count < connected and time.monotonic() < deadline:
                for c in clients:
                    got = c.ask("report")["arrivals"].get("hello-everyone")
                    if got:
                        count, last = count + got[0], max(last, got[1])
                await asyncio.sleep(0.01)
            print(f"broadcast to everyone: {count} of {connected} sockets got it; the last "
                  f"{(last - sent_at) * 1000:.0f} ms after POST start")  # fmt: skip
            print(f"server RSS after the broadcast: {rss_mib(pid):.0f} MiB")
            closed = sum(c.ask("report")["closed"] for c in clients)
            print(f"connections closed by the server meanwhile: {closed}")
        finally:
            for c in clients:
                c.quit()
            server.stop()


def main() -> None:
    p = argparse.ArgumentParser(prog="realtime_idle")
    p.add_argument("--connections", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--idle-seconds", type=float, default=5)
    a = p.parse_args()
    asyncio.run(run(a.connections, a.workers, a.idle_seconds))


if __name__ == "__main__":
    main()
