"""Reads at scale and rebuild speed on the embedded stack.

1. A group holding 1,000,000 messages (the events are appended straight to the SQLite event
   store in batches; ``im serve`` then projects them): latency of history pages of 50 (newest,
   ``before_seq`` deep in the past, ``after_seq`` gap filling), measured through HTTP.
2. A user in 500 conversations, each with a message: latency of ``GET /conversations/`` (with
   unread counts).
3. ``im rebuild`` of everything: events/s as the command prints it.

Run: .venv/bin/python -m bench.chat_reads [--messages 1000000] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness import API, PASSWORD, ServerProcess, server_env
from commands.core import IdAllocator
from commands.event_store.sqlite import SqliteEventStore
from domain import conversations as c
from domain.store import new_event

ENV = {"IM_RATE_LIMIT_ENABLED": "false", "IM_PASSWORD_MEMORY_KIB": "1024"}
CHUNK = 5000


def _user(c_: httpx.Client, sid: str) -> tuple[int, dict[str, str]]:
    r = c_.post(f"{API}/users/", json={"standard_id": sid, "name": sid, "password": PASSWORD})
    t = c_.post(f"{API}/auth/login/access-token", data={"username": sid, "password": PASSWORD})
    return r.json()["id"], {"Authorization": f"Bearer {t.json()['access_token']}"}


async def _append_messages(data: Path, cid: int, senders: list[int], n: int) -> float:
    store = SqliteEventStore(data / "events.sqlite3")
    ids = IdAllocator(store, block_size=n)
    first = await ids.next("message")
    stream = c.messages_stream(cid)
    last = await store.last(stream)
    version = last.version if last else -1
    started = time.perf_counter()
    now = time.time() - n / 1000
    for start in range(0, n, CHUNK):
        events = []
        for k in range(start, min(n, start + CHUNK)):
            seq = version + 2 + (k - start)
            events.append(
                new_event(
                    c.MessageSent(
                        message_id=first + k,
                        conversation_id=cid,
                        seq=seq,
                        sender_id=senders[k % len(senders)],
                        message_type="text",
                        content=f"message number {k} about {random.choice(WORDS)}",
                        client_msg_id=f"b{k}",
                        at=now + k / 1000,
                    )
                )
            )
        await store.append(stream, events, version)
        version += len(events)
    elapsed = time.perf_counter() - started
    await store.close()
    return n / elapsed


WORDS = ["whales", "tea", "the weather", "lunch", "the release", "a bug", "trains", "music"]


def _timed(client: httpx.Client, path: str, headers: dict[str, str], params: object) -> float:
    t0 = time.perf_counter()
    r = client.get(path, headers=headers, params=params)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return (time.perf_counter() - t0) * 1000


def _report(name: str, samples: list[float]) -> None:
    samples.sort()
    p50 = statistics.median(samples)
    p99 = samples[int(len(samples) * 0.99) - 1]
    print(f"{name:<44} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   ({len(samples)} requests)")


def _wait_ready(url: str, timeout: float = 3600) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        r = httpx.get(url + "/ready", timeout=10)
        if r.status_code == 200 and r.json()["lag"] == 0:
            return time.perf_counter() - started
        time.sleep(0.5)
    raise RuntimeError("projections did not catch up")


def run(messages: int, requests: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data"
        server = ServerProcess(data, **ENV).start()
        with httpx.Client(base_url=server.url, timeout=60) as cl:
            owner, ho = _user(cl, "owner")
            members = [_user(cl, f"m{i}") for i in range(3)]
            body = {"name": "big", "member_ids": [u for u, _ in members]}
            cid = cl.post(f"{API}/conversations/group", json=body, headers=ho).json()["id"]
            viewer, hv = _user(cl, "viewer")
            for i in range(500):
                _peer, hp = _user(cl, f"peer{i}")
                r = cl.post(f"{API}/conversations/single", json={"target_user_id": viewer},
                            headers=hp)  # fmt: skip
                cl.post(f"{API}/messages/text", json={"conversation_id": r.json()["id"],
                        "content": f"hello {i}"}, headers=hp)  # fmt: skip
        server.stop()

        rate = asyncio.run(_append_messages(data, cid, [owner] + [u for u, _ in members], messages))
        print(f"appended {messages:,} MessageSent events straight to the store: {rate:,.0f}/s")
        server = ServerProcess(data, **ENV).start()
        try:
            caught_up = _wait_ready(server.url)
            print(f"im serve projected them in {caught_up:.1f}s ({messages / caught_up:,.0f} ev/s)")
            with httpx.Client(base_url=server.url, timeout=60) as cl:
                path = f"{API}/messages/conversation/{cid}"
                last = messages + 1
                for _ in range(20):  # warm up
                    _timed(cl, path, ho, {"limit": 50})
                _report("history newest 50 (1M messages)",
                        [_timed(cl, path, ho, {"limit": 50}) for _ in range(requests)])  # fmt: skip
                _report("history before_seq=random, 50", [
                    _timed(cl, path, ho, {"limit": 50, "before_seq": random.randint(2, last)})
                    for _ in range(requests)])  # fmt: skip
                _report("history after_seq=random, 50", [
                    _timed(cl, path, ho, {"limit": 50, "after_seq": random.randint(0, last)})
                    for _ in range(requests)])  # fmt: skip
                listing = f"{API}/conversations/"
                n = len(cl.get(listing, headers=hv).json())
                _report(f"conversation list, {n} conversations",
                        [_timed(cl, listing, hv, None) for _ in range(requests // 4)])  # fmt: skip
        finally:
            server.stop()
        out = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "rebuild"],
            env=server_env(data, **ENV),
            capture_output=True,
            text=True,
            check=True,
        )
        match = re.search(r"rebuilt .*", out.stdout)
        print(f"im rebuild: {match.group(0) if match else out.stdout.strip()}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=2000)
    a = p.parse_args()
    run(a.messages, a.requests)


if __name__ == "__main__":
    main()
