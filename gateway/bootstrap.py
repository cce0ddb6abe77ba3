"""The composition root: builds the stores, handlers, projector and workers once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib
import logging
import os
import time
import zoneinfo
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from commands.blob_store.local import LocalBlobStore
from commands.broadcasts import BroadcastHandlers
from commands.chat_state import ConversationCache, Key, Sent
from commands.conversations import ConversationHandlers
from commands.core import IdAllocator
from commands.files import DownloadCounter, FileHandlers
from commands.messages import MessageHandlers
from commands.notification_policy import CHECKPOINT as POLICY_CHECKPOINT
from commands.notification_policy import NotificationPolicy
from commands.notification_templates import TemplateHandlers
from commands.notification_timer import NotificationTimer
from commands.notifications import NotificationHandlers
from commands.partner_queue.legacy import LegacyInbound
from commands.partner_queue.sync import handle_partner_message
from commands.passwords import Passwords
from commands.reports import ReportHandlers
from commands.sending import Sender
from commands.system_lines import CHECKPOINT as SYSTEM_LINES_CHECKPOINT
from commands.system_lines import SystemLines
from commands.user_sync import UserSync
from commands.users import RegisterUser, UserHandlers
from domain.audit import EventLog
from domain.cascade import MAPPING, formatter
from domain.errors import InvalidError
from domain.signals import SignalBus
from domain.store import EventStore
from gateway.auth import IdentityCache
from gateway.idempotency import Idempotency
from gateway.realtime.service import Realtime
from gateway.settings import Settings
from projections.cascade.legacy import INBOUND_ROUTING_KEY, LegacyNames, LegacyRenderer
from projections.cascade.relay import Relay, RelayStatus
from projections.checkpoint import ReadStoreCheckpoint
from projections.follower import FollowerRuntime
from projections.registry import all_projections
from projections.runtime import Projector
from projections.store import ReadStore
from projections.time_travel import TimeTravel
from queries.messages import find_sent, users_by_id
from queries.notification_facts import ReadFacts
from queries.notifications import scheduled_since
from queries.realtime.presence import LocalPresence, Presence
from queries.realtime.pusher import MembershipSource
from queries.realtime.views import (
    CONVERSATIONS_PROJECTION,
    ReadModelViews,
    membership_snapshot,
    no_snapshot,
)

if TYPE_CHECKING:
    from commands.partner_queue.amqp import AmqpPartnerConsumer

log = logging.getLogger("im")
log_cascade = logging.getLogger("im.cascade")
MESSAGE_ID_BLOCK = 1000  # one id reservation per thousand messages
_BOOTSTRAP_WAIT_S = 60.0  # how long a process waits for another one registering the superuser


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


def relay_checkpoint_name(settings: Settings) -> str:
    return f"cascade-relay:{settings.amqp_exchange}"


def legacy_checkpoint_name(settings: Settings) -> str:
    return f"cascade-legacy:{LegacyNames(settings.cascade_legacy_prefix).base}"


class Cascade:
    """The relays and partner consumers on one robust AMQP connection: the envelope relay and
    the partner user queue, and/or the previous system's protocol (``IM_CASCADE_FORMAT``)."""

    def __init__(
        self,
        settings: Settings,
        events: EventStore,
        read: ReadStore,
        sync: UserSync,
        *,
        users: UserHandlers,
        presence: Presence,
        wait_for: Callable[[int], Awaitable[bool]],
    ) -> None:
        from commands.partner_queue.amqp import AmqpPartnerConsumer
        from projections.cascade.amqp import AmqpBroker, AmqpPublisher, AmqpTopology

        assert settings.amqp_url is not None
        self.broker = AmqpBroker(
            settings.amqp_url,
            name=f"im cascade {settings.amqp_exchange} pid {os.getpid()}",
            reconnect_seconds=settings.amqp_reconnect_seconds,
        )
        timeout = settings.amqp_confirm_timeout_seconds
        self.legs: list[tuple[Relay, FollowerRuntime, ReadStoreCheckpoint]] = []
        self.consumers: list[AmqpPartnerConsumer] = []
        if settings.envelope_cascade:
            publisher = AmqpPublisher(self.broker, settings.amqp_exchange, confirm_timeout=timeout)
            checkpoint = ReadStoreCheckpoint(read, relay_checkpoint_name(settings))
            fmt = formatter(settings.envelope_format_name)
            relay = Relay(checkpoint, publisher, MAPPING, fmt)
            runtime = FollowerRuntime(events, relay, jitter=True, log_tracebacks=False)
            self.legs.append((relay, runtime, checkpoint))
            if settings.amqp_partner_queue:  # empty: no partner queue, only the relay
                self.consumers.append(
                    AmqpPartnerConsumer(
                        self.broker,
                        settings.amqp_partner_queue,
                        settings.dead_letter_queue,
                        functools.partial(handle_partner_message, sync),
                    )
                )
        if settings.legacy_cascade:
            names = LegacyNames(settings.cascade_legacy_prefix)
            self.topology = AmqpTopology(self.broker)
            publisher = AmqpPublisher(
                self.broker, names.base, confirm_timeout=timeout, also=[names.incoming]
            )
            checkpoint = ReadStoreCheckpoint(read, legacy_checkpoint_name(settings))
            render = LegacyRenderer(
                read,
                self.topology,
                names,
                wait_for,
                zoneinfo.ZoneInfo(settings.cascade_legacy_timezone),
            )
            relay = Relay(
                checkpoint,
                publisher,
                MAPPING,
                formatter("envelope"),
                render=render,
                name="legacy-relay",
            )
            runtime = FollowerRuntime(events, relay, jitter=True, log_tracebacks=False)
            self.legs.append((relay, runtime, checkpoint))
            inbound = LegacyInbound(events, users, sync, presence)
            self.consumers.append(
                AmqpPartnerConsumer(
                    self.broker,
                    names.queue,
                    names.dead_letter_queue,
                    inbound.handle,
                    bind=(names.base, INBOUND_ROUTING_KEY),
                    reason_header=True,
                )
            )
        self.relay, self.runtime, self.checkpoint = self.legs[0]
        self._consumer_tasks: list[asyncio.Task[None]] = []

    def status(self) -> RelayStatus:
        return self.relay.status(self.runtime.status())

    def statuses(self) -> list[tuple[str, RelayStatus]]:
        return [(relay.name, relay.status(runtime.status())) for relay, runtime, _ in self.legs]

    @property
    def runtimes(self) -> list[FollowerRuntime]:
        return [runtime for _, runtime, _ in self.legs]

    async def start(self) -> None:
        for runtime in self.runtimes:
            await runtime.start()
        for consumer in self.consumers:
            self._consumer_tasks.append(
                asyncio.create_task(self._start_consumer(consumer), name="partner-queue")
            )

    async def _start_consumer(self, consumer: AmqpPartnerConsumer) -> None:
        delay = 0.2
        while True:
            try:
                await consumer.start()
                return
            except Exception as exc:  # broker down or queue declared differently: keep trying
                log_cascade.warning("partner queue: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def stop(self) -> None:
        for task in self._consumer_tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._consumer_tasks = []
        for consumer in self.consumers:
            await consumer.close()
        for runtime in self.runtimes:
            await runtime.stop()
        topology = getattr(self, "topology", None)
        if topology is not None:
            await topology.close()
        for relay, _, _ in self.legs:
            await relay.close()


class ReadDirectory:
    """User names from the users read model; users it does not have yet (a split deployment's
    projector may be behind a registration) are read from the event store, the authority."""

    def __init__(self, read: ReadStore, users: UserHandlers) -> None:
        self._read = read
        self._users = users

    async def names(self, user_ids: Sequence[int]) -> dict[int, str]:
        found = {i: d.name for i, d in (await users_by_id(self._read, user_ids)).items()}
        for user_id in sorted(set(user_ids) - found.keys()):
            user = await self._users.get(user_id)
            if user.exists:
                found[user_id] = user.name
        return found


class ReadSentLookup:
    """Idempotency keys already in the messages read model."""

    def __init__(self, read: ReadStore) -> None:
        self._read = read

    async def find_sent(self, conversation_id: int, keys: Sequence[Key]) -> dict[Key, Sent]:
        found = await find_sent(self._read, conversation_id, keys)
        return {k: Sent(mid, seq, None) for k, (mid, seq) in found.items()}


class Chat:
    """Conversation and message command handlers sharing one in-memory conversation cache."""

    def __init__(
        self,
        events: EventStore,
        read: ReadStore,
        ids: IdAllocator,
        users: UserHandlers,
        signals: SignalBus,
        wait_for: Callable[[int], Awaitable[bool]],
        settings: Settings,
    ) -> None:
        self.cache = ConversationCache(
            events,
            max_cached=settings.chat_cached_conversations,
            recent_keys=settings.chat_recent_keys,
            refresh_s=settings.chat_membership_refresh_seconds,
        )
        message_ids = IdAllocator(events, block_size=MESSAGE_ID_BLOCK)
        self.sender = Sender(events, self.cache, message_ids, ReadSentLookup(read), wait_for)
        self.conversations = ConversationHandlers(
            events, self.cache, self.sender, ids, ReadDirectory(read, users)
        )
        self.messages = MessageHandlers(
            events,
            self.cache,
            self.sender,
            signals,
            edit_window_s=settings.message_edit_window_seconds,
            recall_window_s=settings.message_recall_window_seconds,
        )


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
        self.projector_runtime = FollowerRuntime(self.events, self.projector)
        self.inline_projector = inline_projector
        self.ids = IdAllocator(self.events)
        self.idempotency = Idempotency(self.events)
        self.passwords = Passwords(memory_kib=settings.password_memory_kib)
        self.users = UserHandlers(self.events, self.ids, self.passwords)
        self.user_sync = UserSync(self.users)
        # The relay and partner queue run here only when asked (im serve, im relay).
        self.presence: Presence = LocalPresence()
        self.cascade = (
            Cascade(
                settings,
                self.events,
                self.read,
                self.user_sync,
                users=self.users,
                presence=self.presence,
                wait_for=self.wait_for,
            )
            if settings.amqp_url
            else None
        )
        self.run_cascade = cascade and self.cascade is not None
        self.blobs = LocalBlobStore(settings.blob_path)
        self.files = FileHandlers(self.events, self.ids, self.blobs)
        self.downloads = DownloadCounter(self.events, settings.download_count_flush_seconds)
        self.signals = SignalBus()
        if settings.redis_url:  # presence and typing shared by every query process
            redis = importlib.import_module("queries.realtime.redis_presence")
            ttl = settings.ws_idle_seconds + 30  # a live client sends a frame within the idle
            self.presence = redis.RedisPresence(settings.redis_url, settings.redis_prefix, ttl)
            self.signals = redis.RedisSignals(settings.redis_url, settings.redis_prefix)
        self.broadcasts = BroadcastHandlers(self.events, self.ids)
        self.notifications = NotificationHandlers(self.events, self.ids)
        self.templates = TemplateHandlers(self.events, self.ids)
        self.reports = ReportHandlers(self.events, self.ids)
        # The notification policy runs wherever the projector does (im serve, im projector).
        self.notify_policy = NotificationPolicy(
            self.events,
            ReadStoreCheckpoint(self.read, POLICY_CHECKPOINT),
            ReadFacts(self.read),
            self.notifications,
            self.wait_for,
        )
        self.policy_runtime = FollowerRuntime(self.events, self.notify_policy)
        # Scheduled notifications are pushed when due, by the same processes as the policy.
        self.notification_timer = NotificationTimer(
            self.events,
            lambda since: scheduled_since(self.read, since),
            self.notifications,
            self.projected_position,
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
            max_per_user=settings.ws_max_per_user,
        )
        self.identity = IdentityCache(inline=inline_projector)
        self.projector.listeners.append(self.identity.on_events)
        self.chat = Chat(
            self.events, self.read, self.ids, self.users, self.signals, self.wait_for, settings
        )
        # Every membership change's history line, even after a crash between the two appends.
        self.system_lines = SystemLines(
            self.events,
            ReadStoreCheckpoint(self.read, SYSTEM_LINES_CHECKPOINT),
            self.chat.conversations,
        )
        self.system_lines_runtime = FollowerRuntime(self.events, self.system_lines)
        self.started_at = time.time()
        self._log: EventLog | None = None
        self._time_travel: TimeTravel | None = None

    @property
    def log(self) -> EventLog:
        """The event log as auditors read it, opened on first use."""
        if self._log is None:
            self._log = build_event_log(self.settings)
        return self._log

    @property
    def time_travel(self) -> TimeTravel:
        """Conversation states at past positions, with the folds kept in memory."""
        if self._time_travel is None:
            self._time_travel = TimeTravel(self.log)
        return self._time_travel

    def _membership_source(self) -> MembershipSource:
        if any(p.name == CONVERSATIONS_PROJECTION for p in self.projections):
            return lambda: membership_snapshot(self.read)
        return no_snapshot

    async def start(self) -> None:
        if self.inline_projector:
            await self.projector_runtime.start()
        else:
            await self.projector.prepare()
        await self._bootstrap_superuser()
        if self.inline_projector:
            await self.policy_runtime.start()
            await self.notification_timer.start()
            await self.system_lines_runtime.start()
        self.downloads.start()
        self.files.start_sweeper(
            self.settings.blob_sweep_seconds, self.settings.blob_orphan_grace_seconds
        )
        if self.run_cascade and self.cascade is not None:
            await self.cascade.start()
        # What start-up built lives as long as the process: keep it out of the cyclic GC's
        # full collections, which otherwise show up in the tail latency of large list views.
        # (Collect first, so no garbage cycle is frozen along with it.)
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        await self.downloads.stop()
        await self.files.stop_sweeper()
        if self.run_cascade and self.cascade is not None:
            await self.cascade.stop()
        await self.system_lines_runtime.stop()
        await self.notification_timer.stop()
        await self.policy_runtime.stop()
        await self.projector_runtime.stop()
        await self.events.close()
        if self._log is not None:
            await self._log.close()
        await self.read.close()
        await self.blobs.close()
        await self.presence.close()
        self.passwords.close()
        gc.unfreeze()  # what start() froze is collectable again (several apps in one process)

    async def _bootstrap_superuser(self) -> None:
        """Safe with any number of processes starting at once: the standard_id claim decides
        which one registers; the others see it registered (or in flight) and promote or wait."""
        s = self.settings
        if not s.first_superuser or not s.first_superuser_password:
            return
        pos: int | None = None
        deadline = time.monotonic() + _BOOTSTRAP_WAIT_S
        while True:
            owner, _ = await self.users.owner_of(s.first_superuser)
            if owner is not None:
                pos = await self.users.set_superuser(owner, True)
                break
            try:
                _, pos = await self.users.register_user(
                    RegisterUser(
                        s.first_superuser, s.first_superuser, s.first_superuser_password, True
                    )
                )
                break
            except InvalidError:  # another process is registering it right now
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
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

    def followers(self) -> list[FollowerRuntime]:
        """The followers of the event log running in this process (for /ready and /metrics)."""
        runtimes = [
            self.projector_runtime,
            self.policy_runtime,
            self.system_lines_runtime,
            self.realtime.pusher_runtime,
        ]
        if self.run_cascade and self.cascade is not None:
            runtimes.extend(self.cascade.runtimes)
        return [r for r in runtimes if r.running]

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
