"""The per-stream hash chain that makes the event log tamper-evident.

Each event's metadata ends with ``"prev_hash":"<hex>","hash":"<hex>"}`` where
``hash = sha256(prev_hash ‖ type ‖ data ‖ metadata without hash)`` (all as stored bytes; the
metadata without hash is the stored metadata with its ``,"hash":"…"`` member cut out) and
``prev_hash`` is the hash of the stream's previous event (``GENESIS`` for the first chained
one). Appending the two members textually, always last, lets the store seal an event without
re-encoding it and lets ``verify`` recompute a hash by slicing instead of parsing JSON.
Events written before the chain existed have neither member: they form an unchained prefix.
"""

from __future__ import annotations

from hashlib import sha256

GENESIS = b"0" * 64
_PREV = b'"prev_hash":"'
_HASH = b'","hash":"'
_TAIL = len(_PREV) + 64 + len(_HASH) + 64 + 2  # 153 bytes
_CUT = len(_HASH) + 64 + 2  # the hash member and the closing brace


def seal(prev: bytes, type_name: str, data: bytes, metadata: bytes) -> tuple[bytes, bytes]:
    """Return (metadata with ``prev_hash`` and ``hash``, hash) for the stream's next event."""
    empty = len(metadata) <= 2  # b"" or b"{}"
    head = (b"{" if empty else metadata[:-1] + b",") + _PREV + prev
    digest = sha256(prev + type_name.encode() + data + head + b'"}').hexdigest().encode()
    return head + _HASH + digest + b'"}', digest


def unseal(metadata: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(prev_hash, hash, metadata without hash) of a chained event; None for an unchained one."""
    if (
        len(metadata) < _TAIL
        or metadata[-_TAIL : -_TAIL + len(_PREV)] != _PREV
        or metadata[-_CUT : -_CUT + len(_HASH)] != _HASH
        or metadata[-2:] != b'"}'
    ):
        return None
    return metadata[-_TAIL + len(_PREV) : -_CUT], metadata[-66:-2], metadata[:-_CUT] + b'"}'


def digest_of(prev: bytes, type_name: str, data: bytes, unsealed: bytes) -> bytes:
    return sha256(prev + type_name.encode() + data + unsealed).hexdigest().encode()


def last_hash(metadata: bytes) -> bytes | None:
    """The hash an event carries (None when it is unchained)."""
    found = unseal(metadata)
    return None if found is None else found[1]


class Break(Exception):
    """The chain is broken at an event; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChainState:
    """Walks events in order (per stream, or the whole log by position) and checks each link."""

    __slots__ = ("checked", "last", "log", "unchained")

    def __init__(self) -> None:
        self.last: dict[str, bytes] = {}  # stream -> hash of its last chained event
        self.checked = 0
        self.unchained = 0
        self.log = sha256()  # running digest of every chained hash in the order walked

    def check(self, stream: str, type_name: str, data: bytes, metadata: bytes) -> None:
        """Check one event (raises ``Break``) and remember its hash as the stream's head.

        ``unseal`` and ``digest_of`` inlined: this runs once per event of the whole log."""
        self.checked += 1
        last = self.last.get(stream)
        if (
            len(metadata) < _TAIL
            or metadata[-_TAIL : -_TAIL + 13] != _PREV
            or metadata[-_CUT : -_CUT + 10] != _HASH
            or metadata[-2:] != b'"}'
        ):
            if last is not None:
                raise Break("event has no hash but earlier events of its stream are chained")
            self.unchained += 1
            return
        prev = metadata[-_TAIL + 13 : -_CUT]
        if prev != (last or GENESIS):
            raise Break("prev_hash is not the hash of the stream's previous event")
        stored = metadata[-66:-2]
        unsealed = metadata[:-_CUT] + b'"}'
        if sha256(prev + type_name.encode() + data + unsealed).hexdigest().encode() != stored:
            raise Break("hash does not match the event's content")
        self.last[stream] = stored
        self.log.update(stored)
