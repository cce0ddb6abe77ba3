"""Which event store (and its auditors' log) and read store the settings choose."""

from __future__ import annotations

import importlib
from typing import Any, cast

from domain.audit import EventLog
from domain.store import EventStore
from gateway.settings import Settings
from projections.store import ReadStore

# Adapters are imported only when chosen, so an unused backend's driver is never loaded.
_EVENT_STORES = {
    "sqlite": "commands.event_store.sqlite:SqliteEventStore",
    "kurrentdb": "commands.event_store.kurrentdb:KurrentDbEventStore",
}
_EVENT_LOGS = {
    "sqlite": "commands.event_store.sqlite_log:SqliteEventLog",
    "kurrentdb": "commands.event_store.kurrentdb_log:KurrentDbEventLog",
}
_READ_STORES = {
    "sqlite": "projections.read_store.sqlite:SqliteReadStore",
    "mongo": "projections.read_store.mongo:MongoReadStore",
}


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def build_event_store(settings: Settings) -> EventStore:
    cls = _load(_EVENT_STORES[settings.event_store])
    if settings.event_store == "kurrentdb":
        return cast(EventStore, cls(settings.kurrentdb_url))
    return cast(EventStore, cls(settings.data_path / "events.sqlite3", settings.sqlite_synchronous))


def build_event_log(settings: Settings) -> EventLog:
    """The auditors' view of the configured event store (its own connections)."""
    cls = _load(_EVENT_LOGS[settings.event_store])
    if settings.event_store == "kurrentdb":
        return cast(EventLog, cls(settings.kurrentdb_url))
    return cast(EventLog, cls(settings.data_path / "events.sqlite3"))


def build_read_store(settings: Settings) -> ReadStore:
    cls = _load(_READ_STORES[settings.read_store])
    if settings.read_store == "mongo":
        return cast(ReadStore, cls(settings.mongo_url, settings.mongo_db))
    return cast(ReadStore, cls(settings.data_path / "read.sqlite3"))
