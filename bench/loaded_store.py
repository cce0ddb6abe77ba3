"""A data dir loaded with a group of 1,000,000 messages, and the figures measured on it
(``im bench``'s catchup, idle_rss, history and cold_start; ``bench.chat_reads`` prints them).

``load``: ``im serve`` runs on a fresh data dir while the group's MessageSent events are
appended straight to its SQLite event store (a burst); the running server projects them.
Figures: events/s from the first append until ``/ready`` says the last one is projected (the live
catch-up), and the server's RSS once every follower of the log is idle again. ``history``: pages
of 50 of that group through HTTP, one request after another. ``cold_start``: the server stopped
and started again on the data dir, until ``/ready`` answers 200.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.harness import API, ServerProcess
from bench.rt_common import (
    cpu_seconds,
    headers,
    percentile,
    ready_state,
    register_many,
    rss_mib,
    wait_projected,
)
from commands.core import IdAllocator
from commands.event_store.sqlite import SqliteEventStore
from domain import conversations as c
from domain.store import new_event

ENV = {"IM_RATE_LIMIT_ENABLED": "false", "IM_PASSWORD_MEMORY_KIB": "1024"}
CHUNK = 5000
PAGE = 50


async def append_messages(data: Path, cid: int, senders: list[int], n: int) -> float:
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


def timed(client: httpx.Client, path: str, headers: dict[str, str], params: object) -> float:
    t0 = time.perf_counter()
    r = client.get(path, headers=headers, params=params)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return (time.perf_counter() - t0) * 1000


def latencies(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(samples, 0.5), "p99_ms": percentile(samples, 0.99)}


async def new_group(url: str, members: int) -> tuple[int, list[int]]:
    """A new group of ``members`` new users: (its id, the members' ids, owner first)."""
    users = [u["id"] for u in await register_many(url, members, concurrency=4)]
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        body = {"name": "big", "member_ids": users[1:]}
        r = await http.post(f"{API}/conversations/group", json=body, headers=headers(users[0]))
        r.raise_for_status()
        return int(r.json()["id"]), users


def _wait_idle(url: str, timeout: float = 3600) -> dict[str, Any]:
    """Until every follower of the log in the server (projector, policy, system lines, pusher)
    has caught up with the head; returns ``/ready``'s body then."""
    deadline = time.monotonic() + timeout
    while True:
        state = ready_state(url)
        if state["lag"] == 0 and all(f["lag"] == 0 for f in state["followers"].values()):
            return state
        if time.monotonic() > deadline:
            raise RuntimeError(f"followers still behind after {timeout:g} s: {state}")
        time.sleep(0.05)


@dataclass
class Loaded:
    """A data dir holding a group of ``messages`` messages, and the ``im serve`` running on it."""

    data: Path
    server: ServerProcess
    group: int
    owner: int
    messages: int
    catchup: dict[str, Any]  # the live projector's figure
    idle: dict[str, Any]  # the server's RSS once idle after the burst

    def stop(self) -> None:
        self.server.stop()


def load(tmp: Path, messages: int) -> Loaded:
    """Start ``im serve`` on a fresh data dir under ``tmp``, append ``messages`` MessageSent
    events of one group straight to its event store while it runs, and time its catch-up."""
    data = tmp / "data"
    server = ServerProcess(data, **ENV).start(timeout=60)
    try:
        assert server.proc is not None
        cid, users = asyncio.run(new_group(server.url, 4))
        cpu = time.process_time()
        started = time.perf_counter()
        appended = asyncio.run(append_messages(data, cid, users, messages))
        append_s = time.perf_counter() - started
        state = ready_state(server.url)
        wait_projected(server.url, state["head"])
        elapsed = time.perf_counter() - started
        catchup = {
            "rate": messages / elapsed,
            "unit": "ev/s",
            "events": messages,
            "seconds": elapsed,
            "append_s": append_s,
            "appended_per_s": appended,
            "behind_when_appended": state["head"] - state["projected"],
            # the appender and the polling of /ready (this process)
            "client_cpu_s": time.process_time() - cpu,
        }
        cpu = time.process_time()
        state = _wait_idle(server.url)
        idle = {
            "rss_mib": rss_mib(server.proc.pid),
            "unit": "MiB",
            "messages": messages,
            "head": state["head"],
            "server_cpu_s_since_start": cpu_seconds(server.proc.pid),
            "client_cpu_s": time.process_time() - cpu,  # waiting for the followers (polling)
        }
    except BaseException:
        server.stop()
        raise
    return Loaded(data, server, cid, users[0], messages, catchup, idle)


def history(loaded: Loaded, requests: int) -> dict[str, Any]:
    """Pages of 50 from the loaded group, one request after another: a third each newest,
    ``before_seq`` at random and ``after_seq`` at random; p99 over all and per kind."""
    path = f"{API}/messages/conversation/{loaded.group}"
    auth = headers(loaded.owner)
    each = max(1, requests // 3)
    with httpx.Client(base_url=loaded.server.url, timeout=60) as cl:
        last = cl.get(f"{API}/conversations/{loaded.group}", headers=auth).json()["last_seq"]
        for _ in range(20):  # warm up
            timed(cl, path, auth, {"limit": PAGE})
        cpu = time.process_time()
        kinds = {
            "newest": [timed(cl, path, auth, {"limit": PAGE}) for _ in range(each)],
            "before_seq": [
                timed(cl, path, auth, {"limit": PAGE, "before_seq": random.randint(2, last)})
                for _ in range(each)
            ],
            "after_seq": [
                timed(cl, path, auth, {"limit": PAGE, "after_seq": random.randint(0, last)})
                for _ in range(each)
            ],
        }
        client_cpu = time.process_time() - cpu
    every = [x for samples in kinds.values() for x in samples]
    return {
        **latencies(every),
        "unit": "ms",
        **{f"{kind}_p99_ms": percentile(samples, 0.99) for kind, samples in kinds.items()},
        "requests": len(every),
        "messages": loaded.messages,
        "client_cpu_s": client_cpu,
    }


def cold_start(loaded: Loaded) -> dict[str, Any]:
    """Stop the loaded server and start ``im serve`` again on its data dir: seconds from
    starting the process until ``/ready`` answers 200; it then serves on as ``loaded.server``."""
    loaded.server.stop()
    server = ServerProcess(loaded.data, **ENV)
    cpu = time.process_time()
    start_s = _start_until_ready(server)
    client_cpu = time.process_time() - cpu
    loaded.server = server
    assert server.proc is not None
    state = ready_state(server.url)
    return {
        "start_s": start_s,
        "unit": "s",
        "rss_mib": rss_mib(server.proc.pid),
        "head": state["head"],
        "projected": state["projected"],
        "messages": loaded.messages,
        "client_cpu_s": client_cpu,  # polling /ready
    }


def _start_until_ready(server: ServerProcess, timeout: float = 120) -> float:
    """Start ``server``'s process (as ``ServerProcess.start`` does) and poll ``/ready`` every
    10 ms: seconds from ``Popen`` until it answered 200."""
    server.log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with server.log_path.open("ab") as log:
        server.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", server.command, "--port", str(server.port)],
            env=server.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as http:
        while True:
            try:
                if http.get(server.url + "/ready").status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if server.proc.poll() is not None:
                raise RuntimeError(f"server exited early: {server.logs()}")
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"/ready did not answer 200 within {timeout:g} s")
            time.sleep(0.01)
