"""Abuse suite: request size, header size, JSON nesting, malformed multipart, client aborts.

Each test sends what an attacker would, over a real socket to ``im serve`` where the transport
matters, and asserts a 4xx with a ``detail`` (never a 500 or a reset) and nothing stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from tests.conftest import make_settings
from tests.helpers import API, PASSWORD, ServerProcess, new_user
from tests.ws import live

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("abuse")).start()
    yield srv
    srv.stop()


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


async def raw_request(server: ServerProcess, head: bytes, body: bytes = b"") -> tuple[int, Any]:
    """Send bytes on a fresh connection; returns (status, JSON body) of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(head + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        length = 0
        while (line := await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await asyncio.wait_for(reader.readexactly(length), 10)
        return int(status_line.split()[1]), json.loads(data)
    finally:
        writer.close()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- 5. body and header limits --------------------------------------------------------------------
async def test_a_declared_oversized_json_body_gets_413_before_it_is_sent(
    server: ServerProcess,
) -> None:
    head = (
        f"POST {API}/users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {200 * MIB}\r\n\r\n"
    ).encode()
    status, body = await raw_request(server, head)  # not one byte of the 200 MB is sent
    assert status == 413
    assert "1048576" in body["detail"]


async def test_a_chunked_json_body_over_the_limit_gets_413_while_streaming(
    server: ServerProcess,
) -> None:
    head = (
        f"POST {API}/users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"a" * MIB
    # Three MiB of an endless body, no Content-Length: the answer comes without the rest.
    body = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(3))
    status, answer = await raw_request(server, head, body)
    assert status == 413
    assert "limit" in answer["detail"]


async def test_a_login_form_over_the_limit_gets_413(http: httpx.AsyncClient) -> None:
    r = await http.post(
        f"{API}/auth/login/access-token",
        data={"username": "someone", "password": "p" * (2 * MIB)},
    )
    assert r.status_code == 413
    assert r.json()["detail"]


async def test_headers_over_16_kib_get_431(server: ServerProcess) -> None:
    filler = "".join(f"X-Filler-{i}: {'v' * 1000}\r\n" for i in range(17))
    head = f"GET /health HTTP/1.1\r\nHost: x\r\n{filler}\r\n".encode()
    status, body = await raw_request(server, head)
    assert status == 431
    assert "16384" in body["detail"]


async def test_headers_under_16_kib_are_fine(server: ServerProcess) -> None:
    filler = "".join(f"X-Filler-{i}: {'v' * 1000}\r\n" for i in range(14))
    head = f"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{filler}\r\n".encode()
    status, _ = await raw_request(server, head)
    assert status == 200


# -- 6. nesting, multipart, client aborts ---------------------------------------------------------
@pytest.mark.parametrize("depth", [64, 1000, 100_000])  # inside an object: 65 levels and up
async def test_json_nested_deeper_than_64_is_a_400_on_open_and_authenticated_routes(
    http: httpx.AsyncClient, depth: int
) -> None:
    _, headers = await new_user(http)
    body = '{"conversation_id": 1, "content": "x", "reply_to_id": ' + nested(depth) + "}"
    for path, h in ((f"{API}/users/", {}), (f"{API}/messages/text", headers)):
        r = await http.post(path, content=body, headers={**h, "Content-Type": "application/json"})
        assert r.status_code == 400, (path, r.text)
        assert "nested deeper than 64" in r.json()["detail"]
    # The connection and the server are fine afterwards.
    assert (await http.get(f"{API}/users/me", headers=headers)).status_code == 200


async def test_json_nested_64_deep_is_judged_by_its_schema_not_refused(
    http: httpx.AsyncClient,
) -> None:
    body = '{"standard_id": ' + nested(63) + ', "name": "n", "password": "secret123"}'  # 64
    r = await http.post(f"{API}/users/", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422  # a list is not a standard_id; depth itself is allowed


async def test_a_deeply_nested_websocket_frame_gets_an_error_frame_and_the_socket_stays(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    _, headers = await new_user(http)
    token = headers["Authorization"].removeprefix("Bearer ")
    async with live(server.url, token) as ws:
        await ws.ws.send('{"type": "ping", "x": ' + nested(5000) + "}")
        frame = await ws.expect("error")
        assert "nested deeper than 64" in frame["data"]["detail"]
        assert (await ws.ping())["type"] == "pong"


def multipart(boundary: str, *, close: bool = True, content: bytes = b"hello") -> bytes:
    b = boundary.encode()
    body = (
        b"--" + b + b'\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + content
    )
    return body + (b"\r\n--" + b + b"--\r\n" if close else b"")


async def test_a_5000_character_multipart_boundary_is_a_400(http: httpx.AsyncClient) -> None:
    _, headers = await new_user(http)
    boundary = "b" * 5000
    for path, h in ((f"{API}/files/upload", headers), (f"{API}/auth/login/access-token", {})):
        r = await http.post(
            path,
            content=multipart(boundary),
            headers={**h, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert r.status_code == 400, (path, r.text)
        assert "boundary" in r.json()["detail"]


async def test_an_upload_without_its_closing_boundary_is_a_400_and_stores_nothing(
    http: httpx.AsyncClient, server: ServerProcess
) -> None:
    _, headers = await new_user(http)
    r = await http.post(
        f"{API}/files/upload",
        content=multipart("xyz", close=False, content=b"x" * 100_000),
        headers={**headers, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert r.status_code == 400, r.text
    assert "closing boundary" in r.json()["detail"]
    assert (await http.get(f"{API}/files/list", headers=headers)).json() == []
    tmp = Path(server.env["IM_DATA_DIR"]) / "blobs" / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Starlette]:
    application = create_app(make_settings(tmp_path / "data"))
    async with application.router.lifespan_context(application):
        yield application


async def test_a_client_that_disconnects_mid_body_is_an_abort_not_a_500(
    app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        _, headers = await new_user(c)
    token = headers["Authorization"].encode()
    for path, ctype in (
        (f"{API}/messages/text", b"application/json"),
        (f"{API}/auth/login/access-token", b"application/x-www-form-urlencoded"),
        (f"{API}/files/upload", b"multipart/form-data; boundary=xyz"),
    ):
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            statuses = await aborted_request(app, path, ctype, token)  # raises nothing
        assert all(s < 500 for s in statuses), (path, statuses)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], path


async def aborted_request(app: Starlette, path: str, ctype: bytes, token: bytes) -> list[int]:
    """Send part of a body, then disconnect; returns the statuses the app tried to answer."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"conversation_id": 1, ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"t"),
            (b"authorization", token),
            (b"content-type", ctype),
            (b"content-length", b"1000"),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("t", 80),
        "state": {},
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    return [m["status"] for m in sent if m["type"] == "http.response.start"]


async def test_a_normal_json_request_still_works(http: httpx.AsyncClient) -> None:
    user, _headers = await new_user(http)
    r = await http.post(
        f"{API}/auth/login/access-token",
        data={"username": user["standard_id"], "password": PASSWORD},
    )
    assert r.status_code == 200


# -- what held in the adversarial pass, kept held ------------------------------------------------
@pytest.mark.parametrize(
    "framing",
    [
        "Content-Length: 5\r\nTransfer-Encoding: chunked",  # CL.TE
        "Transfer-Encoding: chunked\r\nContent-Length: 5",  # TE.CL
        "Content-Length: 5\r\nContent-Length: 50",  # two lengths
        "Transfer-Encoding: xchunked",  # an encoding nobody implements
    ],
)
async def test_ambiguous_request_framing_is_refused(server: ServerProcess, framing: str) -> None:
    """Request smuggling: a request whose length two parsers could read differently is
    refused as a whole, never split into a second request."""
    head = f"POST {API}/users/ HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n".encode()
    smuggled = b"0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(head + smuggled)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    assert data.startswith(b"HTTP/1.1 400"), data[:200]
    assert data.count(b"HTTP/1.1 ") == 1, data  # no second (smuggled) response


async def test_path_traversal_in_file_ids_finds_nothing(http: httpx.AsyncClient) -> None:
    _, headers = await new_user(http)
    for fid in ("..%2F..%2Fevents.sqlite3", "..%252F..%252Fjwt_secret", "%2e%2e", "a" * 65):
        for path in ("download", "info"):
            r = await http.get(f"{API}/files/{path}/{fid}", headers=headers)
            assert r.status_code == 404, (fid, r.status_code)
