"""The composition root: builds one process's command side, query side and workers, and the
app that serves them. Only the entry points (the ``im`` CLI, tests, benchmarks) import it; each
route and worker gets just what it uses, as parameters (routes: ``gateway.http.bind``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import hmac
import importlib
import logging
import os
import time
import zoneinfo
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

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
from commands.users import RegisterUser, SetSuperuser, UserHandlers
from domain.audit import EventLog
from domain.cascade import MAPPING, formatter
from domain.errors import InvalidError
from domain.signals import SignalBus
from domain.store import EventStore
from gateway.asyncapi import build_asyncapi
from gateway.auth import Authenticator, IdentityCache
from gateway.command_views import CommandViews
from gateway.errors import EXCEPTION_HANDLERS
from gateway.front import Front
from gateway.http import Edge, RouteSpec, WaitFor, error_body, json_response, routes_for
from gateway.idempotency import Idempotency
from gateway.legacy import legacy_specs
from gateway.metrics import Metrics
from gateway.openapi import build_openapi
from gateway.pages import page_routes
from gateway.ratelimit import RateLimiter
from gateway.realtime.endpoint import websocket_routes
from gateway.realtime.service import Realtime
from gateway.routes import (
    audit,
    auth,
    broadcasts,
    cascade,
    conversations,
    events,
    files,
    groups,
    messages,
    notification_templates,
    notifications,
    realtime,
    users,
)
from gateway.routing import FastRouter
from gateway.settings import Settings
from gateway.stores import build_event_log, build_event_store, build_read_store
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
ROUTE_MODULES = [
    auth,
    users,
    files,
    realtime,
    conversations,
    groups,
    messages,
    notifications,
    notification_templates,
    broadcasts,
    events,
    cascade,
    audit,
]
READY_LAG_EVENTS = 10_000
LAG_COUNT_LIMIT = 100_000  # lags are counted by the event store up to this many events

try:
    VERSION = version("im-server")
except PackageNotFoundError:  # running from a source tree
    VERSION = "0.0.0"


def _bearer_is(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


def _has_own_body_limit(path: str) -> bool:
    """Uploads stream to disk under IM_MAX_UPLOAD_BYTES instead of the JSON body limit."""
    return path.rstrip("/").endswith("/files/upload")


def all_specs() -> list[RouteSpec]:
    return [spec for module in ROUTE_MODULES for spec in module.api.routes]


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


class QuerySide:
    """The read side: the read store, the projector that fills it, realtime push, presence."""

    def __init__(
        self,
        settings: Settings,
        events: EventStore,
        read: ReadStore,
        signals: SignalBus,
        presence: Presence,
        *,
        inline_projector: bool,
    ) -> None:
        self._settings = settings
        self._events = events
        self.read = read
        self.projections = all_projections()
        self.projector = Projector(events, read, self.projections)
        self.projector_runtime = FollowerRuntime(events, self.projector)
        self.inline_projector = inline_projector  # the projector runs in this process
        self.identity = IdentityCache(inline=inline_projector)
        self.projector.listeners.append(self.identity.on_events)
        self.presence = presence
        # The event log as auditors read it (connections opened on first use), and
        # conversation states at past positions (the folds kept in memory).
        self.log: EventLog = build_event_log(settings)
        self.time_travel = TimeTravel(self.log)
        self.realtime = Realtime(
            events=events,
            views=ReadModelViews(read),
            presence=self.presence,
            signals=signals,
            wait_for=self.wait_for,
            membership=self._membership_source(),
            resume_max_events=settings.ws_resume_max_events,
            typing_timeout=settings.typing_timeout_seconds,
            max_per_user=settings.ws_max_per_user,
        )

    async def close(self) -> None:
        await self.log.close()
        await self.read.close()
        await self.presence.close()

    def _membership_source(self) -> MembershipSource:
        if any(p.name == CONVERSATIONS_PROJECTION for p in self.projections):
            return lambda: membership_snapshot(self.read)
        return no_snapshot

    async def projected_position(self) -> int:
        if self.inline_projector:
            return self.projector.position
        positions = [await self.read.checkpoint(p.name) for p in self.projections]
        return min(positions, default=0)

    async def wait_for_head(self) -> bool:
        """Wait until the read models include everything committed so far (the head)."""
        return await self.wait_for(await self._events.head())

    async def wait_for(self, position: int, timeout: float | None = None) -> bool:
        """Wait until the read models include ``position``; False after the timeout."""
        timeout = self._settings.read_wait_seconds if timeout is None else timeout
        if self.inline_projector:
            return await self.projector.wait_for(position, timeout)
        deadline = time.monotonic() + timeout
        while await self.projected_position() < position:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True


class CommandSide:
    """The write side: the event store and every command handler."""

    def __init__(
        self,
        settings: Settings,
        events: EventStore,
        read: ReadStore,
        signals: SignalBus,
        wait_for: WaitFor,
    ) -> None:
        self.events = events
        self.signals = signals
        self.ids = IdAllocator(events)
        self.passwords = Passwords(memory_kib=settings.password_memory_kib)
        self.users = UserHandlers(events, self.ids, self.passwords)
        self.user_sync = UserSync(self.users)
        self.blobs = LocalBlobStore(settings.blob_path)
        self.files = FileHandlers(events, self.ids, self.blobs)
        self.downloads = DownloadCounter(events, settings.download_count_flush_seconds)
        self.broadcasts = BroadcastHandlers(events, self.ids)
        self.notifications = NotificationHandlers(events, self.ids)
        self.templates = TemplateHandlers(events, self.ids)
        self.reports = ReportHandlers(events, self.ids)
        # Conversations and messages share one in-memory conversation cache.
        self.chat_cache = ConversationCache(
            events,
            max_cached=settings.chat_cached_conversations,
            recent_keys=settings.chat_recent_keys,
            refresh_s=settings.chat_membership_refresh_seconds,
        )
        message_ids = IdAllocator(events, block_size=MESSAGE_ID_BLOCK)
        sender = Sender(events, self.chat_cache, message_ids, ReadSentLookup(read), wait_for)
        self.conversations = ConversationHandlers(
            events, self.chat_cache, sender, self.ids, ReadDirectory(read, self.users)
        )
        self.command_views = CommandViews(events, self.users, self.chat_cache)
        self.idempotency = Idempotency(events)
        self.messages = MessageHandlers(
            events,
            self.chat_cache,
            sender,
            signals,
            edit_window_s=settings.message_edit_window_seconds,
            recall_window_s=settings.message_recall_window_seconds,
        )


class Process:
    """One process: its command side, query side and workers. ``inline_projector`` runs the
    projector (and the notification policy) here; ``cascade`` the relay and partner queue."""

    def __init__(
        self, settings: Settings, *, inline_projector: bool = True, cascade: bool = False
    ) -> None:
        self.settings = settings
        events = build_event_store(settings)
        read = build_read_store(settings)
        signals = SignalBus()
        presence: Presence = LocalPresence()
        if settings.redis_url:  # presence and typing shared by every query process
            redis = importlib.import_module("queries.realtime.redis_presence")
            ttl = settings.ws_idle_seconds + 30  # a live client sends a frame within the idle
            presence = redis.RedisPresence(settings.redis_url, settings.redis_prefix, ttl)
            signals = redis.RedisSignals(settings.redis_url, settings.redis_prefix)
        self.queries = QuerySide(
            settings, events, read, signals, presence, inline_projector=inline_projector
        )
        self.commands = CommandSide(settings, events, read, signals, self.queries.wait_for)
        # The notification policy runs wherever the projector does (im serve, im projector).
        self.notify_policy = NotificationPolicy(
            events,
            ReadStoreCheckpoint(read, POLICY_CHECKPOINT),
            ReadFacts(read),
            self.commands.notifications,
            self.queries.wait_for,
        )
        self.policy_runtime = FollowerRuntime(events, self.notify_policy)
        # Every membership change's history line, even after a crash between the two appends.
        self.system_lines = SystemLines(
            events,
            ReadStoreCheckpoint(read, SYSTEM_LINES_CHECKPOINT),
            self.commands.conversations,
        )
        self.system_lines_runtime = FollowerRuntime(events, self.system_lines)
        # Scheduled notifications are pushed when due, by the same processes as the policy.
        self.notification_timer = NotificationTimer(
            events,
            lambda since: scheduled_since(read, since),
            self.commands.notifications,
            self.queries.projected_position,
        )
        # The relay and partner queue run here only when asked (im serve, im relay).
        self.cascade = (
            Cascade(
                settings,
                events,
                read,
                self.commands.user_sync,
                users=self.commands.users,
                presence=presence,
                wait_for=self.queries.wait_for,
            )
            if settings.amqp_url
            else None
        )
        self.run_cascade = cascade and self.cascade is not None
        self.authenticator = Authenticator(
            self.queries.identity, settings.jwt_secret, read, self.commands.users
        )
        self.started_at = time.time()

    def route_deps(self) -> dict[str, object]:
        """What a route may ask for, by parameter name (``gateway.http.bind``)."""
        c, q = self.commands, self.queries
        return {
            "settings": self.settings,
            "read": q.read,
            "wait_for": q.wait_for,
            "wait_for_head": q.wait_for_head,
            "presence": q.presence,
            "realtime": q.realtime,
            "users": c.users,
            "user_sync": c.user_sync,
            "files": c.files,
            "blobs": c.blobs,
            "downloads": c.downloads,
            "broadcasts": c.broadcasts,
            "notifications": c.notifications,
            "templates": c.templates,
            "reports": c.reports,
            "conversations": c.conversations,
            "messages": c.messages,
            "command_views": c.command_views,
            "events": c.events,  # the audit routes record each access
            "log": q.log,
            "time_travel": q.time_travel,
        }

    async def start(self) -> None:
        q = self.queries
        if q.inline_projector:
            await q.projector_runtime.start()
        else:
            await q.projector.prepare()
        await self._bootstrap_superuser()
        if q.inline_projector:
            await self.policy_runtime.start()
            await self.notification_timer.start()
            await self.system_lines_runtime.start()
        self.commands.downloads.start()
        self.commands.files.start_sweeper(
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
        c, q = self.commands, self.queries
        await c.downloads.stop()
        await c.files.stop_sweeper()
        if self.run_cascade and self.cascade is not None:
            await self.cascade.stop()
        await self.system_lines_runtime.stop()
        await self.notification_timer.stop()
        await self.policy_runtime.stop()
        await q.projector_runtime.stop()
        await c.events.close()
        await q.close()
        await c.blobs.close()
        c.passwords.close()
        gc.unfreeze()  # what start() froze is collectable again (several apps in one process)

    async def _bootstrap_superuser(self) -> None:
        """Safe with any number of processes starting at once: the standard_id claim decides
        which one registers; the others see it registered (or in flight) and promote or wait."""
        s, users = self.settings, self.commands.users
        if not s.first_superuser or not s.first_superuser_password:
            return
        pos: int | None = None
        deadline = time.monotonic() + _BOOTSTRAP_WAIT_S
        while True:
            owner, _ = await users.owner_of(s.first_superuser)
            if owner is not None:
                pos = await users.set_superuser(SetSuperuser(owner))
                break
            try:
                _, pos = await users.register_user(
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
            await self.queries.wait_for(pos)

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
            self.queries.projector_runtime,
            self.policy_runtime,
            self.system_lines_runtime,
            self.queries.realtime.pusher_runtime,
        ]
        if self.run_cascade and self.cascade is not None:
            runtimes.extend(self.cascade.runtimes)
        return [r for r in runtimes if r.running]


def create_app(
    settings: Settings,
    *,
    sides: Iterable[str] = ("commands", "queries"),
    inline_projector: bool = True,
    cascade: bool | None = None,
) -> Starlette:
    """Build the app. ``sides`` picks which routes this process serves; ``cascade`` whether it
    runs the relay and partner queue (default: when it is the all-in-one process)."""
    sides = set(sides)
    if cascade is None:
        cascade = inline_projector and {"commands", "queries"} <= sides
    process = Process(settings, inline_projector=inline_projector, cascade=cascade)
    events, queries = process.commands.events, process.queries
    limiter = RateLimiter(settings)
    metrics = Metrics()
    specs = [s for s in all_specs() if s.side in sides]
    # The whole API, whichever side this process serves: behind the front proxy /docs and
    # /openapi.json come from one process and must describe every operation.
    openapi = build_openapi(all_specs(), "IM server", VERSION)

    async def openapi_json(request: Request) -> Response:
        return json_response(openapi)

    asyncapi: list[bytes] = []  # built on first request (it imports every domain module)

    async def asyncapi_json(request: Request) -> Response:
        if not asyncapi:
            asyncapi.append(msgspec.json.encode(build_asyncapi(settings, VERSION)))
        return Response(asyncapi[0], media_type="application/json")

    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def ready(request: Request) -> Response:
        try:
            head = await events.head()
            projected = await queries.projected_position()
        except Exception as exc:
            return json_response({"status": "unavailable", "detail": str(exc)}, 503)
        lag = await events.events_after(projected, LAG_COUNT_LIMIT)
        body: dict[str, object] = {
            "status": "ok",
            "head": head,
            "projected": projected,
            "lag": lag,
        }
        relay = await process.relay_status()
        if relay is not None:  # reported, not gating: the outbox keeps events while it lags
            body["relay"] = {
                "position": relay.position,
                "lag": await events.events_after(relay.position, LAG_COUNT_LIMIT),
                "connected": relay.connected,
                "error": relay.error,
            }
        body["followers"] = {
            st.name: {
                "position": st.position,
                "lag": await events.events_after(st.position, LAG_COUNT_LIMIT),
                "error": st.error,
            }
            for st in (f.status() for f in process.followers())
        }
        if lag > READY_LAG_EVENTS or queries.projector_runtime.error is not None:
            body["status"] = "lagging"
            return json_response(body, 503, {"Retry-After": "1"})
        return json_response(body)

    async def metrics_endpoint(request: Request) -> Response:
        if settings.metrics_token and not _bearer_is(request, settings.metrics_token):
            return json_response(
                error_body("/metrics needs Authorization: Bearer <IM_METRICS_TOKEN>"),
                401,
                {"WWW-Authenticate": "Bearer"},
            )
        head = await events.head()
        projected = await queries.projected_position()
        relay = await process.relay_status()
        lag = await events.events_after(projected, LAG_COUNT_LIMIT)
        relay_lag = await events.events_after(relay.position, LAG_COUNT_LIMIT) if relay else 0
        followers = [
            (f, await events.events_after(f.position, LAG_COUNT_LIMIT))
            for f in (f.status() for f in process.followers())
        ]
        ready = lag <= READY_LAG_EVENTS and queries.projector_runtime.error is None
        metrics.ready.set(1 if ready else 0)
        if live:
            metrics.connections(len(queries.realtime.hub.connections()))
        text = metrics.render(head, projected, lag, relay, relay_lag, followers)
        return Response(text, media_type="text/plain; version=0.0.4")

    routes: list[BaseRoute] = [
        Route("/openapi.json", openapi_json),
        Route("/asyncapi.json", asyncapi_json),
        Route("/health", health),
        Route("/ready", ready),
        Route("/metrics", metrics_endpoint),
    ]
    deps = process.route_deps()
    edge = Edge(
        authenticator=process.authenticator,
        settings=settings,
        wait_for=queries.wait_for,
        wait_after_write=queries.inline_projector,
        idempotency=process.commands.idempotency,
    )
    for spec in [*specs, *legacy_specs(specs)]:  # /api/legacy: not in the OpenAPI document
        routes.extend(routes_for(spec, deps, edge, limiter, metrics))
    live = "queries" in sides  # the WebSocket and its pusher run on the query side
    metrics.time_appends(events)
    if live:
        queries.realtime.pusher.on_pushed = metrics.pushed
    routes.extend(page_routes(VERSION, has_ws=live))
    if live:
        routes.extend(websocket_routes(process.authenticator, settings, queries.realtime))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await process.start()
        if live:
            await queries.realtime.start()
        try:
            yield
        finally:
            if live:
                await queries.realtime.stop()
            await process.stop()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                Front,
                max_body_bytes=settings.max_json_bytes,
                exempt=_has_own_body_limit,
                body_timeout=settings.body_timeout_seconds,
                cors={
                    "allow_origins": settings.cors_origin_list,
                    "allow_methods": ["*"],
                    "allow_headers": ["*"],
                    "expose_headers": [
                        "X-Event-Position",
                        "X-Request-ID",
                        "Retry-After",
                        "ETag",
                        "Content-Disposition",
                    ],
                },
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.router = FastRouter(routes, lifespan=lifespan)
    app.state.process = process  # for tests and operations tooling; routes never see it
    app.state.limiter = limiter
    return app
