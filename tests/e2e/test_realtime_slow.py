"""A client that never reads its socket while 10,000 messages are pushed: it is cut off (its
bounded queue overflows), and the others still receive every message once.

The test prints the reading member's latency and the server's memory; how fast and how small is
measured by ``bench/realtime_deaf.py`` (which runs this scenario), not asserted here."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import httpx

from tests.helpers import API, ServerProcess, new_user, token_for
from tests.loadgen import parse_content
from tests.ws import Deaf, Live, live

MESSAGES = 10_000


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def receive_all(ws: Live, count: int) -> tuple[list[int], list[float]]:
    """Message numbers in arrival order and their delivery latencies (send -> frame)."""
    order: list[int] = []
    latencies: list[float] = []
    while len(order) < count:
        frame = json.loads(await asyncio.wait_for(ws.ws.recv(), 60))
        if frame["type"] == "new_message":
            parsed = parse_content(frame["data"]["content"], "m")
            if parsed is not None:
                order.append(parsed[0])
                latencies.append(time.time() - parsed[1])
    return order, latencies


async def test_a_deaf_client_is_cut_off_without_slowing_the_others(tmp_path: Path) -> None:
    srv = ServerProcess(
        tmp_path, IM_FIRST_SUPERUSER="slow_root", IM_FIRST_SUPERUSER_PASSWORD="root-secret-1"
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
            token_d = hd["Authorization"].removeprefix("Bearer ")
            deaf = Deaf(srv.port, f"{API}/realtime/ws?token={token_d}")
            baseline = peak = rss_mib(pid)
            async with live(srv.url, hb["Authorization"].removeprefix("Bearer ")) as wb:
                reader = asyncio.create_task(receive_all(wb, MESSAGES))
                sender = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "tests.loadgen", srv.url, token_a, str(cid),
                    str(MESSAGES), stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                while not reader.done():
                    peak = max(peak, rss_mib(pid))
                    await asyncio.wait([reader], timeout=0.1)
                out, _ = await sender.communicate()
                order, latencies = await reader
            sent = json.loads(out)
            latencies.sort()
            p50, p99 = latencies[MESSAGES // 2], latencies[int(MESSAGES * 0.99)]
            print(
                f"\n{sent['per_second']:.0f} msg/s sent; the reading member's delivery latency "
                f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; server RSS "
                f"{baseline:.0f} -> peak {peak:.0f} MiB"
            )
            assert sent["failures"] == 0
            assert sorted(order) == list(range(MESSAGES))  # every message, once
            assert deaf.is_closed_by_server(timeout=5)
            root = {
                "Authorization": f"Bearer {await token_for(http, 'slow_root', 'root-secret-1')}"
            }
            stats = (await http.get(f"{API}/realtime/connection-stats", headers=root)).json()
            assert stats["slow_disconnects"] == 1 and stats["queued_frames"] == 0
    finally:
        if deaf is not None:
            deaf.close()
        srv.stop()
