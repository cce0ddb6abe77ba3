"""Logs an operator can use: text or JSON lines on stderr, one access line per request, a start-up
summary, a shutdown line.

``IM_LOG_FORMAT=text`` (default) is for people; ``json`` gives one JSON object per line for log
shippers, with every structured field (``method``, ``path``, ``status``, ``duration_ms``,
``user_id``, ``request_id`` on access lines) as its own key. ``IM_LOG_LEVEL`` (default ``info``)
filters; ``warning`` drops the access log.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import msgspec
from starlette.types import Scope

from gateway.request_id import RequestIdFilter
from gateway.settings import Settings

ACCESS = logging.getLogger("im.access")
log = logging.getLogger("im")
_encoder = msgspec.json.Encoder()
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def _iso(ts: float) -> str:
    t = time.gmtime(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(ts % 1 * 1000):03d}Z"


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger> <message>``; tracebacks follow on their own lines."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_iso(record.created)} {record.levelname:<7} {record.name} {record.getMessage()}"
        rid = getattr(record, "request_id", "-")
        if rid != "-":  # logged while serving a request (RequestIdFilter)
            line += f" request_id={rid}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, ``msg`` and the record's
    structured ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": getattr(record, "short", None) or record.getMessage(),
        }
        rid = getattr(record, "request_id", "-")
        if rid != "-":
            out["request_id"] = rid
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return _encoder.encode(out).decode()


class AccessWriter:
    """Access lines, formatted directly (a logging record costs ~60 us, a third of a fast
    request) and written once per event-loop iteration, however many requests ended in it."""

    def __init__(self, stream: TextIO, json: bool) -> None:
        self.stream = stream
        self.json = json
        self._pending: list[str] = []
        self._scheduled = False
        self._second = -1
        self._stamp = ""

    def _ts(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def line(self, text: str, fields: dict[str, Any]) -> None:
        now = time.time()
        if self.json:
            record = {"ts": self._ts(now), "level": "info", "logger": "im.access", "msg": text}
            record.update(fields)
            out = _encoder.encode(record).decode()
        else:
            out = f"{self._ts(now)} INFO    im.access {text}"
        self._pending.append(out)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        lines, self._pending = self._pending, []
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed or full: never fail a request over a log
            pass


_writer: list[AccessWriter | None] = [None]  # set by configure()


def configure(fmt: str = "text", level: str = "info") -> None:
    """Send every log record (ours, uvicorn's, the drivers') to stderr in one format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())  # a record logged while serving names the request
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # libraries: warnings and errors only
    log.setLevel(level.upper())  # im.*: the configured level
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True  # replaced by im.access
    access = ACCESS.isEnabledFor(logging.INFO)
    _writer[0] = AccessWriter(sys.stderr, fmt == "json") if access else None


_templates: dict[str, str] = {}  # route path -> template without convertors (few routes)


def _template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        template = _templates.get(path)
        if template is None:
            template = _templates[path] = _CONVERTOR.sub(r"{\1}", path)
        return template
    if "endpoint" in scope:  # matched by the router's static-path table: the path is the route
        return str(scope["path"])
    return "<unmatched>"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))[:200]
    return None


def _emit(text: str, fields: dict[str, Any]) -> None:
    writer = _writer[0]
    if writer is not None:
        writer.line(text, fields)
    else:  # not configured by the im command (an embedding app): through logging
        ACCESS.info("%s", text, extra={"fields": fields})


def access_enabled() -> bool:
    """Whether access lines are written (``IM_LOG_LEVEL=warning`` drops them)."""
    return _writer[0] is not None or ACCESS.isEnabledFor(logging.INFO)


def log_request(scope: Scope, status: int, started: float) -> None:
    """The ``im.access`` line of an HTTP request answered with ``status``, ``started`` at that
    ``time.perf_counter()``: method, route template, status, duration, user id, request id
    (the user id and request id come from ``scope["state"]``)."""
    _emit(*_access(scope, scope["method"], status, started))


