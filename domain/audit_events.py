"""The audit log's own event: an auditor's read is itself recorded (stream ``audit-{reader}``).

Apart from ``domain.audit`` (which reads the store), so that the codec can know it.
"""

from __future__ import annotations

from domain.events import Event


class AuditRead(Event, frozen=True, tag="AuditRead"):
    """An auditor read the log: who, through which route, with which filters."""

    reader_id: int
    route: str
    filters: dict[str, str] = {}
    at: float = 0.0


def audit_stream(reader_id: int) -> str:
    return f"audit-{reader_id}"


AuditLogEvent = AuditRead
