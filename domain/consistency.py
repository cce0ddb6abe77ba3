"""The event position a request has said it depends on (``X-Min-Position``).

The gateway sets it for the request's task; the command side's caches consult it, so a client
that read or wrote up to P through one process is never decided against an older state by
another one (say, muted through one command process, then sending through the other).
"""

from __future__ import annotations

from contextvars import ContextVar

_required: ContextVar[int] = ContextVar("im_required_position", default=0)


def require(position: int) -> None:
    """The current request depends on everything up to ``position``."""
    _required.set(position)


def required() -> int:
    return _required.get()