def log_websocket(scope: Scope, status: int, close: int | None, started: float) -> None:
    """The line of a WebSocket when it ends: 101 (accepted) or 403, how long it lived, who,
    and the close code the server sent (None: the client closed)."""
    text, fields = _access(scope, "WS", status, started)
    fields["close_code"] = close
    _emit(f"{text} close={'-' if close is None else close}", fields)


def _access(scope: Scope, method: str, status: int, started: float) -> tuple[str, dict[str, Any]]:
    """The access line (text and fields) of a request or socket ``started`` at that
    ``time.perf_counter()``: route template, status, duration, user id, request id."""
    ms = (time.perf_counter() - started) * 1000
    state = scope.get("state") or {}
    user = state.get("user_id")
    rid = state.get("request_id") or _header(scope, b"x-request-id")
    path = _template(scope)
    text = (
        f"{method} {path} {status} {ms:.1f}ms"
        f" user={'-' if user is None else user} request_id={rid or '-'}"
    )
    fields = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(ms, 2),
        "user_id": user,
        "request_id": rid,
    }
    return text, fields


# ---- start-up summary ------------------------------------------------------------------------

_SECRET_FIELDS = re.compile(r"secret|password|api_keys|token")


def mask_url(url: str) -> str:
    """``scheme://user:****@host/...``: the password of a URL is never logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:****@{f'[{host}]' if ':' in host else host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def changed_settings(settings: Settings) -> dict[str, str]:
    """``IM_*`` name -> value of every setting that differs from its default, secrets masked."""
    defaults = Settings()
    out: dict[str, str] = {}
    for name in Settings.__struct_fields__:
        value = getattr(settings, name)
        if value == getattr(defaults, name):
            continue
        if _SECRET_FIELDS.search(name) and value:
            text = "****"
        elif isinstance(value, str) and "://" in value:
            text = mask_url(value)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        out["IM_" + name.upper()] = text
    return out


def _where(settings: Settings) -> dict[str, str]:
    data = settings.data_path.resolve()
    if settings.event_store == "kurrentdb":
        events = f"kurrentdb {mask_url(settings.kurrentdb_url or '')}"
    else:
        events = f"sqlite {data / 'events.sqlite3'}"
    if settings.read_store == "mongo":
        read = f"mongo {mask_url(settings.mongo_url or '')} database {settings.mongo_db}"
    else:
        read = f"sqlite {data / 'read.sqlite3'}"
    if settings.amqp_url:
        broker = (
            f"amqp {mask_url(settings.amqp_url)} exchange {settings.amqp_exchange}"
            f" partner queue {settings.amqp_partner_queue or '(none)'}"
        )
    else:
        broker = "off (IM_AMQP_URL unset: no cascade)"
    redis_url = getattr(settings, "redis_url", None)
    redis = f"redis {mask_url(redis_url)}" if redis_url else "off (presence in this process)"
    return {
        "event_store": events,
        "read_store": read,
        "broker": broker,
        "redis": redis,
        "data_dir": str(data),
        "blob_dir": str(settings.blob_path.resolve()),
    }


def startup_summary(settings: Settings, process: str, version: str, roles: list[str]) -> None:
    """What an operator checks first: backends, folders, URLs, settings that differ."""
    where = _where(settings)
    base = f"http://{settings.host}:{settings.port}"
    urls = {
        "api": f"{base}/api/v1",
        "docs": f"{base}/docs",
        "asyncapi": f"{base}/asyncapi",
        "health": f"{base}/health",
        "metrics": f"{base}/metrics",
    }
    changed = changed_settings(settings)
    fields: dict[str, Any] = {
        "event": "startup",
        "process": process,
        "version": version,
        "roles": roles,
        **where,
        "urls": urls,
        "settings": changed,
    }
    lines = [f"starting {process} {version}: {', '.join(roles)}"]
    for key, value in where.items():
        lines.append(f"  {key.replace('_', ' ') + ':':<13}{value}")
    lines.append(
        f"  {'settings:':<13}"
        + (", ".join(f"{k}={v}" for k, v in changed.items()) or "all defaults")
    )
    lines.append(
        f"  {'docs:':<13}{urls['docs']}, AsyncAPI {urls['asyncapi']}, health {urls['health']}"
    )
    log.info("\n".join(lines), extra={"fields": fields, "short": "startup"})
