"""Shared set-up for the realtime benchmarks: a server, users, tokens, client worker processes."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.harness import API, JWT_SECRET, PASSWORD, ServerProcess, unique
from gateway.auth import issue_token


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to the hard limit (children inherit it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
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

    def __init__(self, ws_url: str, tokens: list[str], connect_concurrency: int = 100) -> None:
        # Kept (delete=False) for the child process; removed in ``close``.
        self._file = tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False)  # noqa: SIM115
        self._file.write("\n".join(tokens))
        self._file.close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.ws_clients", ws_url, self._file.name,
             "--connect-concurrency", str(connect_concurrency)],
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


def ws_url(server: ServerProcess) -> str:
    return server.url.replace("http://", "ws://") + f"{API}/realtime/ws"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]
