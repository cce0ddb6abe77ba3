"""End-to-end delivery latency: ``POST /messages/text`` start -> the frame at another member,
with messages sent at a fixed rate (default 500/s) by a separate load-generator process.

Run: .venv/bin/python -m bench.realtime_latency [--rate 500] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvloop
import websockets

from bench.harness import API
from bench.loadgen import parse_content
from bench.rt_common import (
    children_cpu,
    headers,
    percentile,
    register_many,
    start_server,
    token,
    ws_url,
)


async def figures(rate: float, seconds: float, concurrency: int) -> dict[str, Any]:
    """Send ``rate * seconds`` messages at ``rate``/s from a ``bench.loadgen`` process into a
    group of two; the other member's socket times each from ``POST`` start to its frame."""
    count = int(rate * seconds)
    with tempfile.TemporaryDirectory() as d:
        server = start_server(Path(d))
        try:
            sender, receiver = await register_many(server.url, 2, concurrency=2)
            async with httpx.AsyncClient(base_url=server.url) as http:
                body = {"name": "latency", "member_ids": [receiver["id"]]}
                r = await http.post(
                    f"{API}/conversations/group", json=body, headers=headers(sender["id"])
                )
                cid = r.json()["id"]
            url = f"{ws_url(server)}?token={token(receiver['id'])}"
            latencies: list[float] = []
            after_event: list[float] = []
            children = children_cpu()
            cpu = time.process_time()
            async with websockets.connect(url, ping_interval=None) as ws:
                await ws.recv()
                load = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.loadgen", server.url, token(sender["id"]),
                    str(cid), str(count), "--rate", str(rate),
                    "--concurrency", str(concurrency), stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                while len(latencies) < count:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if frame["type"] != "new_message":
                        continue
                    parsed = parse_content(frame["data"]["content"], "m")
                    if parsed is not None:
                        now = time.time()
                        latencies.append(now - parsed[1])
                        after_event.append(now - _epoch(frame["timestamp"]))
                out, _ = await load.communicate()
            # the receiver (this process) and the load generator (a child, reaped by now)
            client_cpu = time.process_time() - cpu + children_cpu() - children
            sent = json.loads(out)
        finally:
            server.stop()
    ms = [x * 1000 for x in latencies]
    push = [x * 1000 for x in after_event]
    return {
        "p99_ms": percentile(ms, 0.99),
        "unit": "ms",
        "p50_ms": percentile(ms, 0.5),
        "max_ms": max(ms),
        "messages": count,
        "target_rate": rate,
        "achieved_rate": sent["per_second"],
        "http_p50_ms": sent["http_p50_ms"],
        "http_p99_ms": sent["http_p99_ms"],
        "failures": sent["failures"],
        # from the event's time (set by the command handler) to the frame
        "push_p50_ms": percentile(push, 0.5),
        "push_p99_ms": percentile(push, 0.99),
        "client_processes": 2,
        "client_cpu_s": client_cpu,
    }


async def run(rate: float, seconds: float, concurrency: int) -> None:
    r = await figures(rate, seconds, concurrency)
    print(f"messages: {r['messages']} at a target of {rate:.0f}/s;"
          f" achieved {r['achieved_rate']:.0f}/s")  # fmt: skip
    print(f"HTTP POST /messages/text: p50 {r['http_p50_ms']:.1f} ms, p99 "
          f"{r['http_p99_ms']:.1f} ms, failures {r['failures']}")  # fmt: skip
    print(f"delivery (POST start -> frame at the other member): p50 {r['p50_ms']:.1f} ms,"
          f" p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms")  # fmt: skip
    print(f"of which event time (set by the command handler) -> frame: p50 "
          f"{r['push_p50_ms']:.1f} ms, p99 {r['push_p99_ms']:.1f} ms")  # fmt: skip


def _epoch(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def main() -> None:
    p = argparse.ArgumentParser(prog="realtime_latency")
    p.add_argument("--rate", type=float, default=500)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--concurrency", type=int, default=48)
    a = p.parse_args()
    uvloop.run(run(a.rate, a.seconds, a.concurrency))


if __name__ == "__main__":
    main()
