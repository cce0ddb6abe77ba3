"""Test helpers: waiting on a condition, a client of the split deployment. The server harness
(unique names, users and tokens through the public HTTP interface, ``ServerProcess``) lives in
``bench/harness.py``, shared with the benchmarks, and is re-exported here."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bench.harness import API as API
from bench.harness import PASSWORD as PASSWORD
from bench.harness import ServerProcess as ServerProcess
from bench.harness import free_port as free_port
from bench.harness import new_user as new_user
from bench.harness import register as register
from bench.harness import server_env as server_env
from bench.harness import token_for as token_for
from bench.harness import unique as unique


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Poll an async condition until it holds or the deadline passes (then fail)."""
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(interval)


def forwarding_client(base_url: str, timeout: float = 30) -> httpx.AsyncClient:
    """A client of the split deployment as a careful app would be: it forwards the highest
    ``X-Event-Position`` it has seen as ``X-Min-Position`` on every request, and comes from an
    address of its own (``X-Forwarded-For``, believed from the loopback front proxy)."""
    seen = [0]
    address = "10." + ".".join(str(b) for b in os.urandom(3))

    async def on_request(request: httpx.Request) -> None:
        if seen[0]:
            request.headers["X-Min-Position"] = str(seen[0])
        request.headers.setdefault("X-Forwarded-For", address)

    async def on_response(response: httpx.Response) -> None:
        position = response.headers.get("x-event-position")
        if position:
            seen[0] = max(seen[0], int(position))

    hooks: dict[str, list[Any]] = {"request": [on_request], "response": [on_response]}
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, event_hooks=hooks)
