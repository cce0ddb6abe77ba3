"""Durability settings of the event store, and read models that never run ahead of the log."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

import httpx
import pytest

from commands.event_store.sqlite import SqliteEventStore
from gateway.app import Process, create_app
from gateway.settings import Settings, SettingsError, ensure_jwt_secret, load_settings
from gateway.stores import build_event_store
from tests.conftest import make_settings
from tests.e2e.chat_helpers import group, history, sent
from tests.helpers import API, PASSWORD, new_user


async def test_event_store_commits_with_full_sync_by_default(tmp_path: Path) -> None:
    store = build_event_store(load_settings({"IM_DATA_DIR": str(tmp_path)}))
    try:
        assert isinstance(store, SqliteEventStore)
        assert store.synchronous == "full"
    finally:
        await store.close()


async def test_event_store_commits_with_normal_sync_only_when_set(tmp_path: Path) -> None:
    env = {"IM_DATA_DIR": str(tmp_path), "IM_SQLITE_SYNCHRONOUS": "normal"}
    store = build_event_store(load_settings(env))
    try:
        assert isinstance(store, SqliteEventStore)
        assert store.synchronous == "normal"
    finally:
        await store.close()


def test_an_unknown_synchronous_setting_is_refused_with_its_name() -> None:
    with pytest.raises(SettingsError, match="IM_SQLITE_SYNCHRONOUS"):
        load_settings({"IM_SQLITE_SYNCHRONOUS": "off"})


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Process]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c, app.state.process


def read_models(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Every read-model document, per collection table, in key order."""
    with closing(sqlite3.connect(path)) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if r[0].startswith("c_")
        ]
        docs = [t for t in tables if {"key", "doc"} <= table_columns(conn, t)]  # not FTS tables
        return {t: list(conn.execute(f"SELECT key, doc FROM {t} ORDER BY key")) for t in docs}


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def snapshot(db: Path, copy: Path) -> None:
    with closing(sqlite3.connect(db)) as src, closing(sqlite3.connect(copy)) as dst:
        src.backup(dst)


def restore(copy: Path, db: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(copy, db)


def projection_checkpoints(path: Path, names: list[str]) -> dict[str, int]:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT projection, position FROM checkpoints").fetchall()
    return {p: pos for p, pos in rows if p in names}


async def test_read_models_ahead_of_the_log_are_rebuilt_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path / "data")
    events_file = settings.data_path / "events.sqlite3"
    async with running(settings) as (c, _):
        _alice, ha = await new_user(c)
        bob, hb = await new_user(c)
        g = await group(c, ha, [bob["id"]])
        for i in range(3):
            await sent(c, ha, g["id"], f"before {i}")
    # The "older snapshot": a consistent copy of the log as it is now (WAL included).
    snapshot(events_file, tmp_path / "snapshot.sqlite3")

    async with running(settings) as (c, _):
        for i in range(3):
            await sent(c, hb, g["id"], f"lost {i}")
        carol, _ = await new_user(c)
        await group(c, ha, [bob["id"]], name="Lost group")

    # The log loses its tail (as after a power cut with synchronous=NORMAL); the read models
    # keep everything.
    restore(tmp_path / "snapshot.sqlite3", events_file)

    caplog.set_level(logging.WARNING, logger="im.projector")
    async with running(settings) as (c, svc):
        head = await svc.commands.events.head()
        assert await svc.queries.wait_for(head, 10)
        msgs = await history(c, ha, g["id"])
        assert [m["content"] for m in msgs if m["message_type"] == "text"] == [
            "before 0",
            "before 1",
            "before 2",
        ]
        r = await c.post(
            f"{API}/auth/login/access-token",
            data={"username": carol["standard_id"], "password": PASSWORD},
        )
        assert r.status_code == 400  # carol's registration was in the lost tail
        lists = await c.get(f"{API}/conversations/", headers=ha)
        assert [x["name"] for x in lists.json()] == ["Team"]
        # New events take the lost positions; the read models follow them.
        new = await sent(c, hb, g["id"], "after")
        assert new["seq"] == msgs[-1]["seq"] + 1
        assert [m["content"] for m in await history(c, ha, g["id"])][-1] == "after"
        names = [p.name for p in svc.queries.projections]
    assert "rebuilding it from the log" in caplog.text  # and says why

    # What the repaired read models hold is what a rebuild from the same log gives.
    rebuilt_dir = tmp_path / "rebuilt"
    rebuilt_dir.mkdir()
    shutil.copy(events_file, rebuilt_dir / "events.sqlite3")
    svc2 = Process(make_settings(rebuilt_dir), inline_projector=False)
    try:
        await svc2.queries.projector.rebuild()
    finally:
        await svc2.stop()
    read_file = settings.data_path / "read.sqlite3"
    assert read_models(read_file) == read_models(rebuilt_dir / "read.sqlite3")
    assert projection_checkpoints(read_file, names) == projection_checkpoints(
        rebuilt_dir / "read.sqlite3", names
    )


def test_generated_jwt_secret_is_kept_and_a_torn_one_replaced(tmp_path: Path) -> None:
    settings = load_settings({"IM_DATA_DIR": str(tmp_path)})
    first = ensure_jwt_secret(settings).jwt_secret
    assert len(first) >= 32
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o777 == 0o600
    assert ensure_jwt_secret(settings).jwt_secret == first
    # A file left empty by a power cut before the write reached the disk: never an empty key.
    (tmp_path / "jwt_secret").write_text("")
    again = ensure_jwt_secret(settings).jwt_secret
    assert len(again) >= 32 and again != first
