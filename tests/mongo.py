"""SecantusDB (a MongoDB wire-protocol server) for tests: one in-memory server per session.

The `secantus_url` fixture is registered in tests/conftest.py so every suite shares it.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from tests.helpers import free_port

_START_TIMEOUT_S = 30.0


def _wait_until_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"secantusd-py exited early:\n{log.read_text()}")
        try:
            client: MongoClient[dict[str, Any]] = MongoClient(
                url, serverSelectionTimeoutMS=250, connectTimeoutMS=250
            )
            with client as c:
                c.admin.command("ping")
            return
        except PyMongoError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"secantusd-py did not start:\n{log.read_text()}") from None
            time.sleep(0.05)


@pytest.fixture(scope="session")
def secantus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start SecantusDB in memory on a free loopback port; stop it at the end of the session."""
    exe = Path(sys.executable).parent / "secantusd-py"
    port = free_port()
    log = tmp_path_factory.mktemp("secantus") / "secantusd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(exe),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--storage-path",
                ":memory:",
                "--log-level",
                "WARNING",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true&retryWrites=false"
    try:
        _wait_until_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def drop_database(url: str, name: str) -> None:
    """Best-effort cleanup of a per-test database."""
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=2000)
        with client as c:
            c.drop_database(name)
    except PyMongoError:
        pass


def unique_db_name() -> str:
    return "t_" + uuid.uuid4().hex[:12]


@pytest.fixture
def secantus_db(secantus_url: str) -> Iterator[tuple[str, str]]:
    """(url, database name) of a fresh database on the session's SecantusDB, dropped after."""
    name = unique_db_name()
    yield secantus_url, name
    drop_database(secantus_url, name)
