"""Settings from ``IM_*`` environment variables: the only module that reads the environment."""

from __future__ import annotations

import os
import re
import secrets
import zoneinfo
from collections.abc import Mapping
from pathlib import Path

import msgspec

EVENT_STORES = ("sqlite", "kurrentdb")
READ_STORES = ("sqlite", "mongo")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
SQLITE_SYNCHRONOUS = ("full", "normal")


class SettingsError(Exception):
    """Start-up configuration is invalid; the message says what to set."""


class Settings(msgspec.Struct, kw_only=True):
    data_dir: str = "./data"
    host: str = "127.0.0.1"
    port: int = 8000
    jwt_secret: str = ""
    access_token_minutes: int = 11520
    first_superuser: str | None = None
    first_superuser_password: str | None = None
    open_registration: bool = True
    rate_limit_enabled: bool = True
    rate_limit_login_per_minute: int = 30
    rate_limit_writes_per_minute: int = 6000
    rate_limit_address_writes_per_minute: int = 60000
    rate_limit_registrations_per_hour: int = 20
    rate_limit_failed_logins_per_hour: int = 20
    cors_origins: str = "*"
    event_store: str = "sqlite"
    sqlite_synchronous: str = "full"
    kurrentdb_url: str | None = None
    read_store: str = "sqlite"
    mongo_url: str | None = None
    mongo_db: str = "im"
    amqp_url: str | None = None
    amqp_exchange: str = "im.events"
    amqp_partner_queue: str = "im.partner.users"
    amqp_dead_letter_queue: str | None = None
    amqp_public_url: str | None = None
    amqp_confirm_timeout_seconds: float = 30.0
    amqp_reconnect_seconds: float = 1.0
    cascade_format: str = "envelope"
    cascade_legacy_prefix: str = ""
    cascade_legacy_timezone: str = "UTC"
    partner_api_keys: str = ""
    partner_jwt_secret: str = ""
    max_upload_bytes: int = 104857600
    max_json_bytes: int = 1048576
    metrics_token: str = ""
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    blob_dir: str | None = None
    download_count_flush_seconds: float = 1.0
    blob_sweep_seconds: float = 3600.0
    blob_orphan_grace_seconds: float = 3600.0
    public_base_url: str | None = None
    dev_mode: bool = True
    password_memory_kib: int = 19456
    read_wait_seconds: float = 5.0
    message_edit_window_seconds: float = 86400.0
    message_recall_window_seconds: float = 120.0
    chat_cached_conversations: int = 20000
    chat_recent_keys: int = 2000
    chat_membership_refresh_seconds: float = 0.5
    ws_idle_seconds: float = 90.0
    ws_queue_frames: int = 1000
    ws_queue_bytes: int = 1048576
    ws_resume_max_events: int = 100000
    typing_timeout_seconds: float = 5.0
    ws_per_message_deflate: bool = False
    ws_max_frame_bytes: int = 65536
    log_format: str = "text"
    log_level: str = "info"
    redis_url: str | None = None
    forwarded_allow_ips: str = "127.0.0.1"
    redis_prefix: str = "im:"
    ws_max_per_user: int = 20

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def envelope_cascade(self) -> bool:
        """The relay publishes the versioned envelope (``IM_CASCADE_FORMAT`` envelope or both)."""
        return self.cascade_format != "legacy"

    @property
    def legacy_cascade(self) -> bool:
        """The previous system's protocol runs (``IM_CASCADE_FORMAT`` legacy or both)."""
        return self.cascade_format in ("legacy", "both")

    @property
    def envelope_format_name(self) -> str:
        return "envelope" if self.cascade_format in ("legacy", "both") else self.cascade_format

    @property
    def dead_letter_queue(self) -> str:
        return self.amqp_dead_letter_queue or f"{self.amqp_partner_queue}.dlq"

    @property
    def partner_api_key_list(self) -> list[str]:
        return [k.strip() for k in self.partner_api_keys.split(",") if k.strip()]

    @property
    def blob_path(self) -> Path:
        return Path(self.blob_dir) if self.blob_dir else self.data_path / "blobs"

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


