"""Resources under abuse, on a real ``im serve``.

1. Peak RSS while 20 clients each send a 200 MB JSON body (target: growth < 50 MiB), once with
   ``Content-Length`` (refused before reading) and once chunked (refused while streaming).
2. Login latency (p50/p99) while 16 clients flood registration (target p99 < 100 ms), with the
   production rate limits (registration limited per address) and with rate limits off (every
   registration hashes: what the separate login pool is for). Argon2 at the production cost.

Run: .venv/bin/python -m bench.abuse [--clients 20] [--mb 200] [--flooders 16] [--logins 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness import API, PASSWORD, ServerProcess

MIB = 1024 * 1024


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def sample_peak(pid: int, stop: asyncio.Event) -> int:
    peak = 0
    while not stop.is_set():
        peak = max(peak, rss_kib(pid))
        await asyncio.sleep(0.02)
    return max(peak, rss_kib(pid))


async def big_body(port: int, megabytes: int, chunked: bool) -> tuple[int, int]:
    """Send a ``megabytes`` JSON body until the server answers; (status, bytes sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    total = megabytes * MIB
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    writer.write(
        f"POST {API}/users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"{framing}\r\n\r\n".encode()
    )
    chunk = b'{"a": "' + b"x" * (MIB - 16) + b'",    '
    chunk = chunk[:MIB]
    sent = 0
    answer = asyncio.create_task(reader.readline())
    try:
        while sent < total and not answer.done():
            piece = b"%x\r\n" % len(chunk) + chunk + b"\r\n" if chunked else chunk
            writer.write(piece)
            await writer.drain()
            sent += len(chunk)
        status_line = await asyncio.wait_for(answer, 30)
        return int(status_line.split()[1]), sent
    except (ConnectionError, asyncio.IncompleteReadError):
        if answer.done() and not answer.exception():
            return int(answer.result().split()[1]), sent
        return 0, sent
    finally:
        answer.cancel()
        writer.close()


async def body_flood(clients: int, megabytes: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        server = ServerProcess(Path(d) / "data").start()
        try:
            assert server.proc is not None
            pid = server.proc.pid
            async with httpx.AsyncClient(base_url=server.url) as c:  # warm up
                await c.get("/health")
            for chunked in (False, True):
                base = rss_kib(pid)
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_peak(pid, stop))
                started = time.perf_counter()
                results = await asyncio.gather(
                    *[big_body(server.port, megabytes, chunked) for _ in range(clients)]
                )
                took = time.perf_counter() - started
                stop.set()
                peak = await sampler
                statuses = sorted({s for s, _ in results})
                sent = sum(n for _, n in results) / MIB
                kind = "chunked" if chunked else "Content-Length"
                print(
                    f"{clients} x {megabytes} MB JSON ({kind}): statuses {statuses}, "
                    f"{sent:,.0f} MiB sent before the answer, RSS {base / 1024:.0f} -> peak "
                    f"{peak / 1024:.0f} MiB (growth {(peak - base) / 1024:.1f} MiB), {took:.1f} s",
                    flush=True,
                )
        finally:
            server.stop()


async def login_under_flood(flooders: int, logins: int, limits: bool) -> None:
    env = {
        "IM_PASSWORD_MEMORY_KIB": "19456",
        "IM_RATE_LIMIT_ENABLED": "true" if limits else "false",
        "IM_RATE_LIMIT_LOGIN_PER_MINUTE": "1000000",  # the measuring client itself
    }
    with tempfile.TemporaryDirectory() as d:
        server = ServerProcess(Path(d) / "data", **env).start()
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
                sid = "bench_login"
                r = await c.post(
                    f"{API}/users/", json={"standard_id": sid, "name": sid, "password": PASSWORD}
                )
                assert r.status_code == 201, r.text
                form = {"username": sid, "password": PASSWORD}

                async def one_login() -> float:
                    started = time.perf_counter()
                    r = await c.post(f"{API}/auth/login/access-token", data=form)
                    assert r.status_code == 200, r.text
                    return time.perf_counter() - started

                quiet = [await one_login() for _ in range(20)]
                stop = asyncio.Event()
                answers: dict[int, int] = {}

                async def flood(k: int) -> None:
                    async with httpx.AsyncClient(base_url=server.url, timeout=60) as f:
                        n = 0
                        while not stop.is_set():
                            n += 1
                            body = {"standard_id": f"f{k}_{n}", "name": "x", "password": PASSWORD}
                            r = await f.post(f"{API}/users/", json=body)
                            answers[r.status_code] = answers.get(r.status_code, 0) + 1

                tasks = [asyncio.create_task(flood(k)) for k in range(flooders)]
                await asyncio.sleep(1.0)
                loaded = [await one_login() for _ in range(logins)]
                stop.set()
                await asyncio.gather(*tasks)
            print(
                f"login with {flooders} clients flooding registration (rate limits "
                f"{'on' if limits else 'off'}): p50 {_ms(loaded, 50)}, p99 {_ms(loaded, 99)} "
                f"(quiet: p50 {_ms(quiet, 50)}, p99 {_ms(quiet, 99)}); registrations answered "
                f"{dict(sorted(answers.items()))}",
                flush=True,
            )
        finally:
            server.stop()


def _ms(samples: list[float], pct: int) -> str:
    if pct == 50:
        return f"{statistics.median(samples) * 1000:.1f} ms"
    ordered = sorted(samples)
    return f"{ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] * 1000:.1f} ms"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--mb", type=int, default=200)
    p.add_argument("--flooders", type=int, default=16)
    p.add_argument("--logins", type=int, default=200)
    args = p.parse_args()
    asyncio.run(body_flood(args.clients, args.mb))
    for limits in (True, False):
        asyncio.run(login_under_flood(args.flooders, args.logins, limits))


if __name__ == "__main__":
    main()
