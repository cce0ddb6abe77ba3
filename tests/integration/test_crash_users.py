"""A server killed with SIGKILL keeps every user whose registration it acknowledged."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.helpers import API, PASSWORD, ServerProcess, unique


def test_acknowledged_users_survive_sigkill(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    created: list[str] = []
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            for _ in range(40):
                sid = unique()
                body = {"standard_id": sid, "name": f"Crash {sid}", "password": PASSWORD}
                r = c.post(f"{API}/users/", json=body)
                assert r.status_code == 201
                created.append(sid)
    finally:
        server.kill()
    server = ServerProcess(tmp_path / "data").start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            for sid in created:
                r = c.post(
                    f"{API}/auth/login/access-token", data={"username": sid, "password": PASSWORD}
                )
                assert r.status_code == 200, sid
                headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
                found = c.get(f"{API}/users/search", params={"keyword": sid}, headers=headers)
                assert [u["standard_id"] for u in found.json()] == [sid]
    finally:
        server.stop()