_FIELDS = Settings.__struct_fields__


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build and validate settings from ``IM_*`` variables (plus explicit overrides)."""
    env = os.environ if env is None else env
    raw: dict[str, object] = {}
    for name in _FIELDS:
        key = "IM_" + name.upper()
        if key in env:
            raw[name] = env[key]
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        msg, _, path = text.partition(" - at `$.")
        var = "IM_" + path.rstrip("`").upper() if path else "an IM_* variable"
        raise SettingsError(f"invalid {var}: {msg}") from None
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if s.event_store not in EVENT_STORES:
        raise SettingsError(
            f"IM_EVENT_STORE={s.event_store!r} is unknown; valid: {', '.join(EVENT_STORES)}"
        )
    if s.read_store not in READ_STORES:
        raise SettingsError(
            f"IM_READ_STORE={s.read_store!r} is unknown; valid: {', '.join(READ_STORES)}"
        )
    if s.sqlite_synchronous not in SQLITE_SYNCHRONOUS:
        raise SettingsError(
            f"IM_SQLITE_SYNCHRONOUS={s.sqlite_synchronous!r} is unknown;"
            f" valid: {', '.join(SQLITE_SYNCHRONOUS)}"
        )
    if s.event_store == "kurrentdb" and not s.kurrentdb_url:
        raise SettingsError("IM_EVENT_STORE=kurrentdb needs IM_KURRENTDB_URL (esdb://host:2113)")
    if s.read_store == "mongo" and not s.mongo_url:
        raise SettingsError("IM_READ_STORE=mongo needs IM_MONGO_URL (mongodb://host:27017)")
    if not s.dev_mode and len(s.jwt_secret) < 32:
        raise SettingsError(
            "IM_JWT_SECRET must be set to at least 32 characters outside development mode"
            " (IM_DEV_MODE=false); generate one with: python -c 'import secrets;"
            " print(secrets.token_urlsafe(48))'"
        )
    _validate_cascade(s)
    if s.log_format not in LOG_FORMATS:
        raise SettingsError(
            f"IM_LOG_FORMAT={s.log_format!r} is unknown; valid: {', '.join(LOG_FORMATS)}"
        )
    if s.log_level.lower() not in LOG_LEVELS:
        raise SettingsError(
            f"IM_LOG_LEVEL={s.log_level!r} is unknown; valid: {', '.join(LOG_LEVELS)}"
        )
    if s.header_timeout_seconds <= 0 or s.body_timeout_seconds <= 0:
        raise SettingsError(
            "IM_HEADER_TIMEOUT_SECONDS and IM_BODY_TIMEOUT_SECONDS must be positive"
        )
    if s.max_json_bytes < 1024:
        raise SettingsError("IM_MAX_JSON_BYTES must be at least 1024 bytes")
    if s.max_upload_bytes < 1:
        raise SettingsError("IM_MAX_UPLOAD_BYTES must be a positive number of bytes")
    if s.blob_sweep_seconds <= 0 or s.blob_orphan_grace_seconds < 0:
        raise SettingsError(
            "IM_BLOB_SWEEP_SECONDS must be positive and IM_BLOB_ORPHAN_GRACE_SECONDS >= 0"
        )
    if s.download_count_flush_seconds <= 0:
        raise SettingsError("IM_DOWNLOAD_COUNT_FLUSH_SECONDS must be positive")
    if s.first_superuser and not s.first_superuser_password:
        raise SettingsError("IM_FIRST_SUPERUSER needs IM_FIRST_SUPERUSER_PASSWORD")
    _validate_realtime(s)
    _validate_chat(s)


def _validate_chat(s: Settings) -> None:
    if s.message_edit_window_seconds < 0 or s.message_recall_window_seconds < 0:
        raise SettingsError(
            "IM_MESSAGE_EDIT_WINDOW_SECONDS and IM_MESSAGE_RECALL_WINDOW_SECONDS must be >= 0"
        )
    if s.chat_membership_refresh_seconds < 0:
        raise SettingsError("IM_CHAT_MEMBERSHIP_REFRESH_SECONDS must be >= 0")
    if s.chat_cached_conversations < 1 or s.chat_recent_keys < 1:
        raise SettingsError("IM_CHAT_CACHED_CONVERSATIONS and IM_CHAT_RECENT_KEYS must be >= 1")


def _validate_realtime(s: Settings) -> None:
    if s.ws_idle_seconds <= 0:
        raise SettingsError("IM_WS_IDLE_SECONDS must be positive (the contract expects > 75)")
    if s.ws_queue_frames < 2 or s.ws_queue_bytes < 1024:
        raise SettingsError("IM_WS_QUEUE_FRAMES must be >= 2 and IM_WS_QUEUE_BYTES >= 1024")
    if s.ws_resume_max_events < 0:
        raise SettingsError("IM_WS_RESUME_MAX_EVENTS must be >= 0")
    if s.typing_timeout_seconds <= 0:
        raise SettingsError("IM_TYPING_TIMEOUT_SECONDS must be positive")
    if s.ws_max_per_user < 1:
        raise SettingsError("IM_WS_MAX_PER_USER must be >= 1")
    if s.ws_max_frame_bytes < 1024:
        raise SettingsError("IM_WS_MAX_FRAME_BYTES must be >= 1024")
    if s.redis_url and not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("IM_REDIS_URL must be a redis://, rediss:// or unix:// URL")


def _validate_cascade(s: Settings) -> None:
    from domain.cascade import FORMATTERS

    if s.amqp_url and not s.amqp_url.startswith(("amqp://", "amqps://")):
        raise SettingsError("IM_AMQP_URL must be an amqp:// or amqps:// URL")
    if s.cascade_format not in {*FORMATTERS, "legacy", "both"}:
        valid = ", ".join(sorted({*FORMATTERS, "legacy", "both"}))
        raise SettingsError(f"IM_CASCADE_FORMAT={s.cascade_format!r} is unknown; valid: {valid}")
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{0,64}", s.cascade_legacy_prefix):
        raise SettingsError(
            "IM_CASCADE_LEGACY_PREFIX must be at most 64 letters, digits or _ . : -"
        )
    try:
        zoneinfo.ZoneInfo(s.cascade_legacy_timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"IM_CASCADE_LEGACY_TIMEZONE={s.cascade_legacy_timezone!r} is not an IANA time zone"
        ) from None
    if s.partner_jwt_secret and len(s.partner_jwt_secret) < 32:
        raise SettingsError("IM_PARTNER_JWT_SECRET must be at least 32 characters")
    if any(len(k) < 16 for k in s.partner_api_key_list):
        raise SettingsError("each key in IM_PARTNER_API_KEYS must be at least 16 characters")
    if s.amqp_confirm_timeout_seconds <= 0 or s.amqp_reconnect_seconds <= 0:
        raise SettingsError(
            "IM_AMQP_CONFIRM_TIMEOUT_SECONDS and IM_AMQP_RECONNECT_SECONDS must be positive"
        )


def ensure_jwt_secret(s: Settings) -> Settings:
    """In development mode without a secret, generate one and keep it in the data folder."""
    if s.jwt_secret:
        return s
    path = s.data_path / "jwt_secret"
    secret = path.read_text().strip() if path.exists() else ""
    if len(secret) < 32:  # none yet (or a torn write from before writes were atomic)
        s.data_path.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        _write_durably(path, secret)
    return msgspec.structs.replace(s, jwt_secret=secret)


def _write_durably(path: Path, text: str) -> None:
    """Write a small file so that after a power cut it is either absent or complete."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
