"""The previous system's RabbitMQ protocol (协议文档 V1.0.4): ``{"cmd", "data"}`` bodies.

Pure shapes and mappings only: the inbound commands partners send (``user_import``,
``user_status_update``, ``update_water_mark``, ``platform_mq_update``), the events two of them
become, and the outbound bodies (``msg``, per-user notices, ``broadcast``, ``event``,
``update_water_mark``). Exchange names, lookups and publishing live with the relay.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from domain.events import Event

# -- inbound ------------------------------------------------------------------------------------

StandardId = Annotated[str, Meta(min_length=1, max_length=20)]
MAX_ITEMS = 1000


class ImportedUser(msgspec.Struct, frozen=True):
    standard_id: StandardId
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    sex: Literal[0, 1] | None = None
    platform_id: Annotated[str, Meta(max_length=64)] | None = None


class UserStatus(msgspec.Struct, frozen=True):
    standard_id: StandardId
    online: Literal[0, 1]
    platform_id: Annotated[str, Meta(max_length=64)] | None = None
    type: Literal[1, 2] | None = None  # 1 pc, 2 app
    token: str | None = None  # the center's session token: never stored


class WaterMark(msgspec.Struct, frozen=True):
    id: int
    mark: bool
    transparency: Annotated[int, Meta(ge=0, le=100)]
    name: bool
    phone: bool
    date: bool


class PlatformMq(msgspec.Struct, frozen=True):
    platform_id: Annotated[str, Meta(min_length=1, max_length=64)]
    mq_host: Annotated[str, Meta(max_length=255)]
    mq_port: Annotated[int, Meta(ge=1, le=65535)]
    mq_user: Annotated[str, Meta(max_length=255)] = ""
    mq_password: str = ""  # never stored (see PlatformMqUpdated)
    mq_vhost: Annotated[str, Meta(max_length=255)] = "/"


class UserImport(msgspec.Struct, frozen=True, tag_field="cmd", tag="user_import"):
    data: Annotated[list[ImportedUser], Meta(max_length=MAX_ITEMS)]


class UserStatusUpdate(msgspec.Struct, frozen=True, tag_field="cmd", tag="user_status_update"):
    data: Annotated[list[UserStatus], Meta(max_length=MAX_ITEMS)]


class UpdateWaterMark(msgspec.Struct, frozen=True, tag_field="cmd", tag="update_water_mark"):
    data: WaterMark


class PlatformMqUpdate(msgspec.Struct, frozen=True, tag_field="cmd", tag="platform_mq_update"):
    data: Annotated[list[PlatformMq], Meta(max_length=MAX_ITEMS)]


Inbound = UserImport | UserStatusUpdate | UpdateWaterMark | PlatformMqUpdate
_inbound = msgspec.json.Decoder(Inbound)


def decode_inbound(body: bytes) -> Inbound:
    """The command in a body; ``msgspec.MsgspecError`` (with the reason) for anything else."""
    return _inbound.decode(body)


# -- events ------------------------------------------------------------------------------------


class WaterMarkUpdated(Event, frozen=True, tag="WaterMarkUpdated"):
    """The center changed the watermark settings (``update_water_mark``); stream
    ``watermark-{id}``. Pushed to every client and re-published to legacy clients."""

    id: int
    mark: bool
    transparency: int
    name: bool
    phone: bool
    date: bool
    at: float = 0.0


class PlatformMqUpdated(Event, frozen=True, tag="PlatformMqUpdated"):
    """A platform's broker as the center announced it (``platform_mq_update``); stream
    ``platform-{platform_id}``. The password is not kept: the event log is permanent and is
    read by auditors and partners; ``has_password`` says whether one was sent."""

    platform_id: str
    mq_host: str
    mq_port: int
    mq_user: str
    mq_vhost: str
    has_password: bool
    at: float = 0.0


def watermark_stream(watermark_id: int) -> str:
    return f"watermark-{watermark_id}"


def platform_stream(platform_id: str) -> str:
    return f"platform-{platform_id}"


# -- outbound ----------------------------------------------------------------------------------

TEXT, VOICE, IMAGE, DOCUMENT, PDF, DOC, EXCEL, PPT, AUDIO_FILE, VIDEO, ARCHIVE, UNKNOWN = range(12)
_BY_MIME_PREFIX = (("image/", IMAGE), ("audio/", AUDIO_FILE), ("video/", VIDEO))
_BY_MIME = {
    "text/plain": DOCUMENT,
    "text/markdown": DOCUMENT,
    "text/csv": DOCUMENT,
    "application/pdf": PDF,
    "application/msword": DOC,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": DOC,
    "application/vnd.ms-excel": EXCEL,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": EXCEL,
    "application/vnd.ms-powerpoint": PPT,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": PPT,
    "application/zip": ARCHIVE,
    "application/gzip": ARCHIVE,
    "application/x-tar": ARCHIVE,
    "application/x-7z-compressed": ARCHIVE,
    "application/vnd.rar": ARCHIVE,
    "application/x-rar-compressed": ARCHIVE,
}


def legacy_type(message_type: str, mime: str | None) -> int:
    """A message's legacy type integer 0-11 (0 text; the file kinds by message type and MIME)."""
    if message_type == "image":
        return IMAGE
    if message_type == "audio":
        return VOICE
    if message_type == "video":
        return VIDEO
    if message_type != "file":
        return TEXT  # text, location (its readable line)
    mime = (mime or "").split(";")[0].strip().lower()
    if mime in _BY_MIME:
        return _BY_MIME[mime]
    for prefix, kind in _BY_MIME_PREFIX:
        if mime.startswith(prefix):
            return kind
    return UNKNOWN


def media_type(mime: str | None) -> int | None:
    """Broadcast and event attachments: 1 voice, 2 image, 3 video (None: not a media file)."""
    mime = (mime or "").lower()
    for prefix, kind in (("audio/", 1), ("image/", 2), ("video/", 3)):
        if mime.startswith(prefix):
            return kind
    return None


def create_time(ts: float, tz: dt.tzinfo) -> str:
    """``YYYYMMDDHHMMSS`` in the configured time zone."""
    return dt.datetime.fromtimestamp(ts, tz).strftime("%Y%m%d%H%M%S")


class Profile(msgspec.Struct):
    id: int | str
    type: int
    name: str
    path: str
    audio_duration: int = 0


class Body(msgspec.Struct):
    cmd: str
    data: Any


_encoder = msgspec.json.Encoder()


def body(cmd: str, data: Any) -> bytes:
    return _encoder.encode(Body(cmd, data))


CenterEvent = WaterMarkUpdated | PlatformMqUpdated
"""What the center (legacy RabbitMQ) tells us, kept as events."""
