"""``im doctor``: check every configured backend and say what is wrong and how to fix it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import urllib.request
from collections.abc import Awaitable, Callable
from urllib.parse import unquote, urlsplit

import msgspec

from gateway.logs import mask_url
from gateway.settings import Settings
from gateway.stores import build_event_store, build_read_store

TIMEOUT_S = 5.0


class Check(msgspec.Struct):
    name: str
    status: str  # "ok", "off" (not configured) or "FAIL"
    detail: str
    fix: str = ""


def _error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT_S:g} s"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


async def _guard(
    name: str, where: str, fix: str | Callable[[str], str], check: Callable[[], Awaitable[Check]]
) -> Check:
    """``check()`` within ``TIMEOUT_S``; a failure is a finding: what failed ``where``, and its
    fix (``fix`` of the error message, when the fix depends on it)."""
    try:
        async with asyncio.timeout(TIMEOUT_S):
            return await check()
    except Exception as exc:  # every failure is a finding, reported with its fix
        error = _error(exc)
        return Check(name, "FAIL", f"{where}: {error}", fix if isinstance(fix, str) else fix(error))


async def event_store(s: Settings) -> Check:
    if s.event_store == "sqlite":
        path = s.data_path.resolve() / "events.sqlite3"
        if not path.exists():
            return Check("event store", "ok", f"sqlite {path}: not created yet (im serve does)")
        where = f"sqlite {path}"
        fix = f"check that {path} is a readable SQLite file and not locked by a crashed process"
    else:
        where = f"kurrentdb {mask_url(s.kurrentdb_url or '')}"
        fix = (
            "start KurrentDB (docker compose up kurrentdb) or fix IM_KURRENTDB_URL"
            " (kurrentdb://host:2113?tls=false)"
        )

    async def run() -> Check:
        store = build_event_store(s)
        try:
            head = await store.head()
        finally:
            await store.close()
        return Check("event store", "ok", f"{where}: head at position {head:,}")

    return await _guard("event store", where, fix, run)


async def read_store(s: Settings) -> Check:
    if s.read_store == "sqlite":
        path = s.data_path.resolve() / "read.sqlite3"
        if not path.exists():
            return Check("read store", "ok", f"sqlite {path}: not created yet (im serve does)")
        where = f"sqlite {path}"
        fix = f"check {path}; ./im rebuild recreates it from the events"
    else:
        where = f"mongo {mask_url(s.mongo_url or '')} database {s.mongo_db}"
        fix = (
            "start MongoDB as a replica set (docker compose up mongo) or fix IM_MONGO_URL"
            " (mongodb://host:27017/?replicaSet=rs0)"
        )

    async def run() -> Check:
        store = build_read_store(s)
        try:
            position = await store.checkpoint("users")
        finally:
            await store.close()
        return Check("read store", "ok", f"{where}: users projected up to {position:,}")

    return await _guard("read store", where, fix, run)


async def broker(s: Settings) -> Check:
    if not s.amqp_url:
        return Check("broker", "off", "IM_AMQP_URL is unset: no cascade to partners")
    where = mask_url(s.amqp_url)

    async def run() -> Check:
        from projections.cascade.amqp import AmqpBroker

        amqp = AmqpBroker(s.amqp_url or "", name="im doctor", reconnect_seconds=1.0)
        try:
            await amqp.connection()
        finally:
            await amqp.close()
        return Check("broker", "ok", f"{where}: connected (exchange {s.amqp_exchange})")

    return await _guard("broker", where, _broker_fix, run)


def _broker_fix(error: str) -> str:
    if "ACCESS_REFUSED" in error:
        return "check the user and password in IM_AMQP_URL (rabbitmqctl list_users)"
    if "NOT_ALLOWED" in error or "vhost" in error:
        return "check the vhost in IM_AMQP_URL (rabbitmqctl list_vhosts)"
    return (
        "start RabbitMQ (systemctl start rabbitmq-server, or rabbitmq-server -detached;"
        " install: apt-get install rabbitmq-server), or fix or unset IM_AMQP_URL"
    )


async def redis(s: Settings) -> Check:
    url = getattr(s, "redis_url", None)
    if not url:
        return Check("redis", "off", "IM_REDIS_URL is unset: presence is kept in each process")
    where = mask_url(url)
    fix = (
        "start Redis (systemctl start redis-server, or redis-server --daemonize yes;"
        " install: apt-get install redis-server), or fix or unset IM_REDIS_URL"
    )

    async def run() -> Check:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            reader, writer = await asyncio.open_unix_connection(parts.path)
        else:
            host, port = parts.hostname or "127.0.0.1", parts.port or 6379
            ssl = parts.scheme == "rediss" or None
            reader, writer = await asyncio.open_connection(host, port, ssl=ssl)
        try:
            if parts.password:
                user = unquote(parts.username) if parts.username else None
                args = ["AUTH", *([user] if user else []), unquote(parts.password)]
                writer.write(_resp(args))
                answer = await reader.readline()
                if not answer.startswith(b"+OK"):
                    raise RuntimeError(f"AUTH refused: {answer.decode(errors='replace').strip()}")
            writer.write(_resp(["PING"]))
            answer = await reader.readline()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if not answer.startswith(b"+PONG"):
            raise RuntimeError(f"unexpected answer to PING: {answer[:80]!r}")
        return Check("redis", "ok", f"{where}: PONG")

    return await _guard("redis", where, fix, run)


def _resp(args: list[str]) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        data = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def blob_dir(s: Settings) -> Check:
    path = s.blob_path.resolve()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return Check("blob dir", "FAIL", f"{path}: no existing parent folder", "set IM_BLOB_DIR")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".im-doctor-"):
            pass
    except OSError as exc:
        return Check(
            "blob dir",
            "FAIL",
            f"{path}: cannot write in {existing}: {exc.strerror}",
            f"make {existing} writable for user {_user()} (chown/chmod) or set IM_BLOB_DIR",
        )
    free = shutil.disk_usage(existing).free
    state = "exists" if path.exists() else "will be created"
    detail = f"{path}: {state}, writable, {free / 2**30:,.1f} GiB free"
    if free < 1 << 30:
        return Check("blob dir", "FAIL", detail, "free disk space (uploads need room)")
    return Check("blob dir", "ok", detail)


def _user() -> str:
    try:
        return os.getlogin()
    except OSError:
        return str(os.getuid())


def listen(s: Settings) -> Check:
    where = f"{s.host}:{s.port}"
    family = socket.AF_INET6 if ":" in s.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((s.host, s.port))
            return Check("listen", "ok", f"{where} is free")
        except OSError as exc:
            bind_error = exc.strerror or str(exc)
    try:
        with urllib.request.urlopen(f"http://{where}/health", timeout=2) as r:
            if r.status == 200:
                return Check("listen", "ok", f"{where}: an im server is already running there")
    except Exception:
        pass
    return Check(
        "listen",
        "FAIL",
        f"{where}: {bind_error}, and what listens there is not an im server",
        "stop that program, or choose another port with IM_PORT or --port",
    )


async def run_checks(s: Settings) -> list[Check]:
    found = [await event_store(s), await read_store(s)]
    found += [await broker(s), await redis(s)]
    found += [blob_dir(s), listen(s)]
    return found


def report(found: list[Check]) -> tuple[str, int]:
    """The printout and the number of problems."""
    lines = ["im doctor: the configured backends (IM_* settings, see docs/settings.md)"]
    for c in found:
        lines.append(f"  {c.status:<5} {c.name:<12} {c.detail}")
        if c.fix:
            lines.append(f"  {'':<5} {'':<12} fix: {c.fix}")
    problems = sum(1 for c in found if c.status == "FAIL")
    lines.append(
        "all good" if not problems else f"{problems} problem{'s' if problems > 1 else ''} found"
    )
    return "\n".join(lines), problems
