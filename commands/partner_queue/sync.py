"""Partner messages on the user queue: each carries the same body as ``POST /cascade/sync/users``.

A message that is not such a body is dead-lettered; one that is gets applied (bad entries are
reported in the result's ``errors``), answered on ``reply_to`` when the partner set one, and
acked.
"""

from __future__ import annotations

import logging
import uuid

import msgspec

from commands.user_sync import MAX_USERS, SyncUsers, UserSync
from domain import tracing

log = logging.getLogger("im.cascade")


class PartnerOutcome(msgspec.Struct, frozen=True):
    """Ack (answering ``reply`` to reply_to, if any) or dead-letter, with the reason."""

    dead_letter: bool
    reply: bytes | None = None
    detail: str = ""


_sync_decoder = msgspec.json.Decoder(SyncUsers)
PARTNER_QUEUE = tracing.Actor("partner", "queue")  # the queue does not say which partner sent
_encoder = msgspec.json.Encoder()


async def handle_partner_message(sync: UserSync, body: bytes) -> PartnerOutcome:
    """Apply one partner sync message; only after this returns may it be acked."""
    try:
        cmd = _sync_decoder.decode(body)
    except msgspec.MsgspecError as exc:
        return PartnerOutcome(dead_letter=True, detail=f"not a user sync message: {exc}")
    if len(cmd.users) > MAX_USERS:
        return PartnerOutcome(dead_letter=True, detail=f"more than {MAX_USERS} users")
    with tracing.traced(tracing.Trace(uuid.uuid4().hex, PARTNER_QUEUE)):
        result, _ = await sync.sync(cmd)
    if result.errors:
        log.warning("partner sync: %d entries rejected: %s", len(result.errors), result.errors[:5])
    return PartnerOutcome(dead_letter=False, reply=_encoder.encode(result))
