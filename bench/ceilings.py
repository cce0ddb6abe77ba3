"""The machine's ceilings, measured in the same run as the figures they bound (``im bench``):
raw SQLite batched inserts (the log); a bare Starlette endpoint through uvicorn (HTTP) under
``wrk`` with as many connections as the figure, under one client's requests one after another,
and as a process (start until it answers, RSS); a bare ``websockets`` broadcast (push) to
connections in this process, and a bare ``websockets`` server holding idle sockets from the same
client processes as the idle-sockets figure. Each returns a dict of numbers, including the
client's CPU."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.sync.client import connect as sync_connect

from bench.rt_common import (
    Clients,
    children_cpu,
    cpu_seconds,
    last_arrival,
    rss_mib,
    source_address,
)

PAYLOAD = b'{"type":"Bench","n":1,"text":"hello world, this is a benchmark payload"}'


def free_port() -> int:
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


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(text: str) -> float:
    """A wrk duration ("635.91us", "1.20ms", "2.01s") in milliseconds."""
    match = re.fullmatch(r"([\d.]+)([a-z]+)", text)
    if match is None or match.group(2) not in _UNITS_MS:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def wrk(
    url: str,
    seconds: int,
    connections: int,
    header: str | None = None,
    *,
    threads: int = 1,
    script: Path | None = None,
    script_args: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Requests/s from ``wrk`` (``threads`` threads, one by default), its latency p50/p99 and
    the CPU seconds wrk itself used; ``script`` is a Lua script given ``script_args``."""
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if header:
        cmd += ["-H", header]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if script_args:
        cmd += ["--", *script_args]
    before = children_cpu()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    client_cpu = children_cpu() - before
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in (\S+),", out)
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.MULTILINE))
    if rate is None or total is None or set(latency) != {"50", "99"}:
        raise RuntimeError(f"wrk printed no Requests/sec or latency distribution:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rate": float(rate.group(1)),
        "unit": "req/s",
        "requests": int(total.group(1)),
        "elapsed_s": _ms(total.group(2)) / 1000,  # wrk's own measure of its run
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "connections": connections,
        "client_cpu_s": client_cpu,
        "client_cpu_share": client_cpu / seconds,  # of one core; near 1.0 means client-bound
        "seconds": seconds,
    }


@contextlib.contextmanager
def _bare_app() -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    """bench.bare_app through uvicorn in a subprocess: (its constant endpoint's URL, the process,
    seconds from starting the process until the endpoint first answered)."""
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(port),
         "--log-level", "warning"],
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/const"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=0.5).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{url} did not answer within 30 s") from None
                time.sleep(0.01)
        yield url, server, time.perf_counter() - started
    finally:
        server.terminate()
        server.wait()


def bare_starlette(seconds: int, connections: int = 50, threads: int = 1) -> dict[str, Any]:
    """``wrk`` against bench.bare_app (a constant JSON endpoint) through uvicorn, one process."""
    with _bare_app() as (url, _, _):
        return wrk(url, seconds, connections, threads=threads)


def bare_starlette_latency(requests: int) -> dict[str, Any]:
    """Latency of the bare constant endpoint for one client sending one request after another
    (``httpx``, keep-alive): what a single reader's p99 through HTTP is bounded by."""
    with _bare_app() as (url, _, _), httpx.Client() as client:
        for _ in range(20):  # warm up
            client.get(url)
        cpu = time.process_time()
        samples = []
        for _ in range(requests):
            t0 = time.perf_counter()
            client.get(url).raise_for_status()
            samples.append((time.perf_counter() - t0) * 1000)
        client_cpu = time.process_time() - cpu
    samples.sort()
    return {
        "p50_ms": samples[len(samples) // 2],
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "unit": "ms",
        "requests": requests,
        "client_cpu_s": client_cpu,
    }


def bare_process() -> dict[str, Any]:
    """A bare Starlette app through uvicorn: seconds from starting the process until it first
    answers, and its RSS then (what a cold start and an idle server are bounded by)."""
    cpu = time.process_time()
    with _bare_app() as (_, server, start_s):
        rss = rss_mib(server.pid)
    return {
        "start_s": start_s,
        "rss_mib": rss,
        "unit": "s",
        "client_cpu_s": time.process_time() - cpu,  # the polling until it answered
    }


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


BROADCAST_TITLE = "hello-everyone"


def bare_websockets_idle(connections: int, workers: int = 4) -> dict[str, Any]:
    """``connections`` idle sockets on a bare ``websockets`` server (``bench.bare_ws --idle``),
    held by ``workers`` ``bench.ws_clients`` processes: the server's RSS, and the time from
    sending one frame until the last socket has it."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_ws", str(port), "--idle"],
        cwd=Path(__file__).resolve().parents[1],
    )
    clients: list[Clients] = []
    cpu = time.process_time()
    try:
        _wait_port(port, server)
        url = f"ws://127.0.0.1:{port}/"
        tokens = ["bare"] * connections  # the bare server ignores the query
        clients = [
            Clients(url, tokens[i::workers], source_address=source_address(i))
            for i in range(workers)
        ]
        connected = sum(c.wait_ready() for c in clients)
        rss = rss_mib(server.pid)
        frame = json.dumps({"type": "broadcast_received", "data": {"title": BROADCAST_TITLE}})
        with sync_connect(url, open_timeout=30) as sender:
            sent_at = time.time()
            sender.send(frame)
            last = last_arrival(clients, BROADCAST_TITLE, connected, timeout=120)
        client_cpu = time.process_time() - cpu + sum(cpu_seconds(c.proc.pid) for c in clients)
    finally:
        for c in clients:
            c.quit()
        server.terminate()
        server.wait()
    return {
        "rss_mib": rss,
        "broadcast_ms": (last - sent_at) * 1000,
        "unit": "MiB",
        "connections": connected,
        "client_processes": workers,
        "client_cpu_s": client_cpu,
    }


def _wait_port(port: int, server: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"nothing listens on port {port} after {timeout:g} s") from None
            time.sleep(0.01)


if __name__ == "__main__":
    print(sqlite_inserts(20_000))
    print(bare_starlette(3))
    print(bare_websockets(200, 10))
    print(os.getloadavg())
