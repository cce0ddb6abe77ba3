"""A lean HTTP load generator for ``POST /messages/text``, run as its own process so the
process that measures delivery is not starved by the senders.

Each message's content is ``<tag>:<n>:<wall-clock send time>``, so a receiver in another process
computes the delivery latency from the frame alone.

    python -m bench.loadgen URL TOKEN CONVERSATION_ID COUNT [--concurrency N] [--rate R] [--tag T]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


class _Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def post(self, host: str, path: str, token: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await self.reader.readexactly(length) if length else b""
        return int(status_line.split()[1]), data


def parse_content(content: str, tag: str) -> tuple[int, float] | None:
    """(n, send time) from a generated message's content, None for other messages."""
    parts = content.split(":")
    if len(parts) != 3 or parts[0] != tag:
        return None
    return int(parts[1]), float(parts[2])


async def send_messages(
    url: str,
    token: str,
    conversation_id: int,
    count: int,
    *,
    concurrency: int = 16,
    rate: float | None = None,
    tag: str = "m",
) -> dict[str, float]:
    """Send ``count`` messages; with ``rate``, paced at that many per second overall."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = "/api/v1/messages/text"
    counter = iter(range(count))
    started = time.perf_counter()
    failures = 0
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal failures
        conn = _Conn(*await asyncio.open_connection(host, port))
        try:
            for n in counter:
                if rate:
                    delay = started + n / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                t0 = time.perf_counter()
                content = f"{tag}:{n}:{time.time():.6f}"
                body = json.dumps({"conversation_id": conversation_id, "content": content})
                status, _ = await conn.post(f"{host}:{port}", path, token, body.encode())
                latencies.append(time.perf_counter() - t0)
                if status != 201:
                    failures += 1
        finally:
            conn.writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "sent": count,
        "failures": failures,
        "seconds": elapsed,
        "per_second": count / elapsed,
        "http_p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else 0.0,
        "http_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="loadgen")
    p.add_argument("url")
    p.add_argument("token")
    p.add_argument("conversation_id", type=int)
    p.add_argument("count", type=int)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rate", type=float)
    p.add_argument("--tag", default="m")
    a = p.parse_args(argv)
    result = asyncio.run(
        send_messages(
            a.url,
            a.token,
            a.conversation_id,
            a.count,
            concurrency=a.concurrency,
            rate=a.rate,
            tag=a.tag,
        )
    )
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
