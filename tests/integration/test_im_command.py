"""The ``im`` command for newcomers: --help lists every subcommand, ``doctor`` finds what is wrong
and says how to fix it, ``test`` starts the services it needs or says how to install them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from gateway.cli import ensure_service
from gateway.doctor import broker, redis
from tests.helpers import free_port, server_env

ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = [
    "serve",
    "commands",
    "queries",
    "projector",
    "relay",
    "rebuild",
    "admin",
    "doctor",
    "test",
]


def im(data: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        env=server_env(data, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_every_subcommand_through_the_wrapper() -> None:
    done = subprocess.run([str(ROOT / "im"), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("    ")}
    assert set(SUBCOMMANDS) <= listed, done.stdout


def test_doctor_all_good_on_the_embedded_default(tmp_path: Path) -> None:
    done = im(tmp_path / "data", "doctor", IM_PORT=str(free_port()))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[1]: line.split()[0] for line in done.stdout.splitlines()[1:-1]}
    assert rows["event"] == "ok" and rows["read"] == "ok" and rows["blob"] == "ok"
    assert rows["broker"] == "off" and rows["listen"] == "ok"
    assert done.stdout.rstrip().endswith("all good")
    assert not (tmp_path / "data" / "jwt_secret").exists()  # the doctor changes nothing


def test_doctor_says_what_is_wrong_and_how_to_fix_it(tmp_path: Path) -> None:
    closed = free_port()
    with socket.socket() as taken:  # the configured port, held by something that is not im
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = im(
            tmp_path / "data",
            "doctor",
            IM_PORT=str(port),
            IM_AMQP_URL=f"amqp://im:hunter2-secret@127.0.0.1:{closed}/",
        )
    assert done.returncode == 1
    out = done.stdout
    assert "hunter2-secret" not in out
    broker = out[out.index("FAIL  broker") :].splitlines()
    assert f"amqp://im:****@127.0.0.1:{closed}/" in broker[0]
    assert "fix: start RabbitMQ" in broker[1] and "IM_AMQP_URL" in broker[1]
    listen = out[out.index("FAIL  listen") :].splitlines()
    assert "not an im server" in listen[0] and "IM_PORT" in listen[1]
    assert out.rstrip().endswith("2 problems found")


def configured(redis_url: str | None) -> Any:
    """Settings with ``redis_url`` (the doctor reads it when the server has the setting)."""
    return SimpleNamespace(redis_url=redis_url)


def test_doctor_checks_redis() -> None:
    closed = free_port()
    down = asyncio.run(redis(configured(f"redis://127.0.0.1:{closed}/0")))
    assert down.status == "FAIL" and "redis-server" in down.fix
    up = asyncio.run(redis(configured("redis://127.0.0.1:6379/0")))
    assert (up.status, up.detail) == ("ok", "redis://127.0.0.1:6379/0: PONG")
    off = asyncio.run(redis(configured(None)))
    assert off.status == "off"


async def test_doctor_checks_redis_on_a_unix_socket_with_a_password(tmp_path: Path) -> None:
    """A stand-in Redis that wants AUTH, on a unix socket (IM_REDIS_URL=unix://...)."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        authed = False
        try:
            while line := await reader.readline():
                if not line.startswith(b"*"):
                    continue
                words = []
                for _ in range(int(line[1:])):
                    await reader.readline()  # $<length>
                    words.append((await reader.readline()).strip())
                seen.append(b" ".join(words))
                if words[0] == b"AUTH":
                    authed = words[-1] == b"s3cret"
                    writer.write(b"+OK\r\n" if authed else b"-WRONGPASS\r\n")
                elif words[0] == b"PING":
                    writer.write(b"+PONG\r\n" if authed else b"-NOAUTH\r\n")
                await writer.drain()
        finally:  # also when the loop ends first: a writer left open warns in a later test
            writer.close()
        await writer.wait_closed()

    path = tmp_path / "redis.sock"
    server = await asyncio.start_unix_server(serve, str(path))
    async with server:
        good = await redis(configured(f"unix://:s3cret@{path}"))
        bad = await redis(configured(f"unix://:wrong@{path}"))
    assert (good.status, good.detail) == ("ok", f"unix://:****@{path}: PONG")
    assert bad.status == "FAIL" and "AUTH refused" in bad.detail and "s3cret" not in bad.detail
    assert seen == [b"AUTH s3cret", b"PING", b"AUTH wrong"]


def test_doctor_points_at_the_credentials_when_the_broker_refuses_them() -> None:
    """RabbitMQ (the suite's, on 127.0.0.1:5672) answers a wrong password with ACCESS_REFUSED."""
    settings: Any = SimpleNamespace(
        amqp_url="amqp://guest:wrong-secret@127.0.0.1:5672/", amqp_exchange="im"
    )
    refused = asyncio.run(broker(settings))
    assert refused.status == "FAIL"
    assert refused.detail.startswith("amqp://guest:****@127.0.0.1:5672/: ACCESS_REFUSED")
    assert "wrong-secret" not in refused.detail
    assert refused.fix == "check the user and password in IM_AMQP_URL (rabbitmqctl list_users)"


def test_test_services_are_started_or_named_with_their_install_command(tmp_path: Path) -> None:
    port = free_port()
    missing = ensure_service("Widget", port, ["no-such-widget-server"], "apt-get install w", 1)
    assert missing == (
        f"im test: Widget is not running on 127.0.0.1:{port} and not installed;"
        " install it with: apt-get install w"
    )
    # Installed but down: started, then waited for until it listens.
    pid_file = tmp_path / "pid"
    start = [
        "bash",
        "-c",
        f"{sys.executable} -m http.server {port} --bind 127.0.0.1 >/dev/null 2>&1 &"
        f" echo $! > {pid_file}",
    ]
    try:
        assert ensure_service("Widget", port, start, "apt-get install w", 20) is None
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        # Already up: nothing is started again.
        assert ensure_service("Widget", port, ["no-such-widget-server"], "x", 1) is None
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
