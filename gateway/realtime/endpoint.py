"""The WebSocket endpoint: ``/api/v1/realtime/ws?token=``, and ``/ws/{user_id}?token=`` at the
root and under ``/api/v1/realtime``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import msgspec
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from domain.errors import InvalidError, UnauthorizedError
from gateway.auth import Authenticator, decode_claims
from gateway.limits import check_json_depth
from gateway.realtime.connection import (
    CLOSE_BAD_REQUEST,
    CLOSE_IDLE,
    CLOSE_UNAUTHORIZED,
    Connection,
    Limits,
)
from gateway.realtime.fastpath import direct_writer
from gateway.realtime.service import Realtime, Refused
from gateway.settings import Settings
from queries.realtime.frames import make_frame

_PONG = "pong"
_decoder = msgspec.json.Decoder(dict[str, Any])


def _aborter(receive: Receive) -> Callable[[], None] | None:
    """Cut the TCP connection of a peer that does not take a close frame (best effort).

    ASGI has no abort; uvicorn's ``receive`` is a method of its protocol, which holds the
    transport. Without it, returning from the handler still closes the socket eventually.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    return abort if callable(abort) else None


def _since(ws: WebSocket) -> int | None:
    raw = ws.query_params.get("since")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ValueError("since must be a non-negative integer event position")
    return int(raw)


class RealtimeEndpoint:
    """A raw ASGI app, so the connection can reach the server's transport to abort it."""

    def __init__(
        self, authenticator: Authenticator, settings: Settings, realtime: Realtime
    ) -> None:
        self._authenticator = authenticator
        self._secret = settings.jwt_secret
        self._realtime = realtime
        s = settings
        self._limits = Limits(frames=s.ws_queue_frames, bytes=s.ws_queue_bytes)
        self._idle = s.ws_idle_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        try:
            user_id, expires_at = await self._authenticate(ws)
        except UnauthorizedError as exc:
            await ws.close(CLOSE_UNAUTHORIZED, exc.detail)
            return
        scope.setdefault("state", {})["user_id"] = user_id  # for the access log
        try:
            since = _since(ws)
        except ValueError as exc:
            await ws.close(CLOSE_BAD_REQUEST, str(exc))
            return
        conn = Connection(ws, user_id, self._limits, _aborter(receive), direct_writer(receive))
        try:
            attached = await self._realtime.attach(conn, since)
        except Refused as exc:
            await ws.close(exc.code, exc.reason)
            return
        # The socket lives no longer than its token: then 4401, and the client logs in again.
        expiry = asyncio.get_running_loop().call_later(
            max(0.0, expires_at - time.time()),
            conn.fail,
            CLOSE_UNAUTHORIZED,
            "the token expired; log in again",
        )
        try:
            await self._serve(ws, conn, since, attached)
        finally:
            expiry.cancel()

    async def _authenticate(self, ws: WebSocket) -> tuple[int, float]:
        token = ws.query_params.get("token") or ""
        if not token:
            scheme, _, value = ws.headers.get("authorization", "").partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else ""
        if not token:
            raise UnauthorizedError("Not authenticated")
        user = await self._authenticator.user_for_token(token)
        wanted = ws.path_params.get("user_id")
        if wanted is not None and wanted != user.id:
            raise UnauthorizedError("The token does not belong to this user id")
        _, expires_at = decode_claims(token, self._secret)
        return user.id, float(expires_at)

    async def _serve(self, ws: WebSocket, conn: Connection, since: int | None, at: Any) -> None:
        rt = self._realtime
        established = {
            "user_id": conn.user_id,
            "connection_id": conn.id,
            "position": at.position,
            "resumed_from": since,
        }
        conn.push_first(make_frame("connection_established", established))
        conn.start()
        resume: asyncio.Task[None] | None = None
        if conn.replaying and since is not None:
            resume = asyncio.create_task(rt.resume(conn, since, at))
        try:
            await rt.connected(conn)
            await self._read(ws, conn)
        finally:
            if resume is not None:
                resume.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await resume
            await conn.drain_and_stop()
            await rt.disconnected(conn)

    async def _read(self, ws: WebSocket, conn: Connection) -> None:
        presence = self._realtime.presence
        while True:
            try:
                async with asyncio.timeout(self._idle):
                    message = await ws.receive()
            except TimeoutError:
                await conn.close(CLOSE_IDLE, f"no frame from the client for {self._idle:g} s")
                return
            if message["type"] == "websocket.disconnect":
                return
            await presence.touch(conn.user_id, conn.id)
            self._answer(conn, message.get("text") or message.get("bytes") or b"")

    def _answer(self, conn: Connection, raw: str | bytes) -> None:
        try:
            check_json_depth(raw)
            kind = _decoder.decode(raw).get("type")
        except InvalidError as exc:  # too deeply nested: say so, keep the socket
            conn.push(make_frame("error", {"detail": exc.detail}))
            return
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            kind = None
        if kind == "ping":
            conn.push(make_frame(_PONG, {}))
        elif kind != _PONG:
            detail = 'unknown frame; send {"type": "ping"}'
            conn.push(make_frame("error", {"detail": detail}))


def websocket_routes(
    authenticator: Authenticator, settings: Settings, realtime: Realtime
) -> list[WebSocketRoute]:
    endpoint = RealtimeEndpoint(authenticator, settings, realtime)
    return [
        WebSocketRoute("/api/v1/realtime/ws", endpoint),
        WebSocketRoute("/api/v1/realtime/ws/{user_id:int}", endpoint),
        WebSocketRoute("/ws/{user_id:int}", endpoint),
    ]
