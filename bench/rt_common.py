"""Shared set-up for the realtime benchmarks: a server, users, tokens, client worker processes."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import API, JWT_SECRET, PASSWORD, ServerProcess, unique
from gateway.auth import issue_token


def raise_fd_limit(want: int = 0) -> int:
    """Raise this process's open-file limit to ``want`` (children inherit it): the hard limit
    too when it is lower and the process may (CAP_SYS_RESOURCE), else up to the hard limit.
    Returns the limit now in force; below ``want`` when the hard limit could not be raised."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if want > hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """User + system CPU seconds of this process's children that have been waited for."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def start_server(tmp: Path, **env: str) -> ServerProcess:
    return ServerProcess(tmp / "data", **env).start(timeout=60)


async def register_many(url: str, count: int, concurrency: int = 16) -> list[dict[str, Any]]:
    """Register ``count`` users through ``POST /users/``; returns their User JSON."""
    out: list[dict[str, Any]] = []
    todo = iter(range(count))
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def worker() -> None:
            for _ in todo:
                sid = unique("b")
                body = {"standard_id": sid, "name": f"Bench {sid}", "password": PASSWORD}
                r = await http.post(f"{API}/users/", json=body)
                r.raise_for_status()
                out.append(r.json())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def token(user_id: int) -> str:
    return issue_token(user_id, JWT_SECRET, 600)


def headers(user_id: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user_id)}"}


class Clients:
    """A ``bench.ws_clients`` process holding one connection per token."""

    def __init__(
        self,
        ws_url: str,
        tokens: list[str],
        connect_concurrency: int = 100,
        source_address: str | None = None,
    ) -> None:
        # Kept (delete=False) for the child process; removed in ``close``.
        self._file = tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False)  # noqa: SIM115
        self._file.write("\n".join(tokens))
        self._file.close()
        source = ["--source-address", source_address] if source_address else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.ws_clients", ws_url, self._file.name,
             "--connect-concurrency", str(connect_concurrency), *source],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip

    def wait_ready(self) -> int:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"client worker failed: {line!r}")
        return int(line.split()[1])

    def ask(self, command: str) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def quit(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        Path(self._file.name).unlink(missing_ok=True)


def source_address(worker: int) -> str:
    """A loopback address of its own for client worker ``worker`` (127.0.0.2, 127.0.0.3, ...):
    one address has ~28,000 ephemeral ports towards the server's one port."""
    return f"127.0.0.{2 + worker}"


def last_arrival(clients: list[Clients], key: str, expected: int, timeout: float = 10) -> float:
    """The wall-clock time the last of ``expected`` sockets (over all ``clients``) got the frame
    ``key``; raises when they have not all got it within ``timeout`` seconds."""
    count, last = 0, 0.0
    deadline = time.monotonic() + timeout
    while count < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{key}: only {count} of {expected} sockets got it")
        for c in clients:
            got = c.ask("report")["arrivals"].get(key)
            if got:
                count += got[0]
                last = max(last, got[1])
        if count < expected:
            time.sleep(0.005)
    return last


def ready_state(url: str) -> dict[str, Any]:
    """``/ready``'s body, lagging (503) or not."""
    r = httpx.get(url + "/ready", timeout=30)
    if r.status_code not in (200, 503):
        r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


def wait_projected(url: str, position: int, timeout: float = 3600) -> None:
    """Until the server's read models have projected ``position``; polled less often while
    far behind (``/ready`` counts the lag, which costs the server in proportion to it)."""
    deadline = time.monotonic() + timeout
    while (projected := ready_state(url)["projected"]) < position:
        if time.monotonic() > deadline:
            raise RuntimeError(f"projected {projected} of {position} after {timeout:g} s")
        time.sleep(min(0.5, max(0.01, (position - projected) / 100_000)))


def ws_url(server: ServerProcess) -> str:
    return server.url.replace("http://", "ws://") + f"{API}/realtime/ws"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]
