"""The server's logs through a real ``im serve``: access lines, text and JSON formats, the level,
the start-up summary with secrets masked, the shutdown line, a taken port."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.helpers import (
    API,
    PASSWORD,
    ServerProcess,
    free_port,
    new_user,
    register,
    server_env,
    token_for,
    wait_until,
)
from tests.ws import close_code, ws_url

ACCESS = re.compile(
    r"^\S+Z INFO +im\.access (?P<method>\w+) (?P<path>\S+) (?P<status>\d{3}) (?P<ms>[\d.]+)ms"
    r" user=(?P<user>\S+) request_id=(?P<rid>\S+)$",
    re.M,
)


async def activity(url: str) -> tuple[int, str]:
    """Some requests: a registration, an authenticated read with a request id, a 404, a 422."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        user, headers = await new_user(c)
        r = await c.get(f"{API}/users/{user['id']}", headers={**headers, "X-Request-ID": "rq-42"})
        assert r.status_code == 200
        assert (await c.get("/no/such/page")).status_code == 404
        login = f"{API}/auth/login/access-token"
        bad = await c.post(login, json={"username": user["standard_id"], "password": PASSWORD})
        assert bad.status_code == 422
        return int(user["id"]), str(user["standard_id"])


def stopped(server: ServerProcess) -> str:
    server.stop()
    return server.logs()


async def test_text_access_lines_summary_and_shutdown(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "data",
        IM_MONGO_URL="mongodb://im:mongo-pw-1@db.example:27017/",  # unused: just masked
        IM_PARTNER_JWT_SECRET="partner-secret-" + "y" * 20,
        IM_WS_IDLE_SECONDS="1",
    ).start()
    try:
        user_id, _ = await activity(server.url)
        async with httpx.AsyncClient(base_url=server.url) as c:
            listener = await register(c)
            token = await token_for(c, listener["standard_id"])
        async with websockets.connect(ws_url(server.url, token), ping_interval=None) as ws:
            await ws.recv()  # connection_established
        bad = await close_code(ws_url(server.url, "not-a-token"))
        assert bad[0] == 4401
        # A silent socket is closed for idleness: the server's log line names its request.
        async with websockets.connect(
            ws_url(server.url, token),
            ping_interval=None,
            additional_headers={"X-Request-ID": "ws-7"},
        ) as idle:

            async def read_until_closed() -> None:
                while True:
                    await idle.recv()

            with pytest.raises(websockets.ConnectionClosed) as closed:
                await read_until_closed()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408

        async def logged() -> bool:
            return "rq-42" in server.logs() and server.logs().count("close=") == 3

        await wait_until(logged)
    finally:
        text = stopped(server)
    sockets = re.findall(
        r"im\.access WS /api/v1/realtime/ws 101 [\d.]+ms user=(\S+) request_id=\S+ close=(\S+)$",
        text,
        re.M,
    )
    # The refused socket closed by the server with 4401; the listener's closed by the client;
    # the idle one by the server with 4408.
    assert {close: user for user, close in sockets} == {
        "4401": "-",
        "-": str(listener["id"]),
        "4408": str(listener["id"]),
    }
    assert re.search(r"im\.access WS \S+ 101 .* request_id=ws-7 close=4408$", text, re.M)
    lines = {(m["method"], m["path"]): m for m in ACCESS.finditer(text)}
    me = lines[("GET", "/api/v1/users/{user_id}")]
    assert me["status"] == "200" and me["user"] == str(user_id) and me["rid"] == "rq-42"
    assert float(me["ms"]) > 0
    assert lines[("POST", "/api/v1/users")]["status"] == "201"
    assert lines[("GET", "<unmatched>")]["status"] == "404"
    logins = [m["status"] for m in ACCESS.finditer(text) if m["path"].endswith("/access-token")]
    assert "422" in logins and "200" in logins
    # The summary names the backends and folders and masks secrets, before "serving on".
    assert text.index("starting im serve") < text.index("serving on http://127.0.0.1:")
    assert f"sqlite {(tmp_path / 'data').resolve() / 'events.sqlite3'}" in text
    assert "IM_MONGO_URL=mongodb://im:****@db.example:27017/" in text
    assert "IM_PARTNER_JWT_SECRET=****" in text and "IM_RATE_LIMIT_ENABLED=false" in text
    assert "mongo-pw-1" not in text and "partner-secret" not in text and "test-secret" not in text
    assert re.search(r"INFO +im stopped cleanly after [\d.]+ s$", text.rstrip(), re.M)


async def test_json_format_and_level(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", IM_LOG_FORMAT="json").start()
    try:
        user_id, _ = await activity(server.url)

        async def logged() -> bool:
            return "rq-42" in server.logs()

        await wait_until(logged)
    finally:
        text = stopped(server)
    records: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines() if line]
    start = next(r for r in records if r.get("event") == "startup")
    assert start["msg"] == "startup" and start["process"] == "im serve"
    assert start["settings"]["IM_JWT_SECRET"] == "****"
    assert "projector" in start["roles"] and start["urls"]["docs"].endswith("/docs")
    access = [r for r in records if r["logger"] == "im.access"]
    me = next(r for r in access if r["path"] == "/api/v1/users/{user_id}")
    assert me["user_id"] == user_id and me["request_id"] == "rq-42" and me["status"] == 200
    assert me["method"] == "GET" and me["duration_ms"] > 0 and me["level"] == "info"
    assert records[-1]["event"] == "stopped"

    quiet = ServerProcess(tmp_path / "data", IM_LOG_LEVEL="warning").start()
    try:
        await activity(quiet.url)
    finally:
        text = stopped(quiet)
    assert "im.access" not in text and "starting im serve" not in text


def test_taken_port_is_one_clear_line_before_serving(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
            env=server_env(tmp_path / "data"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"im: cannot listen on 127.0.0.1:{port}: the port is already in use (another im serve?);"
        f" stop that process or choose another port: --port {port + 1} (or IM_PORT)"
    ]
    assert "serving on" not in done.stdout + done.stderr


def test_bad_log_settings_name_the_variable(tmp_path: Path) -> None:
    for var, value in (("IM_LOG_FORMAT", "xml"), ("IM_LOG_LEVEL", "loud")):
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(free_port())],
            env=server_env(tmp_path / "data", **{var: value}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and f"{var}={value!r} is unknown" in done.stderr
