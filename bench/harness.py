"""The server harness shared by the benchmarks and the tests: a real ``im`` process in a
subprocess (``ServerProcess``) with the test configuration (``server_env``), in-process settings
with the same configuration (``make_settings``), and users and tokens through the public HTTP
interface. ``tests/helpers.py`` and ``tests/conftest.py`` re-export these; ``bench/`` never
imports ``tests/`` (an import contract in ``pyproject.toml``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from gateway.settings import Settings, load_settings

API = "/api/v1"
PASSWORD = "secret123"
JWT_SECRET = "test-secret-" + "x" * 40  # what server_env and make_settings configure


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


async def register(client: httpx.AsyncClient, standard_id: str | None = None, **kw: Any) -> Any:
    sid = standard_id or unique()
    body = {"standard_id": sid, "name": kw.pop("name", f"Name {sid}"), "password": PASSWORD}
    body.update(kw)
    r = await client.post(f"{API}/users/", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def token_for(client: httpx.AsyncClient, standard_id: str, password: str = PASSWORD) -> str:
    r = await client.post(
        f"{API}/auth/login/access-token", data={"username": standard_id, "password": password}
    )
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


async def new_user(client: httpx.AsyncClient, **kw: Any) -> tuple[Any, dict[str, str]]:
    """Register a fresh user; returns (user JSON, auth headers)."""
    user = await register(client, **kw)
    token = await token_for(client, user["standard_id"])
    return user, {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """In-process settings with the configuration ``server_env`` gives a server process."""
    base: dict[str, object] = {
        "data_dir": str(data_dir),
        "jwt_secret": JWT_SECRET,
        "password_memory_kib": 1024,
        "rate_limit_enabled": False,
    }
    base.update(overrides)
    return load_settings({}, **base)


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IM_")}
    env.update(
        {
            "IM_DATA_DIR": str(data_dir),
            "IM_JWT_SECRET": JWT_SECRET,
            "IM_PASSWORD_MEMORY_KIB": "1024",
            "IM_RATE_LIMIT_ENABLED": "false",
        }
    )
    env.update(extra)
    return env


class ServerProcess:
    """A real ``im serve`` (uvicorn) in a subprocess, for crash and end-to-end tests."""

    def __init__(self, data_dir: Path, *, command: str = "serve", **env: str) -> None:
        self.port = free_port()
        self.env = server_env(data_dir, **env)
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None
        # stderr (the server's log) goes to a file: a pipe nobody reads would fill and block it.
        self.log_path = data_dir.parent / f"{command}-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", self.command, "--port", str(self.port)],
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early: {self.logs()}")
            try:
                if httpx.get(self.url + "/health", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become healthy")

    def logs(self) -> str:
        """Everything the server logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
