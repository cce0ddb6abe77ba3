"""WebSocket frames: ``{"type", "data", "timestamp", "position"}`` encoded once, sent many times."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from queries.views import iso

_encoder = msgspec.json.Encoder()


class Frame(msgspec.Struct, frozen=True, gc=False):
    """An encoded frame. ``position`` is the event's global position (None for ephemeral ones)."""

    text: str
    position: int | None = None

    @property
    def size(self) -> int:
        return len(self.text)


class _Wire(msgspec.Struct, omit_defaults=True):
    type: str
    data: Any
    timestamp: str
    position: int | None = None


def make_frame(kind: str, data: Any, at: float | None = None, position: int | None = None) -> Frame:
    """Encode a frame; ``at`` (epoch seconds) defaults to now; ``position`` None is left out."""
    stamp = iso(time.time() if at is None else at) or ""
    text = _encoder.encode(_Wire(kind, data, stamp, position)).decode()
    return Frame(text, position)
