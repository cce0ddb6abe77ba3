"""The previous system's inbound RabbitMQ commands (``{"cmd", "data"}`` on ``instant.base``).

- ``user_import``: users created or updated by ``standard_id`` through the partner user sync
  (idempotent: a repeat appends nothing). ``sex`` has no place in this product and is ignored.
- ``user_status_update``: the center's online state of its users fed to presence, as one
  presence connection per user, platform and device type (``legacy:<platform>:<type>``), so the
  center's users show in ``/realtime/online-users`` and ``/users/statuses``.
- ``update_water_mark``: ``WaterMarkUpdated`` in ``watermark-{id}``; the realtime pusher sends
  it to every client as ``watermark_updated`` and the legacy relay re-publishes it on
  ``u_.water_mark``. The same settings again append nothing.
- ``platform_mq_update``: ``PlatformMqUpdated`` per platform in ``platform-{platform_id}``
  (without the password); the same values again append nothing.

Anything that is not one of these (bad JSON, an unknown ``cmd``, a wrong field) is dead-lettered
with the reason.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Protocol

import msgspec

from commands.core import append
from commands.partner_queue.sync import PartnerOutcome
from commands.user_sync import SyncUser, SyncUsers, UserSync
from commands.users import UserHandlers
from domain import legacy_cascade as lc
from domain import tracing
from domain.events import Event
from domain.store import NO_STREAM, EventStore

log = logging.getLogger("im.cascade.legacy")
CENTER = tracing.Actor("partner", "legacy-center")  # the events' actor: the center's queue


class PresenceFeed(Protocol):
    """The part of the presence port (``queries.realtime.presence.Presence``) fed here."""

    async def connect(self, user_id: int, connection_id: str) -> bool: ...

    async def disconnect(self, user_id: int, connection_id: str) -> bool: ...


class LegacyInbound:
    def __init__(
        self, store: EventStore, users: UserHandlers, sync: UserSync, presence: PresenceFeed
    ) -> None:
        self._store = store
        self._users = users
        self._sync = sync
        self._presence = presence

    async def handle(self, body: bytes) -> PartnerOutcome:
        """Apply one inbound message; only after this returns may it be acked."""
        try:
            cmd = lc.decode_inbound(body)
        except msgspec.MsgspecError as exc:
            return PartnerOutcome(dead_letter=True, detail=f"not a legacy command: {exc}")
        with tracing.traced(tracing.Trace(uuid.uuid4().hex, CENTER)):
            await self._apply(cmd)
        return PartnerOutcome(dead_letter=False)

    async def _apply(self, cmd: lc.Inbound) -> None:
        match cmd:
            case lc.UserImport():
                await self._import(cmd.data)
            case lc.UserStatusUpdate():
                await self._statuses(cmd.data)
            case lc.UpdateWaterMark():
                w = cmd.data
                mark = lc.WaterMarkUpdated(
                    id=w.id,
                    mark=w.mark,
                    transparency=w.transparency,
                    name=w.name,
                    phone=w.phone,
                    date=w.date,
                    at=time.time(),
                )
                await self._append_if_changed(lc.watermark_stream(w.id), mark)
            case lc.PlatformMqUpdate():
                for p in cmd.data:
                    platform = lc.PlatformMqUpdated(
                        platform_id=p.platform_id,
                        mq_host=p.mq_host,
                        mq_port=p.mq_port,
                        mq_user=p.mq_user,
                        mq_vhost=p.mq_vhost,
                        has_password=bool(p.mq_password),
                        at=time.time(),
                    )
                    await self._append_if_changed(lc.platform_stream(p.platform_id), platform)

    async def _import(self, people: list[lc.ImportedUser]) -> None:
        items = [SyncUser(p.standard_id, p.name, platform_id=p.platform_id) for p in people]
        result, _ = await self._sync.sync(SyncUsers(items))
        if result.errors:
            log.warning("user_import: %d entries rejected: %s", len(result.errors), result.errors)

    async def _statuses(self, statuses: list[lc.UserStatus]) -> None:
        for s in statuses:
            user_id, _ = await self._users.owner_of(s.standard_id)
            if user_id is None:
                log.warning("user_status_update: unknown standard_id %r", s.standard_id)
                continue
            connection = f"legacy:{s.platform_id or '-'}:{s.type or 0}"
            if s.online:
                await self._presence.connect(user_id, connection)
            else:
                await self._presence.disconnect(user_id, connection)

    async def _append_if_changed(self, stream: str, event: Event) -> None:
        """Append unless the stream's last event says the same (a redelivery, or no change)."""
        last = await self._store.last(stream)
        version = NO_STREAM if last is None else last.version
        if last is not None and _same(last.decode(), event):
            return
        await append(self._store, stream, [event], version)


def _same(a: Event, b: Event) -> bool:
    strip = {"at"}
    da = {k: v for k, v in msgspec.structs.asdict(a).items() if k not in strip}
    db = {k: v for k, v in msgspec.structs.asdict(b).items() if k not in strip}
    return type(a) is type(b) and da == db
