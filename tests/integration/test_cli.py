"""The `im` CLI: admin create-superuser and rebuild, through the real command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers import API, PASSWORD, ServerProcess, server_env, unique


def im(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        env=server_env(data),
        capture_output=True,
        text=True,
        timeout=120,
    )


def login(c: httpx.Client, sid: str) -> dict[str, str]:
    r = c.post(f"{API}/auth/login/access-token", data={"username": sid, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_create_superuser_then_rebuild(tmp_path: Path) -> None:
    data = tmp_path / "data"
    admin = unique("root")
    result = im(data, "admin", "create-superuser", admin, "--password", PASSWORD)
    assert result.returncode == 0, result.stderr
    assert f"created superuser {admin}" in result.stdout

    server = ServerProcess(data).start()
    names = [unique("r") for _ in range(5)]
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            headers = login(c, admin)
            assert c.get(f"{API}/users/me", headers=headers).json()["is_superuser"] is True
            for sid in names:
                body = {"standard_id": sid, "name": f"Rebuilt {sid}", "password": PASSWORD}
                assert c.post(f"{API}/users/", json=body).status_code == 201
    finally:
        server.stop()

    # Drop the read models entirely; rebuild must recreate them from the events alone.
    (data / "read.sqlite3").unlink()
    for extra in data.glob("read.sqlite3-*"):
        extra.unlink()
    result = im(data, "rebuild")
    assert result.returncode == 0, result.stderr
    assert "rebuilt" in result.stdout and "events/s" in result.stdout
    assert "rebuild [" in result.stderr  # the progress bar

    server = ServerProcess(data).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            headers = login(c, admin)
            for sid in names:
                found = c.get(f"{API}/users/search", params={"keyword": sid}, headers=headers)
                assert [u["name"] for u in found.json()] == [f"Rebuilt {sid}"]
    finally:
        server.stop()


def test_bad_setting_says_what_to_set(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "rebuild"],
        env={**server_env(tmp_path), "IM_READ_STORE": "oracle"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "IM_READ_STORE" in result.stderr and "sqlite, mongo" in result.stderr
