"""The split deployment on SQLite behind Debian's nginx (``bench/front_stack.py``): push latency,
read-your-writes with ``X-Min-Position``, and sends/s with 2 command processes vs 1.

1. Push latency: messages sent through the front at ``--rate`` (default 200/s) by a separate
   load-generator process; a member's WebSocket through the front measures POST start -> frame.
2. ``X-Min-Position`` read right after a write: POST a message, then GET the history with the
   write's position, one after the other; the GET's time is the figure.
3. Sends/s through the front (``wrk``, as in ``bench.chat_send``): 50 senders in one group, and
   200 senders in 100 single chats, with 1 and then 2 ``im commands`` processes.

The machine is shared: every figure is printed with the load average at the time.
Needs nginx and wrk. Run: .venv/bin/python -m bench.split_front [--seconds 10] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.chat_send import LUA, _auth, _body, _register, _wrk
from bench.front_stack import FrontStack
from bench.harness import API
from bench.loadgen import parse_content
from bench.rt_common import percentile

ENV = {
    "IM_RATE_LIMIT_ENABLED": "false",
    "IM_PASSWORD_MEMORY_KIB": "1024",
    "IM_REDIS_URL": os.environ.get("IM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
}


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def stack(tmp: Path, commands: int) -> FrontStack:
    env = {**ENV, "IM_REDIS_PREFIX": f"bench{os.getpid()}:{commands}:"}
    s = FrontStack(tmp, tmp / "data", env, commands=commands, queries=2)
    s.start()
    return s


def _pair_group(front: str) -> tuple[str, str, int]:
    with httpx.Client(base_url=front, timeout=60) as c:
        (_, t1), (u2, t2) = _register(front, 2)
        r = c.post(f"{API}/conversations/group", json={"name": "lat", "member_ids": [u2]},
                   headers=_auth(t1))  # fmt: skip
        return t1, t2, int(r.json()["id"])


async def push_latency(front: str, rate: float, seconds: float) -> None:
    count = int(rate * seconds)
    t1, t2, cid = _pair_group(front)
    url = front.replace("http://", "ws://") + f"{API}/realtime/ws?token={t2}"
    latencies: list[float] = []
    async with websockets.connect(url, ping_interval=None) as ws:
        await ws.recv()
        gen = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.loadgen", front, t1, str(cid), str(count),
            "--rate", str(rate), "--concurrency", "16", stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        while len(latencies) < count:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if frame["type"] != "new_message":
                continue
            parsed = parse_content(frame["data"]["content"], "m")
            if parsed is not None:
                latencies.append((time.time() - parsed[1]) * 1000)
        out, _ = await gen.communicate()
    sent = json.loads(out)
    print(
        f"push through the front at {rate:.0f} msg/s ({count} messages, achieved"
        f" {sent['per_second']:.0f}/s, {sent['failures']} failures): POST start -> frame"
        f" p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms,"
        f" max {max(latencies):.1f} ms; HTTP p50 {sent['http_p50_ms']:.1f} ms [{load()}]"
    )


def read_after_write(front: str, rounds: int) -> None:
    with httpx.Client(base_url=front, timeout=60) as c:
        (_, t1), (u2, _) = _register(front, 2)
        h = _auth(t1)
        cid = c.post(f"{API}/conversations/group", json={"name": "ryw", "member_ids": [u2]},
                     headers=h).json()["id"]  # fmt: skip
        reads: list[float] = []
        for i in range(rounds):
            w = c.post(f"{API}/messages/text", json={"conversation_id": cid, "content": f"{i}"},
                       headers=h)  # fmt: skip
            wanted = {**h, "X-Min-Position": w.headers["X-Event-Position"]}
            t0 = time.perf_counter()
            r = c.get(f"{API}/messages/conversation/{cid}?limit=1", headers=wanted)
            reads.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200 and r.json()[-1]["id"] == w.json()["id"], r.text
    print(
        f"X-Min-Position read right after a write ({rounds} rounds): p50"
        f" {statistics.median(reads):.1f} ms, p99 {percentile(reads, 0.99):.1f} ms [{load()}]"
    )


def sends(front: str, tmp: Path, seconds: int, label: str) -> dict[str, Any]:
    script = tmp / "send.lua"
    script.write_text(LUA)
    out: dict[str, Any] = {}
    with httpx.Client(base_url=front, timeout=60) as c:
        group = _register(front, 50)
        body = {"name": "bench", "member_ids": [u for u, _ in group[1:]]}
        gid = c.post(f"{API}/conversations/group", json=body, headers=_auth(group[0][1]))
        gid_ = gid.json()["id"]
        lines = tmp / "group.tsv"
        lines.write_text("".join(f"{t}\t{_body(gid_, k)}\n" for k, (_, t) in enumerate(group)))
        out["one"] = a = _wrk(front, script, lines, 50, seconds)
        print(f"{label}, 50 senders in 1 group: {_fmt(a)} [{load()}]")
        pairs = _register(front, 200)
        rows = []
        for k in range(0, 200, 2):
            (_, t1), (u2, t2) = pairs[k], pairs[k + 1]
            r = c.post(f"{API}/conversations/single", json={"target_user_id": u2},
                       headers=_auth(t1))  # fmt: skip
            cid = r.json()["id"]
            rows += [f"{t1}\t{_body(cid, k)}\n", f"{t2}\t{_body(cid, k + 1)}\n"]
        lines = tmp / "pairs.tsv"
        lines.write_text("".join(rows))
        out["many"] = b = _wrk(front, script, lines, 200, seconds)
        print(f"{label}, 200 senders in 100 chats: {_fmt(b)} [{load()}]")
    return out


def _fmt(r: dict[str, Any]) -> str:
    return (
        f"{r['rate']:,.0f} msg/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms,"
        f" {r['non_2xx']} non-2xx of {r['requests']:,}"
    )


def run(seconds: int, rate: float, rounds: int) -> None:
    results: dict[int, dict[str, Any]] = {}
    for commands in (2, 1):
        with tempfile.TemporaryDirectory() as d:
            s = stack(Path(d), commands)
            try:
                print(f"-- {commands} command process(es), 2 query processes, projector, nginx")
                if commands == 2:
                    asyncio.run(push_latency(s.url, rate, seconds))
                    read_after_write(s.url, rounds)
                results[commands] = sends(s.url, Path(d), seconds, f"{commands} x im commands")
            finally:
                s.stop()
    for key, what in (("one", "1 group"), ("many", "100 chats")):
        ratio = results[2][key]["rate"] / results[1][key]["rate"]
        print(f"sends/s, 2 command processes vs 1, {what}: {ratio:.2f}x")


def main() -> None:
    p = argparse.ArgumentParser(prog="split_front")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--rounds", type=int, default=300)
    a = p.parse_args()
    run(a.seconds, a.rate, a.rounds)


if __name__ == "__main__":
    main()
