"""A client that never reads its socket while 10,000 messages are pushed to its group: the
reading member's delivery latency (p50, p99) and the server's RSS before and at its peak.

The scenario (``deaf_scenario``) is shared with tests/e2e/test_realtime_slow.py, which asserts
the behaviour on its outcome (the deaf client is cut off, everyone else gets every message once);
this benchmark prints its figures.
Run: .venv/bin/python -m bench.realtime_deaf
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from bench.harness import API, ServerProcess, new_user, token_for
from bench.loadgen import parse_content

MESSAGES = 10_000
ROOT, ROOT_PASSWORD = "slow_root", "root-secret-1"


class Deaf:
    """A raw WebSocket client that completes the handshake and then never reads."""

    def __init__(self, port: int, path: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)  # byte by byte: leave every frame unread
        assert head.startswith(b"HTTP/1.1 101"), head

    def is_closed_by_server(self, timeout: float = 1.0) -> bool:
        """Drain what the server sent; True once it closed (EOF or reset)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(1 << 20):
                    return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class Outcome:
    """What the scenario observed."""

    sent: dict[str, float]  # the load generator's report (``failures``, ``per_second``, ...)
    order: list[int]  # message numbers in the order the reading member received them
    latencies: list[float]  # the reading member's delivery latencies (send -> frame), sorted
    deaf_cut_off: bool  # the server closed the deaf client's connection
    stats: dict[str, Any]  # ``GET /realtime/connection-stats`` afterwards
    rss_baseline_mib: float
    rss_peak_mib: float

    def summary(self) -> str:
        n = len(self.latencies)
        p50, p99 = self.latencies[n // 2], self.latencies[int(n * 0.99)]
        return (
            f"{self.sent['per_second']:.0f} msg/s sent; the reading member's delivery latency "
            f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; server RSS "
            f"{self.rss_baseline_mib:.0f} -> peak {self.rss_peak_mib:.0f} MiB"
        )


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def receive_all(ws: ClientConnection, count: int) -> tuple[list[int], list[float]]:
    """Message numbers in arrival order and their delivery latencies (send -> frame)."""
    order: list[int] = []
    latencies: list[float] = []
    while len(order) < count:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if frame["type"] == "new_message":
            parsed = parse_content(frame["data"]["content"], "m")
            if parsed is not None:
                order.append(parsed[0])
                latencies.append(time.time() - parsed[1])
    return order, latencies


async def deaf_scenario(folder: Path, messages: int = MESSAGES) -> Outcome:
    """Three members of a group on a fresh server in ``folder``: one sends ``messages`` (from a
    load-generator process), one reads them all, one never reads its socket."""
    srv = ServerProcess(
        folder / "data", IM_FIRST_SUPERUSER=ROOT, IM_FIRST_SUPERUSER_PASSWORD=ROOT_PASSWORD
    ).start()
    assert srv.proc is not None
    pid = srv.proc.pid
    deaf: Deaf | None = None
    try:
        async with httpx.AsyncClient(base_url=srv.url, timeout=60) as http:
            (_, ha), (b, hb), (d, hd) = [await new_user(http) for _ in range(3)]
            body = {"name": "load", "member_ids": [b["id"], d["id"]]}
            r = await http.post(f"{API}/conversations/group", json=body, headers=ha)
            cid = r.json()["id"]
            token_a = ha["Authorization"].removeprefix("Bearer ")
            token_b = hb["Authorization"].removeprefix("Bearer ")
            token_d = hd["Authorization"].removeprefix("Bearer ")
            deaf = Deaf(srv.port, f"{API}/realtime/ws?token={token_d}")
            baseline = peak = rss_mib(pid)
            ws_url = srv.url.replace("http://", "ws://") + f"{API}/realtime/ws?token={token_b}"
            async with websockets.connect(ws_url, ping_interval=None) as wb:
                first = json.loads(await asyncio.wait_for(wb.recv(), 5))
                assert first["type"] == "connection_established", first
                reader = asyncio.create_task(receive_all(wb, messages))
                sender = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.loadgen", srv.url, token_a, str(cid),
                    str(messages), stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                while not reader.done():
                    peak = max(peak, rss_mib(pid))
                    await asyncio.wait([reader], timeout=0.1)
                out, _ = await sender.communicate()
                order, latencies = await reader
            deaf_cut_off = deaf.is_closed_by_server(timeout=5)
            root = {"Authorization": f"Bearer {await token_for(http, ROOT, ROOT_PASSWORD)}"}
            stats = (await http.get(f"{API}/realtime/connection-stats", headers=root)).json()
    finally:
        if deaf is not None:
            deaf.close()
        srv.stop()
    return Outcome(json.loads(out), order, sorted(latencies), deaf_cut_off, stats, baseline, peak)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        outcome = asyncio.run(deaf_scenario(Path(folder)))
    print(outcome.summary())
    print(
        f"failures {outcome.sent['failures']:.0f}; every message once: "
        f"{sorted(outcome.order) == list(range(MESSAGES))}; deaf client cut off: "
        f"{outcome.deaf_cut_off}; slow disconnects {outcome.stats['slow_disconnects']}"
    )


if __name__ == "__main__":
    main()
