"""The machine's ceilings, measured in the same run as the figures they bound (``im bench``):
raw SQLite batched inserts (the log), a bare Starlette endpoint through uvicorn (HTTP) and a bare
``websockets`` broadcast (push). Each returns a dict of numbers, including the client's CPU."""

from __future__ import annotations

import asyncio
import os
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

PAYLOAD = b'{"type":"Bench","n":1,"text":"hello world, this is a benchmark payload"}'


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sqlite_inserts(events: int, batch: int = 100) -> dict[str, Any]:
    """Rows/s for raw ``executemany`` batches in WAL mode with ``synchronous=FULL`` (what the event
    store commits with by default), one transaction per batch, rows shaped like event rows."""
    with tempfile.TemporaryDirectory() as d:
        conn = sqlite3.connect(Path(d) / "raw.sqlite3", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, id TEXT UNIQUE, stream TEXT,"
            " version INTEGER, type TEXT, data BLOB, recorded_at REAL)"
        )
        started, cpu = time.perf_counter(), time.process_time()
        n = 0
        while n < events:
            rows = [
                (f"e{n + i:012d}", f"batch-{n // batch % 50}", n + i, "Bench", PAYLOAD, time.time())
                for i in range(batch)
            ]
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO events (id, stream, version, type, data, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("COMMIT")
            n += batch
        elapsed = time.perf_counter() - started
        conn.close()
    return {
        "rate": n / elapsed,
        "unit": "rows/s",
        "events": n,
        "batch": batch,
        "client_cpu_s": time.process_time() - cpu,  # the client is the inserter here
        "seconds": elapsed,
    }


def wrk(url: str, seconds: int, connections: int, header: str | None = None) -> dict[str, Any]:
    """Requests/s from ``wrk`` (one thread), with the CPU seconds wrk itself used."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    if header:
        cmd[1:1] = ["-H", header]
    before = _children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    client_cpu = _children_cpu() - before
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rate": float(match.group(1)),
        "unit": "req/s",
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "client_cpu_s": client_cpu,
        "client_cpu_share": client_cpu / seconds,  # of one core; near 1.0 means client-bound
        "seconds": seconds,
    }


def _wait_http(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def bare_starlette(seconds: int, connections: int = 50) -> dict[str, Any]:
    """``wrk`` against bench.bare_app (a constant JSON endpoint) through uvicorn, one process."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        url = f"http://127.0.0.1:{port}/const"
        _wait_http(url)
        return wrk(url, seconds, connections)
    finally:
        server.terminate()
        server.wait()


async def _broadcast(port: int, members: int, rounds: int) -> dict[str, Any]:
    uri = f"ws://127.0.0.1:{port}"
    clients: list[ClientConnection] = [
        await connect(uri, ping_interval=None, max_queue=None) for _ in range(members)
    ]
    sender = await connect(uri, ping_interval=None, max_queue=None)
    latencies: list[float] = []
    cpu = time.process_time()
    try:
        for r in range(rounds):
            started = time.perf_counter()
            await sender.send(f"round {r}")
            await asyncio.gather(*(c.recv() for c in clients))
            latencies.append(time.perf_counter() - started)
            await sender.recv()  # its own copy
    finally:
        client_cpu = time.process_time() - cpu
        for c in [*clients, sender]:
            await c.close()
    latencies.sort()
    return {
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "unit": "ms until the last member",
        "members": members,
        "rounds": rounds,
        "client_cpu_s": client_cpu,
    }


def bare_websockets(members: int, rounds: int) -> dict[str, Any]:
    """One frame broadcast by a bare ``websockets`` server to ``members`` connections: the time
    from sending it until the last member has it (clients in this process, server in another)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_ws", str(port)],
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                return asyncio.run(_broadcast(port, members, rounds))
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    print(sqlite_inserts(20_000))
    print(bare_starlette(3))
    print(bare_websockets(200, 10))
    print(os.getloadavg())
