"""The composition root: builds the event store, read store, handlers and projector once."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import time
from typing import Any, cast

from commands.adapters.local_blobs import LocalBlobStore
from commands.broadcasts import BroadcastHandlers
from commands.core import IdAllocator
from commands.files import DownloadCounter, FileHandlers
from commands.notification_templates import TemplateHandlers
from commands.notifications import NotificationHandlers
from commands.passwords import Passwords
from commands.reports import ReportHandlers
from commands.user_sync import UserSync
from commands.users import RegisterUser, UserHandlers
from domain.signals import SignalBus
from domain.store import EventStore
from gateway.auth import IdentityCache
from gateway.cascade import Cascade
from gateway.chat import Chat
from gateway.notify_policy import NotificationPolicy
from gateway.presence import LocalPresence, Presence
from gateway.realtime.service import Realtime
from gateway.relay import RelayStatus
from gateway.settings import Settings
from projections.registry import all_projections
from projections.runtime import Projector
from projections.store import ReadStore
from queries.realtime.pusher import MembershipSource
from queries.realtime.views import (
    CONVERSATIONS_PROJECTION,
    ReadModelViews,
    membership_snapshot,
    no_snapshot,
)

log = logging.getLogger("im")


# Adapters are imported only when chosen, so an unused backend's driver is never loaded.
_EVENT_STORES = {
    "sqlite": "commands.adapters.sqlite_store:SqliteEventStore",
    "kurrentdb": "commands.adapters.kurrentdb_store:KurrentDbEventStore",
}
_READ_STORES = {
    "sqlite": "projections.adapters.sqlite_store:SqliteReadStore",
    "mongo": "projections.adapters.mongo_store:MongoReadStore",
}


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def build_event_store(settings: Settings) -> EventStore:
    cls = _load(_EVENT_STORES[settings.event_store])
    if settings.event_store == "kurrentdb":
        return cast(EventStore, cls(settings.kurrentdb_url))
    return cast(EventStore, cls(settings.data_path / "events.sqlite3"))


def build_read_store(settings: Settings) -> ReadStore:
    cls = _load(_READ_STORES[settings.read_store])
    if settings.read_store == "mongo":
        return cast(ReadStore, cls(settings.mongo_url, settings.mongo_db))
    return cast(ReadStore, cls(settings.data_path / "read.sqlite3"))


class Services:
    """Everything the routes need. ``inline_projector`` runs the projector in this process."""

    def __init__(
        self, settings: Settings, *, inline_projector: bool = True, cascade: bool = False
    ) -> None:
        self.settings = settings
        self.events = build_event_store(settings)
        self.read = build_read_store(settings)
        self.projections = all_projections()
        self.projector = Projector(self.events, self.read, self.projections)
        self.inline_projector = inline_projector
        self.ids = IdAllocator(self.events)
        self.passwords = Passwords(memory_kib=settings.password_memory_kib)
        self.users = UserHandlers(self.events, self.ids, self.passwords)
        self.user_sync = UserSync(self.users)
        # The relay and partner queue run here only when asked (im serve, im relay).
        self.cascade = (
            Cascade(settings, self.events, self.read, self.user_sync) if settings.amqp_url else None
        )
        self.run_cascade = cascade and self.cascade is not None
        self.blobs = LocalBlobStore(settings.blob_path)
        self.files = FileHandlers(self.events, self.ids, self.blobs)
        self.downloads = DownloadCounter(self.events, settings.download_count_flush_seconds)
        self.presence: Presence = LocalPresence()
        self.signals = SignalBus()
        self.broadcasts = BroadcastHandlers(self.events, self.ids)
        self.notifications = NotificationHandlers(self.events, self.ids)
        self.templates = TemplateHandlers(self.events, self.ids)
        self.reports = ReportHandlers(self.events, self.ids)
        # The notification policy runs wherever the projector does (im serve, im projector).
        self.notify_policy = NotificationPolicy(
            self.events, self.read, self.notifications, self.wait_for
        )
        self.realtime = Realtime(
            events=self.events,
            views=ReadModelViews(self.read),
            presence=self.presence,
            signals=self.signals,
            wait_for=self.wait_for,
            membership=self._membership_source(),
            resume_max_events=settings.ws_resume_max_events,
            typing_timeout=settings.typing_timeout_seconds,
        )
        self.identity = IdentityCache(inline=inline_projector)
        self.projector.listeners.append(self.identity.on_events)
        self.chat = Chat(self)
        self.started_at = time.time()

    def _membership_source(self) -> MembershipSource:
        if any(p.name == CONVERSATIONS_PROJECTION for p in self.projections):
            return lambda: membership_snapshot(self.read)
        return no_snapshot

    async def start(self) -> None:
        if self.inline_projector:
            await self.projector.start()
        else:
            await self.projector.prepare()
        await self._bootstrap_superuser()
        if self.inline_projector:
            await self.notify_policy.start()
        self.downloads.start()
        if self.run_cascade and self.cascade is not None:
            await self.cascade.start()
        # What start-up built lives as long as the process: keep it out of the cyclic GC's
        # full collections, which otherwise show up in the tail latency of large list views.
        # (Collect first, so no garbage cycle is frozen along with it.)
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        await self.downloads.stop()
        if self.run_cascade and self.cascade is not None:
            await self.cascade.stop()
        await self.notify_policy.stop()
        await self.projector.stop()
        await self.events.close()
        await self.read.close()
        await self.blobs.close()
        self.passwords.close()
        gc.unfreeze()  # what start() froze is collectable again (several apps in one process)

    async def _bootstrap_superuser(self) -> None:
        s = self.settings
        if not s.first_superuser or not s.first_superuser_password:
            return
        owner, _ = await self.users.owner_of(s.first_superuser)
        pos: int | None
        if owner is not None:
            pos = await self.users.set_superuser(owner, True)
        else:
            _, pos = await self.users.register_user(
                RegisterUser(s.first_superuser, s.first_superuser, s.first_superuser_password, True)
            )
        if pos is not None:
            await self.wait_for(pos)

    async def relay_status(self) -> RelayStatus | None:
        """The relay's progress: live where it runs, else its saved checkpoint; None if off."""
        if self.cascade is None:
            return None
        if self.run_cascade:
            return self.cascade.status()
        saved = await self.cascade.checkpoint.load()
        return RelayStatus(saved, saved, 0, 0, 0, None, None)

    async def projected_position(self) -> int:
        if self.inline_projector:
            return self.projector.position
        positions = [await self.read.checkpoint(p.name) for p in self.projections]
        return min(positions, default=0)

    async def wait_for(self, position: int, timeout: float | None = None) -> bool:
        """Wait until the read models include ``position``; False after the timeout."""
        timeout = self.settings.read_wait_seconds if timeout is None else timeout
        if self.inline_projector:
            return await self.projector.wait_for(position, timeout)
        deadline = time.monotonic() + timeout
        while await self.projected_position() < position:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True
