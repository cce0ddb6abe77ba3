"""10,000 idle authenticated WebSocket connections on one ``im serve`` process (the users appended
straight to its event store, the sockets held by several client processes): server RSS, and
whether delivery still works (a broadcast to everyone: time until every socket has it).

Raises the open-file limit (needs >= connections + a few hundred; the hard limit too where the
process may).
Run: .venv/bin/python -m bench.realtime_idle [--connections 10000] [--workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import API, PASSWORD, token_for
from bench.rt_common import (
    Clients,
    cpu_seconds,
    last_arrival,
    raise_fd_limit,
    ready_state,
    rss_mib,
    source_address,
    start_server,
    token,
    wait_projected,
    ws_url,
)
from commands.core import IdAllocator
from commands.event_store.sqlite import SqliteEventStore
from commands.passwords import Passwords
from domain import users as u
from domain.store import NO_STREAM, new_event

ROOT, ROOT_PASSWORD = "idle_root", "idle-root-secret"
BROADCAST_TITLE = "hello-everyone"
CHUNK = 1000  # users appended at once (the store commits concurrent appends together)


async def append_users(data: Path, count: int) -> list[int]:
    """``count`` users appended straight to the event store, as ``commands.users`` writes a
    registration (the standard id's claim, then the user; one password hash for all): seconds
    where 50,000 registrations through HTTP take minutes. Returns their ids."""
    store = SqliteEventStore(data / "events.sqlite3")
    passwords = Passwords(memory_kib=1024)
    try:
        first = await IdAllocator(store, block_size=count).next("user")
        password_hash = await passwords.hash(PASSWORD)
        now = time.time()
        for start in range(first, first + count, CHUNK):
            writes = []
            for uid in range(start, min(first + count, start + CHUNK)):
                sid = f"idle{uid}"
                claim = u.StandardIdClaimed(standard_id=sid, user_id=uid)
                user = u.UserRegistered(
                    user_id=uid, standard_id=sid, name=sid, password_hash=password_hash, at=now
                )
                writes.append(
                    store.append(u.standard_id_stream(sid), [new_event(claim)], NO_STREAM)
                )
                writes.append(store.append(u.user_stream(uid), [new_event(user)], NO_STREAM))
            await asyncio.gather(*writes)
    finally:
        passwords.close()
        await store.close()
    return list(range(first, first + count))


async def figures(connections: int, workers: int, idle_seconds: float = 0) -> dict[str, Any]:
    """``connections`` idle authenticated sockets (each a registered user) held by ``workers``
    ``bench.ws_clients`` processes, each from a loopback address of its own: the server's RSS
    with them open, and the time from ``POST /realtime/broadcast`` until the last socket has
    the frame. Raise the open-file limit first (``rt_common.raise_fd_limit``)."""
    with tempfile.TemporaryDirectory() as d:
        server = start_server(
            Path(d), IM_FIRST_SUPERUSER=ROOT, IM_FIRST_SUPERUSER_PASSWORD=ROOT_PASSWORD
        )
        assert server.proc is not None
        pid = server.proc.pid
        clients: list[Clients] = []
        try:
            started = time.perf_counter()
            users = await append_users(Path(d) / "data", connections)
            wait_projected(server.url, ready_state(server.url)["head"])
            registered_s = time.perf_counter() - started
            before = rss_mib(pid)
            tokens = [token(uid) for uid in users]
            cpu = time.process_time()
            started = time.perf_counter()
            clients = [
                Clients(ws_url(server), tokens[i::workers], source_address=source_address(i))
                for i in range(workers)
            ]
            connected = sum(c.wait_ready() for c in clients)
            connect_s = time.perf_counter() - started
            if idle_seconds:
                await asyncio.sleep(idle_seconds)  # the scenario: sockets idle this long
            after = rss_mib(pid)
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                root = {"Authorization": f"Bearer {await token_for(http, ROOT, ROOT_PASSWORD)}"}
                stats = (await http.get(f"{API}/realtime/connection-stats", headers=root)).json()
                sent_at = time.time()
                body = {"title": BROADCAST_TITLE, "content": "still there?"}
                r = await http.post(f"{API}/realtime/broadcast", json=body, headers=root)
                r.raise_for_status()
            last = last_arrival(clients, BROADCAST_TITLE, connected, timeout=120)
            after_broadcast = rss_mib(pid)
            closed = sum(c.ask("report")["closed"] for c in clients)
            client_cpu = time.process_time() - cpu + sum(cpu_seconds(c.proc.pid) for c in clients)
        finally:
            for c in clients:
                c.quit()
            server.stop()
    return {
        "rss_mib": after,
        "broadcast_ms": (last - sent_at) * 1000,
        "unit": "MiB",
        "connections": connected,
        "rss_before_mib": before,
        "kib_per_socket": (after - before) * 1024 / connected,
        "rss_after_broadcast_mib": after_broadcast,
        "closed_by_server": closed,
        "connection_stats": stats,
        "register_s": registered_s,
        "connect_s": connect_s,
        "client_processes": workers,
        # the client processes' CPU from their start (connecting included) and this process's
        "client_cpu_s": client_cpu,
    }


async def run(connections: int, workers: int, idle_seconds: float) -> None:
    limit = raise_fd_limit(connections + 1000)
    print(f"open-file limit {limit}")
    r = await figures(connections, workers, idle_seconds)
    print(f"registered {r['connections']} users in {r['register_s']:.0f} s (straight to the store);"
          f" connections open in {r['connect_s']:.0f} s")  # fmt: skip
    print(f"server RSS: {r['rss_before_mib']:.0f} MiB before, {r['rss_mib']:.0f} MiB with "
          f"{r['connections']} idle connections ({r['kib_per_socket']:.1f} KiB each)")  # fmt: skip
    print(f"connection-stats: {r['connection_stats']}")
    print(f"broadcast to everyone: the last of {r['connections']} sockets got it "
          f"{r['broadcast_ms']:.0f} ms after POST start")  # fmt: skip
    print(f"server RSS after the broadcast: {r['rss_after_broadcast_mib']:.0f} MiB")
    print(f"connections closed by the server meanwhile: {r['closed_by_server']}")


def main() -> None:
    p = argparse.ArgumentParser(prog="realtime_idle")
    p.add_argument("--connections", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--idle-seconds", type=float, default=5)
    a = p.parse_args()
    asyncio.run(run(a.connections, a.workers, a.idle_seconds))


if __name__ == "__main__":
    main()
