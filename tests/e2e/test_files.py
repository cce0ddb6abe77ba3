"""Files through HTTP: upload, info, list, download headers, ranges, conditionals, visibility."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
import uuid
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import make_settings
from tests.helpers import API, new_user, wait_until

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))


def multipart(
    filename: bytes | None, content: bytes, **fields: str
) -> tuple[bytes, dict[str, str]]:
    """A multipart body built byte by byte, so hostile filenames reach the server unchanged."""
    boundary = "b" + uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    out += f"--{boundary}\r\n".encode()
    out += b'Content-Disposition: form-data; name="file"'
    if filename is not None:
        out += b'; filename="' + filename + b'"'
    out += b"\r\nContent-Type: image/png\r\n\r\n" + content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    content: bytes,
    name: str = "a.bin",
    **kw: Any,
) -> Any:
    r = await client.post(
        f"{API}/files/upload", files={"file": (name, content)}, data=kw, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()


def blob_files(settings: Settings) -> list[Path]:
    root = settings.blob_path
    return [p for p in root.rglob("*") if p.is_file() and p.parent != root / "tmp"]


def stored_file_events(settings: Settings) -> int:
    with sqlite3.connect(settings.data_path / "events.sqlite3") as conn:
        (n,) = conn.execute("SELECT COUNT(*) FROM events WHERE type = 'FileUploaded'").fetchone()
    return int(n)


async def test_upload_info_list_download(client: httpx.AsyncClient, settings: Settings) -> None:
    user, h = await new_user(client)
    content = b"hello, files " * 1000
    f = await upload(client, h, content, "notes.txt", description="my notes", is_public="false")
    assert re.fullmatch(r"[0-9a-f]{32}", f["file_id"])
    assert isinstance(f["id"], int)
    assert f["file_name"] == "notes.txt"
    assert f["file_size"] == len(content)
    assert f["sha256"] == hashlib.sha256(content).hexdigest()
    assert f["file_type"].startswith("text/plain")
    assert f["description"] == "my notes"
    assert f["uploader_id"] == user["id"] and f["is_public"] is False
    assert f["uploaded_at"].endswith("Z") and f["download_count"] == 0
    assert f["download_url"] == f"http://testserver{API}/files/download/{f['file_id']}"

    r = await client.get(f"{API}/files/info/{f['file_id']}", headers=h)
    assert r.status_code == 200 and r.json() == f
    r = await client.get(f"{API}/files/download-info/{f['file_id']}/", headers=h)
    assert r.json() == {
        "file_id": f["file_id"],
        "file_name": "notes.txt",
        "file_size": len(content),
        "file_type": f["file_type"],
        "download_url": f["download_url"],
    }
    second = await upload(client, h, b"second")
    r = await client.get(f"{API}/files/list", headers=h)
    assert [x["file_id"] for x in r.json()] == [second["file_id"], f["file_id"]]
    r = await client.get(f"{API}/files/list", params={"skip": 1, "limit": 1}, headers=h)
    assert [x["file_id"] for x in r.json()] == [f["file_id"]]
    r = await client.get(f"{API}/files/list", params={"limit": 0}, headers=h)
    assert r.status_code == 422

    r = await client.get(f["download_url"], headers=h)
    assert r.status_code == 200 and r.content == content
    assert r.headers["content-length"] == str(len(content))
    assert r.headers["etag"] == f'"{f["sha256"]}"'
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-disposition"].startswith("inline;")

    async def counted() -> bool:
        r = await client.get(f"{API}/files/info/{f['file_id']}", headers=h)
        return bool(r.json()["download_count"] == 1)

    await wait_until(counted, timeout=10)
    # stored under the random id, never under the client's name
    assert {p.name for p in blob_files(settings)} == {f["file_id"], second["file_id"]}


async def test_download_info_uses_public_base_url(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "d", public_base_url="https://im.example.org/")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://internal") as c:
            _, h = await new_user(c)
            f = await upload(c, h, b"x")
            r = await c.get(f"{API}/files/download-info/{f['file_id']}", headers=h)
    want = f"https://im.example.org{API}/files/download/{f['file_id']}"
    assert r.json()["download_url"] == want == f["download_url"]


async def test_over_limit_is_413_without_blob_or_event(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "d", max_upload_bytes=100_000)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            _, h = await new_user(c)
            exact = await upload(c, h, b"x" * 100_000)
            assert exact["file_size"] == 100_000
            before = blob_files(settings)
            r = await c.post(
                f"{API}/files/upload", files={"file": ("big.bin", b"x" * 100_001)}, headers=h
            )
            assert r.status_code == 413
            assert "detail" in r.json()
            # declared too large by Content-Length: refused before anything is written
            for extra in ({}, {"Expect": "100-continue"}):
                r = await c.post(
                    f"{API}/files/upload",
                    files={"file": ("big.bin", b"x" * 300_000)},
                    headers={**h, **extra},
                )
                assert r.status_code == 413
            r = await c.get(f"{API}/files/list", headers=h)
            assert [x["file_id"] for x in r.json()] == [exact["file_id"]]
    assert blob_files(settings) == before
    assert list((settings.blob_path / "tmp").iterdir()) == []
    assert stored_file_events(settings) == 1


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"../../etc/passwd", "passwd"),
        (b"..\\..\\windows\\win.ini", "win.ini"),
        (b"nul\x00byte.txt", "nulbyte.txt"),
        (b"a%0D%0ASet-Cookie: x=1.txt", "aSet-Cookie: x=1.txt"),
        (b'say \\"hi\\".txt', 'say "hi".txt'),
        (b"say %22hi%22.txt", 'say "hi".txt'),
        ("季度报告 ✓ 📎.pdf".encode(), "季度报告 ✓ 📎.pdf"),
        ("ファイル\u202egnp.exe".encode(), "ファイルgnp.exe"),
        (b"..", "file"),
        (b"", "file"),
        (b"semi;colon, comma.txt", "semi;colon, comma.txt"),
    ],
)
async def test_hostile_filenames(
    client: httpx.AsyncClient, settings: Settings, raw: bytes, shown: str
) -> None:
    _, h = await new_user(client)
    body, ctype = multipart(raw, b"plain text body")
    r = await client.post(f"{API}/files/upload", content=body, headers={**h, **ctype})
    assert r.status_code == 201, r.text
    f = r.json()
    assert f["file_name"] == shown
    assert {p.name for p in blob_files(settings)} >= {f["file_id"]}
    assert all(re.fullmatch(r"[0-9a-f]{32}", p.name) for p in blob_files(settings))

    r = await client.get(f"{API}/files/download/{f['file_id']}", headers=h)
    assert r.status_code == 200
    cd = r.headers["content-disposition"]
    assert not any(ch in cd for ch in "\r\n\x00")
    m = re.fullmatch(r'(inline|attachment); filename="([^"\\]*)"; filename\*=UTF-8\'\'(\S+)', cd)
    assert m is not None, cd
    fallback, encoded = m.group(2), m.group(3)
    assert fallback.isascii() and fallback and "/" not in fallback
    assert re.fullmatch(r"[A-Za-z0-9!#$&+\-.^_`|~%]+", encoded)
    assert unquote(encoded, errors="strict") == shown


async def test_mime_is_sniffed_and_active_content_is_attachment(
    client: httpx.AsyncClient,
) -> None:
    _, h = await new_user(client)
    cases = [
        (b"<!DOCTYPE html><script>alert(1)</script>", "photo.png", "text/html", "attachment"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
            "a.png",
            "image/svg+xml",
            "attachment",
        ),
        (b'<?xml version="1.0"?><r/>', "a.txt", "application/xml", "attachment"),
        (PNG, "looks.txt", "image/png", "inline"),
        (b"\x7fELF\x02\x01\x01" + bytes(100), "x.jpg", "application/x-executable", "attachment"),
        (bytes(range(256)) * 4, "x.txt", "application/octet-stream", "attachment"),
    ]
    for content, name, mime, disposition in cases:
        body, ctype = multipart(name.encode(), content)  # declares image/png whatever it is
        r = await client.post(f"{API}/files/upload", content=body, headers={**h, **ctype})
        assert r.status_code == 201, r.text
        f = r.json()
        assert f["file_type"] == mime, name
        r = await client.get(f"{API}/files/download/{f['file_id']}", headers=h)
        assert r.headers["content-type"].startswith(mime)
        assert r.headers["content-disposition"].split(";")[0] == disposition
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.content == content


async def test_ranges_per_rfc9110(client: httpx.AsyncClient) -> None:
    _, h = await new_user(client)
    content = bytes(range(256)) * 40  # 10240 bytes
    size = len(content)
    f = await upload(client, h, content)
    url = f"{API}/files/download/{f['file_id']}"

    async def get(**headers: str) -> httpx.Response:
        return await client.get(url, headers={**h, **headers})

    for spec, (start, end) in {
        "bytes=0-9": (0, 9),
        "bytes=100-": (100, size - 1),
        "bytes=-300": (size - 300, size - 1),
        "bytes=-999999": (0, size - 1),
        "bytes=10000-99999": (10000, size - 1),
        "BYTES = 5 - 5": (5, 5),
    }.items():
        r = await get(Range=spec)
        assert r.status_code == 206, spec
        assert r.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert r.headers["content-length"] == str(end - start + 1)
        assert r.content == content[start : end + 1]
        assert r.headers["etag"] == f'"{f["sha256"]}"'
    for spec in ("bytes=10240-", "bytes=99999-100000", "bytes=-0"):
        r = await get(Range=spec)
        assert r.status_code == 416, spec
        assert r.headers["content-range"] == f"bytes */{size}"
    # ignored: bad syntax, other units, several ranges -> the whole representation
    for spec in ("bytes=9-2", "bytes=abc", "items=0-1", "bytes=0-1,5-6", "bytes=-"):
        r = await get(Range=spec)
        assert r.status_code == 200 and r.content == content, spec
    etag = r.headers["etag"]
    last_modified = r.headers["last-modified"]
    r = await get(Range="bytes=0-0", **{"If-Range": etag})
    assert r.status_code == 206 and r.content == content[:1]
    r = await get(Range="bytes=0-0", **{"If-Range": last_modified})
    assert r.status_code == 206
    r = await get(Range="bytes=0-0", **{"If-Range": '"other"'})
    assert r.status_code == 200 and r.content == content
    r = await get(Range="bytes=0-0", **{"If-Range": "W/" + etag})
    assert r.status_code == 200  # a weak tag never matches If-Range


async def test_conditional_requests(client: httpx.AsyncClient) -> None:
    _, h = await new_user(client)
    f = await upload(client, h, b"conditional body")
    url = f"{API}/files/download/{f['file_id']}"
    etag = f'"{f["sha256"]}"'

    async def get(**headers: str) -> httpx.Response:
        return await client.get(url, headers={**h, **headers})

    for inm in (etag, f'"x", {etag}', "W/" + etag, "*"):
        r = await get(**{"If-None-Match": inm})
        assert r.status_code == 304, inm
        assert r.content == b""
        assert r.headers["etag"] == etag
    r = await get(**{"If-None-Match": '"nope"'})
    assert r.status_code == 200 and r.content == b"conditional body"
    future = formatdate(time.time() + 3600, usegmt=True)
    past = formatdate(time.time() - 3600, usegmt=True)
    r = await get(**{"If-Modified-Since": future})
    assert r.status_code == 304
    r = await get(**{"If-Modified-Since": past})
    assert r.status_code == 200
    r = await get(**{"If-None-Match": '"nope"', "If-Modified-Since": future})
    assert r.status_code == 200  # If-None-Match wins over If-Modified-Since
    r = await get(**{"If-Match": '"nope"'})
    assert r.status_code == 412
    r = await get(**{"If-Match": etag})
    assert r.status_code == 200
    r = await get(**{"If-Unmodified-Since": past})
    assert r.status_code == 412
    r = await client.head(url, headers=h)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(len(b"conditional body"))


async def test_visibility_public_private_delete(app: Starlette, client: httpx.AsyncClient) -> None:
    _owner, ho = await new_user(client)
    _, hx = await new_user(client)
    private = await upload(client, ho, b"private")
    public = await upload(client, ho, b"public", is_public="true")
    assert public["is_public"] is True
    for path in ("info", "download", "download-info"):
        r = await client.get(f"{API}/files/{path}/{private['file_id']}", headers=hx)
        assert r.status_code == 404, path
        assert r.json() == {"detail": "File not found", "message": "File not found"}
        r = await client.get(f"{API}/files/{path}/{public['file_id']}", headers=hx)
        assert r.status_code == 200, path
        r = await client.get(f"{API}/files/{path}/{'0' * 32}", headers=ho)
        assert r.status_code == 404
        r = await client.get(f"{API}/files/{path}/..%2F..%2Fetc", headers=ho)
        assert r.status_code == 404
    r = await client.get(f"{API}/files/list", headers=hx)
    assert r.json() == []
    r = await client.delete(f"{API}/files/{private['file_id']}", headers=hx)
    assert r.status_code == 404
    r = await client.delete(f"{API}/files/{public['file_id']}", headers=hx)
    assert r.status_code == 403
    for malformed in ("not-a-file-id", "A" * 32, "0" * 33):
        r = await client.delete(f"{API}/files/{malformed}", headers=ho)
        assert r.status_code == 404, malformed
        assert r.json() == {"detail": "File not found", "message": "File not found"}
    r = await client.get(f"{API}/files/info/{private['file_id']}")
    assert r.status_code == 401

    r = await client.delete(f"{API}/files/{private['file_id']}", headers=ho)
    assert r.status_code == 204
    for path in ("info", "download", "download-info"):
        r = await client.get(f"{API}/files/{path}/{private['file_id']}", headers=ho)
        assert r.status_code == 404
    r = await client.delete(f"{API}/files/{private['file_id']}", headers=ho)
    assert r.status_code == 404
    r = await client.get(f"{API}/files/list", headers=ho)
    assert [x["file_id"] for x in r.json()] == [public["file_id"]]
    blobs = app.state.process.commands.blobs
    assert await blobs.open(private["file_id"]) is None


async def test_superuser_sees_and_deletes_any_file(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "d", first_superuser="root_files", first_superuser_password="rootpass1"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            _, h = await new_user(c)
            f = await upload(c, h, b"secret")
            r = await c.post(
                f"{API}/auth/login/access-token",
                data={"username": "root_files", "password": "rootpass1"},
            )
            hs = {"Authorization": f"Bearer {r.json()['access_token']}"}
            r = await c.get(f"{API}/files/download/{f['file_id']}", headers=hs)
            assert r.status_code == 200 and r.content == b"secret"
            r = await c.delete(f"{API}/files/{f['file_id']}", headers=hs)
            assert r.status_code == 204
            r = await c.get(f"{API}/files/info/{f['file_id']}", headers=h)
            assert r.status_code == 404


async def test_bad_uploads_are_4xx(client: httpx.AsyncClient) -> None:
    _, h = await new_user(client)
    r = await client.post(f"{API}/files/upload", json={"file": "x"}, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "file"]
    r = await client.post(f"{API}/files/upload", data={"description": "no file"}, headers=h)
    assert r.status_code == 422
    body, ctype = multipart(b"a.txt", b"x", is_public="maybe")
    r = await client.post(f"{API}/files/upload", content=body, headers={**h, **ctype})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "is_public"]
    body, ctype = multipart(b"a.txt", b"x", junk="j" * 100_000)  # form fields stay small
    r = await client.post(f"{API}/files/upload", content=body, headers={**h, **ctype})
    assert r.status_code == 413
    body, ctype = multipart(b"a" * 70_000, b"x")  # a part header line over 4 KiB
    r = await client.post(f"{API}/files/upload", content=body, headers={**h, **ctype})
    assert r.status_code == 400
    assert "header" in r.json()["detail"]
    body, ctype = multipart(b"a.txt", b"x", description="d" * 1001)
    r = await client.post(f"{API}/files/upload", content=body, headers={**h, **ctype})
    assert r.status_code == 422
    ctype = {"Content-Type": "multipart/form-data; boundary=zzz"}
    r = await client.post(f"{API}/files/upload", content=b"--zzz\r\nbroken", headers={**h, **ctype})
    assert r.status_code in (400, 422)
    r = await client.post(f"{API}/files/upload", files={"file": ("a", b"x")})
    assert r.status_code == 401
    r = await client.post(
        f"{API}/files/upload",
        files=[("file", ("a", b"x")), ("file", ("b", b"y"))],
        headers=h,
    )
    assert r.status_code == 422
    empty = await upload(client, h, b"", "empty.txt")
    assert empty["file_size"] == 0
    assert empty["sha256"] == hashlib.sha256(b"").hexdigest()
    r = await client.get(f"{API}/files/download/{empty['file_id']}", headers=h)
    assert r.status_code == 200 and r.content == b""
    r = await client.get(
        f"{API}/files/download/{empty['file_id']}", headers={**h, "Range": "bytes=0-"}
    )
    assert r.status_code == 200


async def test_range_from_the_middle_is_not_counted(client: httpx.AsyncClient) -> None:
    _, h = await new_user(client)
    f = await upload(client, h, b"0123456789")
    url = f"{API}/files/download/{f['file_id']}"
    await client.get(url, headers={**h, "Range": "bytes=5-"})
    await client.get(url, headers={**h, "If-None-Match": f'"{f["sha256"]}"'})
    await client.get(url, headers={**h, "Range": "bytes=0-4"})

    async def counted() -> bool:
        r = await client.get(f"{API}/files/info/{f['file_id']}", headers=h)
        return bool(r.json()["download_count"] >= 1)

    await wait_until(counted, timeout=10)
    r = await client.get(f"{API}/files/info/{f['file_id']}", headers=h)
    assert r.json()["download_count"] == 1


async def test_files_on_mongo_read_store(tmp_path: Path, secantus_db: tuple[str, str]) -> None:
    url, db = secantus_db
    settings = make_settings(tmp_path / "d", read_store="mongo", mongo_url=url, mongo_db=db)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            _, h = await new_user(c)
            _, hx = await new_user(c)
            first = await upload(c, h, b"one")
            second = await upload(c, h, b"two", is_public="true")
            r = await c.get(f"{API}/files/list", headers=h)
            assert [x["file_id"] for x in r.json()] == [second["file_id"], first["file_id"]]
            r = await c.get(f"{API}/files/info/{first['file_id']}", headers=hx)
            assert r.status_code == 404
            r = await c.get(f"{API}/files/download/{second['file_id']}", headers=hx)
            assert r.status_code == 200 and r.content == b"two"

            async def counted() -> bool:
                r = await c.get(f"{API}/files/info/{second['file_id']}", headers=h)
                return bool(r.json()["download_count"] == 1)

            await wait_until(counted, timeout=10)
            r = await c.delete(f"{API}/files/{first['file_id']}", headers=h)
            assert r.status_code == 204
            r = await c.get(f"{API}/files/list", headers=h)
            assert [x["file_id"] for x in r.json()] == [second["file_id"]]
