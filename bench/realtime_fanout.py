"""Fan-out: one message to a group of 1,000 connected members; time from ``POST`` start until
the last member's socket has the frame, over 100 messages sent one after another. The members'
connections live in separate client processes.

Run: .venv/bin/python -m bench.realtime_fanout [--members 1000] [--messages 100] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import API
from bench.rt_common import (
    Clients,
    cpu_seconds,
    headers,
    last_arrival,
    percentile,
    raise_fd_limit,
    register_many,
    rss_mib,
    start_server,
    token,
    ws_url,
)


async def run(members: int, messages: int, workers: int) -> dict[str, Any]:
    """Send ``messages`` one after another; return the fan-out times and the clients' CPU."""
    raise_fd_limit()
    with tempfile.TemporaryDirectory() as d:
        server = start_server(Path(d))
        assert server.proc is not None
        clients: list[Clients] = []
        try:
            users = await register_many(server.url, members)
            owner = users[0]
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                body = {
                    "name": "fan-out",
                    "member_ids": [u["id"] for u in users[1:]],
                    "max_members": members,
                }
                r = await http.post(
                    f"{API}/conversations/group", json=body, headers=headers(owner["id"])
                )
                r.raise_for_status()
                cid = r.json()["id"]
                tokens = [token(u["id"]) for u in users]
                clients = [Clients(ws_url(server), tokens[i::workers]) for i in range(workers)]
                connected = sum(c.wait_ready() for c in clients)
                print(
                    f"{connected} members connected; server RSS {rss_mib(server.proc.pid):.0f} MiB"
                )
                times: list[float] = []
                cpu = time.process_time() - sum(cpu_seconds(c.proc.pid) for c in clients)
                for n in range(messages):
                    sent_at = time.time()
                    content = f"m:{n}:{sent_at:.6f}"
                    r = await http.post(
                        f"{API}/messages/text",
                        json={"conversation_id": cid, "content": content},
                        headers=headers(owner["id"]),
                    )
                    r.raise_for_status()
                    times.append(last_arrival(clients, str(n), connected) - sent_at)
                cpu = time.process_time() + sum(cpu_seconds(c.proc.pid) for c in clients) - cpu
        finally:
            for c in clients:
                c.quit()
            server.stop()
    ms = [t * 1000 for t in times]
    return {
        "p50_ms": percentile(ms, 0.5),
        "p99_ms": percentile(ms, 0.99),
        "max_ms": max(ms),
        "unit": "ms until the last member",
        "members": members,
        "messages": messages,
        "client_cpu_s": cpu,
        "client_processes": workers,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="realtime_fanout")
    p.add_argument("--members", type=int, default=1000)
    p.add_argument("--messages", type=int, default=100)
    p.add_argument("--workers", type=int, default=4)
    a = p.parse_args()
    r = asyncio.run(run(a.members, a.messages, a.workers))
    print(f"fan-out of one message to {a.members} connected members, {a.messages} messages:")
    print(f"  POST start -> last socket: p50 {r['p50_ms']:.1f} ms, "
          f"p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms;"
          f" client CPU {r['client_cpu_s']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
