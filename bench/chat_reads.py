"""Reads at scale on the embedded stack, and the live projector under a burst.

1. The loaded store (``bench.loaded_store``): 1,000,000 MessageSent events of one group appended
   straight to the event store of a running ``im serve``: its catch-up (events/s), its RSS once
   idle, history pages of 50 (newest, ``before_seq`` deep in the past, ``after_seq`` gap
   filling; p99), and a cold start on that data dir until ``/ready`` answers 200.
2. A user in 500 conversations, each with a message, on a server of its own: p99 of
   ``GET /conversations/`` with unread counts (``conversation_list``).
3. History pages/s (``pages``): 8 readers (``wrk``, one thread and connection each) paging a
   10,000-message group backwards, 50 at a time, with the server's CPU per page.
4. ``im rebuild`` of the loaded data dir: events/s as the command prints it.

Run: .venv/bin/python -m bench.chat_reads [--messages 1000000] [--requests 2000]
[--conversations 500] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import ceilings
from bench.harness import API, ServerProcess, server_env
from bench.loaded_store import (
    ENV,
    PAGE,
    append_messages,
    cold_start,
    history,
    latencies,
    load,
    new_group,
    timed,
)
from bench.rt_common import cpu_seconds, headers, ready_state, register_many, token, wait_projected

PAGES_LUA = """
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  top = tonumber(args[1])
  token = args[2]
  cid = args[3]
  readers = tonumber(args[4])
  cursor = top + 1 - math.floor(id * top / readers)
end
function request()
  local path = "/api/v1/messages/conversation/" .. cid .. "?limit=50&before_seq=" .. cursor
  cursor = cursor - 50
  if cursor <= 1 then cursor = top + 1 end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
"""


async def _viewer_in(url: str, conversations: int) -> int:
    """A new user whom ``conversations`` new users each open a single chat with and write once."""
    users: list[int] = [
        u["id"] for u in await register_many(url, conversations + 1, concurrency=16)
    ]
    viewer, peers = users[0], users[1:]
    todo = iter(peers)
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def worker() -> None:
            for peer in todo:
                r = await http.post(
                    f"{API}/conversations/single",
                    json={"target_user_id": viewer},
                    headers=headers(peer),
                )
                r.raise_for_status()
                body = {"conversation_id": r.json()["id"], "content": f"hello from {peer}"}
                m = await http.post(f"{API}/messages/text", json=body, headers=headers(peer))
                m.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(16)))
    return viewer


def conversation_list(conversations: int, requests: int) -> dict[str, Any]:
    """p99 of ``GET /conversations/`` (with unread counts) for a user in ``conversations``
    single chats, each with an unread message; one request after another, own server."""
    with tempfile.TemporaryDirectory() as d:
        server = ServerProcess(Path(d) / "data", **ENV).start(timeout=60)
        try:
            viewer = asyncio.run(_viewer_in(server.url, conversations))
            auth = headers(viewer)
            listing = f"{API}/conversations/"
            with httpx.Client(base_url=server.url, timeout=60) as cl:
                listed = cl.get(listing, headers=auth).json()
                if len(listed) != conversations:
                    raise RuntimeError(f"listed {len(listed)} of {conversations} conversations")
                if sum(x["unread_count"] for x in listed) != conversations:
                    raise RuntimeError("each conversation should have one unread message")
                for _ in range(10):  # warm up
                    timed(cl, listing, auth, None)
                cpu = time.process_time()
                samples = [timed(cl, listing, auth, None) for _ in range(requests)]
                client_cpu = time.process_time() - cpu
        finally:
            server.stop()
    return {
        **latencies(samples),
        "unit": "ms",
        "conversations": conversations,
        "requests": requests,
        "client_cpu_s": client_cpu,
    }


def pages(messages: int, seconds: int, readers: int = 8) -> dict[str, Any]:
    """``readers`` wrk threads (one connection each) page a group of ``messages`` messages
    backwards, 50 at a time, each from its own starting point: pages/s (200s), latency, and the
    server's CPU per page. Own server; the messages are appended straight to its store."""
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data"
        server = ServerProcess(data, **ENV).start(timeout=60)
        try:
            assert server.proc is not None
            cid, users = asyncio.run(new_group(server.url, 2))
            asyncio.run(append_messages(data, cid, users, messages))
            wait_projected(server.url, ready_state(server.url)["head"])
            auth = headers(users[0])
            top = httpx.get(f"{server.url}{API}/conversations/{cid}", headers=auth).json()
            script = Path(d) / "pages.lua"
            script.write_text(PAGES_LUA)
            args = (str(top["last_seq"]), token(users[0]), str(cid), str(readers))
            before = cpu_seconds(server.proc.pid)
            r = ceilings.wrk(
                server.url + "/", seconds, readers, threads=readers, script=script, script_args=args
            )
            server_cpu = cpu_seconds(server.proc.pid) - before
        finally:
            server.stop()
    ok = r["requests"] - r["non_2xx"]
    return {
        **r,
        "rate": ok / r["elapsed_s"],
        "unit": "pages/s",
        "server_cpu_ms_per_page": 1000 * server_cpu / max(1, ok),
        "server_cpu_share": server_cpu / seconds,  # of one core
        "readers": readers,
        "page": PAGE,
        "messages": messages,
    }


def _rebuild(data: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "rebuild"],
        env=server_env(data, **ENV),
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"rebuilt .*", out.stdout)
    return match.group(0) if match else out.stdout.strip()


def run(messages: int, requests: int, conversations: int, seconds: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        loaded = load(Path(d), messages)
        try:
            up = loaded.catchup
            print(f"appended {messages:,} MessageSent events straight to the store of a running"
                  f" im serve in {up['append_s']:.1f} s ({up['appended_per_s']:,.0f}/s);"
                  f" projected after {up['seconds']:.1f} s: {up['rate']:,.0f} ev/s")  # fmt: skip
            print(f"server RSS once idle after the load: {loaded.idle['rss_mib']:.0f} MiB")
            h = history(loaded, requests)
            print(f"history pages of {PAGE} ({h['requests']} requests): p50 {h['p50_ms']:.2f} ms,"
                  f" p99 {h['p99_ms']:.2f} ms (newest {h['newest_p99_ms']:.2f},"
                  f" before_seq {h['before_seq_p99_ms']:.2f},"
                  f" after_seq {h['after_seq_p99_ms']:.2f})")  # fmt: skip
            cold = cold_start(loaded)
            print(f"cold start to /ready: {cold['start_s']:.2f} s (RSS {cold['rss_mib']:.0f} MiB)")
        finally:
            loaded.stop()
        print(f"im rebuild: {_rebuild(loaded.data)}")
    listing = conversation_list(conversations, requests // 4)
    print(f"conversation list, {conversations} conversations: p50 {listing['p50_ms']:.2f} ms,"
          f" p99 {listing['p99_ms']:.2f} ms")  # fmt: skip
    p = pages(10_000, seconds)
    print(f"history pages/s, {p['readers']} readers paging {p['messages']:,} messages backwards:"
          f" {p['rate']:,.0f} pages/s, p99 {p['p99_ms']:.1f} ms, server CPU"
          f" {p['server_cpu_ms_per_page']:.2f} ms per page")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--conversations", type=int, default=500)
    p.add_argument("--seconds", type=int, default=10, help="of paging")
    a = p.parse_args()
    run(a.messages, a.requests, a.conversations, a.seconds)


if __name__ == "__main__":
    main()
