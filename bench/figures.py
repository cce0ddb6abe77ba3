"""What ``im bench`` measures for each figure and ceiling, at full size or ``--quick``; the
figures share what they can within one run (``Run.once``): the data dir loaded with 1,000,000
messages, the idle sockets."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from bench import ceilings

if TYPE_CHECKING:
    from bench import loaded_store

T = TypeVar("T")


class Run:
    """One ``im bench`` run: quick or not, and what its figures share (built once, on first
    use, and released after the last figure of the run that uses it)."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self._made: dict[str, object] = {}
        self._stacks: dict[str, contextlib.ExitStack] = {}

    def once(self, key: str, make: Callable[[contextlib.ExitStack], T]) -> T:
        """``make(stack)``'s value, made on the first call for ``key``; whatever ``make``
        enters on ``stack`` (temporary folders, servers) is closed by ``release(key)``."""
        if key not in self._made:
            stack = contextlib.ExitStack()
            try:
                self._made[key] = make(stack)
            except BaseException:
                stack.close()
                raise
            self._stacks[key] = stack
        return cast(T, self._made[key])

    def release(self, key: str) -> None:
        self._made.pop(key, None)
        stack = self._stacks.pop(key, None)
        if stack is not None:
            stack.close()

    def close(self) -> None:
        for key in list(self._stacks):
            self.release(key)


def log_appends(run: Run) -> dict[str, Any]:
    from bench import event_store

    return asyncio.run(event_store.figures(20_000 if run.quick else 200_000))


def rebuild_rate(run: Run) -> dict[str, Any]:
    from bench import rebuild

    return rebuild.figures(20_000 if run.quick else 1_000_000)


def users_me(run: Run) -> dict[str, Any]:
    from bench import http_me

    return http_me.me(3 if run.quick else 15)


def fanout(run: Run) -> dict[str, Any]:
    from bench import realtime_fanout

    members, messages = (200, 20) if run.quick else (1000, 100)
    return asyncio.run(realtime_fanout.run(members, messages, 2 if run.quick else 4))


def sends_group(run: Run) -> dict[str, Any]:
    from bench import chat_send

    return chat_send.group_sends(3 if run.quick else 15)


def sends_pairs(run: Run) -> dict[str, Any]:
    from bench import chat_send

    return chat_send.pair_sends(3 if run.quick else 15)


def push_latency(run: Run) -> dict[str, Any]:
    from bench import realtime_latency

    return asyncio.run(realtime_latency.figures(500, 3 if run.quick else 10, 48))


IDLE_WORKERS = 4  # client processes holding the idle sockets


def idle_connections(run: Run) -> dict[str, Any]:
    """How many idle sockets this run holds (50,000; 1,000 quick), after raising the open-file
    limit for them; fewer, said on stderr and in the record, when the limit cannot be raised."""

    def make(_: contextlib.ExitStack) -> dict[str, Any]:
        from bench.rt_common import raise_fd_limit

        wanted = 1_000 if run.quick else 50_000
        need = wanted + 1_000  # the server's other files, the clients' pipes
        limit = raise_fd_limit(need)
        held = wanted if limit >= need else max(100, limit - 1_000)
        if held < wanted:
            print(
                f"im bench: the open-file limit is {limit} and could not be raised to {need}"
                f" (above the hard limit needs CAP_SYS_RESOURCE); the idle-socket figures"
                f" hold {held:,} sockets instead of {wanted:,}",
                file=sys.stderr,
            )
        return {"fd_limit": limit, "wanted": wanted, "connections": held}

    return run.once("idle_connections", make)


def idle_sockets(run: Run) -> dict[str, Any]:
    from bench import realtime_idle

    def make(_: contextlib.ExitStack) -> dict[str, Any]:
        n = idle_connections(run)
        result = asyncio.run(realtime_idle.figures(n["connections"], IDLE_WORKERS))
        return {**result, "fd_limit": n["fd_limit"], "connections_wanted": n["wanted"]}

    return run.once("idle", make)


def idle_broadcast(run: Run) -> dict[str, Any]:
    return {**idle_sockets(run), "unit": "ms"}


def conv_list(run: Run) -> dict[str, Any]:
    from bench import chat_reads

    return chat_reads.conversation_list(*((100, 200) if run.quick else (500, 1000)))


def pages(run: Run) -> dict[str, Any]:
    from bench import chat_reads

    return chat_reads.pages(10_000, 3 if run.quick else 10)


def loaded(run: Run) -> loaded_store.Loaded:
    """The run's one data dir with a group of 1,000,000 messages (20,000 quick), loaded into a
    running ``im serve``; built by the first figure that needs it."""
    from bench import loaded_store

    def make(stack: contextlib.ExitStack) -> loaded_store.Loaded:
        messages = 20_000 if run.quick else 1_000_000
        print(f"    loading {messages:,} messages into a running im serve ...", file=sys.stderr)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="im-bench-")))
        built = loaded_store.load(tmp, messages)
        stack.callback(built.stop)
        return built

    return run.once("loaded", make)


def catchup(run: Run) -> dict[str, Any]:
    return dict(loaded(run).catchup)


def idle_rss(run: Run) -> dict[str, Any]:
    return dict(loaded(run).idle)


def history(run: Run) -> dict[str, Any]:
    from bench import loaded_store

    return loaded_store.history(loaded(run), 300 if run.quick else 3000)


def cold_start(run: Run) -> dict[str, Any]:
    from bench import loaded_store

    return loaded_store.cold_start(loaded(run))


def idle_ceiling(run: Run) -> dict[str, Any]:
    n = idle_connections(run)
    return ceilings.bare_websockets_idle(n["connections"], IDLE_WORKERS)


def sqlite_ceiling(run: Run) -> dict[str, Any]:
    return ceilings.sqlite_inserts(20_000 if run.quick else 200_000)


def starlette_ceiling(run: Run) -> dict[str, Any]:
    return ceilings.bare_starlette(3 if run.quick else 15)


def starlette_200_ceiling(run: Run) -> dict[str, Any]:
    return ceilings.bare_starlette(3 if run.quick else 15, 200)


def starlette_8_ceiling(run: Run) -> dict[str, Any]:
    return ceilings.bare_starlette(3 if run.quick else 10, 8, threads=8)


def starlette_seq_ceiling(run: Run) -> dict[str, Any]:
    return ceilings.bare_starlette_latency(300 if run.quick else 3000)


def starlette_process_ceiling(run: Run) -> dict[str, Any]:
    return ceilings.bare_process()


def websockets_ceiling(run: Run) -> dict[str, Any]:
    return ceilings.bare_websockets(*((200, 20) if run.quick else (1000, 100)))
