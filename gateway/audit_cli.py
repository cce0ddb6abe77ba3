"""``im audit ...``, ``im export``, ``im import`` and ``im admin grant-auditor``.

They work on the configured event store directly, so they work while the server is down.
Tables for a person, ``--json`` for a script; long walks show progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import msgspec

from commands.core import append
from domain import tracing
from domain.audit import EventLog, Scan, audit_line, parse_line
from domain.audit_events import AuditRead, audit_stream
from domain.store import RecordedEvent
from gateway.settings import Settings, SettingsError

CLI = tracing.Actor("system", "cli")
_enc = msgspec.json.Encoder()
_IMPORT_BATCH = 5000
Cmd = Callable[[argparse.Namespace, Settings], Awaitable[int]]


class Progress:
    """A one-line progress report on stderr: count, rate, and how far through the log."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total, self.started = what, total, time.perf_counter()
        self._last = 0.0

    def __call__(self, done: int, position: int) -> None:
        now = time.perf_counter()
        if now - self._last < 0.2:
            return
        self._last = now
        pct = 100.0 * position / self.total if self.total else 100.0
        rate = done / max(now - self.started, 1e-9)
        bar = "#" * int(min(pct, 100) / 4)
        sys.stderr.write(f"\r{self.what} [{bar:<25}] {pct:5.1f}%  {done:,} events  {rate:,.0f}/s")
        sys.stderr.flush()

    def done(self, count: int) -> float:
        elapsed = time.perf_counter() - self.started
        sys.stderr.write(f"\r{self.what}: {count:,} events in {elapsed:.2f}s\x1b[K\n")
        return elapsed


def _time(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SettingsError(f"not an ISO 8601 time: {text!r} (e.g. 2026-11-25T18:00:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _scan(args: argparse.Namespace) -> Scan:
    return Scan(
        after_position=args.after_position,
        until_position=args.until_position,
        since=_time(args.since),
        until=_time(args.until),
        types=tuple(t for t in (args.types or "").split(",") if t),
        category=args.category,
        actor_id=args.actor_id,
        correlation_id=args.correlation_id,
    )


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str], out: TextIO) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _events_out(recs: Sequence[RecordedEvent], as_json: bool) -> None:
    if as_json:
        sys.stdout.write("[" + ",".join(audit_line(r).decode() for r in recs) + "]\n")
        return
    from domain.audit import iso
    from domain.codec import parse_metadata

    rows = []
    for r in recs:
        meta = parse_metadata(r.metadata)
        actor = f"{meta.actor.kind}:{meta.actor.id}" if meta.actor else "-"
        rows.append((r.position, r.stream, r.version, r.type, iso(r.recorded_at), actor))
    _table(rows, ("position", "stream", "version", "type", "recorded_at", "actor"), sys.stdout)


async def _record(settings: Settings, route: str, args: argparse.Namespace) -> None:
    """The CLI's reads are recorded too (reader 0: the operator at the machine)."""
    from gateway.stores import build_event_store

    filters = {
        k: str(v) for k, v in vars(args).items() if v not in (None, False) and k not in ("fn",)
    }
    store = build_event_store(settings)
    try:
        with tracing.traced(tracing.Trace(tracing.new_id(), CLI)):
            event = AuditRead(reader_id=0, route=route, filters=filters, at=time.time())
            await append(store, audit_stream(0), [event], None)
    finally:
        await store.close()


async def _with_log(settings: Settings, fn: Callable[[EventLog], Awaitable[int]]) -> int:
    from gateway.stores import build_event_log

    log = build_event_log(settings)
    try:
        return await fn(log)
    finally:
        await log.close()


# -- im audit ---------------------------------------------------------------------------------
async def audit_streams(args: argparse.Namespace, settings: Settings) -> int:
    from queries.audit import streams

    async def run(log: EventLog) -> int:
        found = await streams(log, args.category, args.prefix, args.skip, args.limit)
        if args.json:
            sys.stdout.write(_enc.encode(found).decode() + "\n")
        else:
            rows = [
                (s.stream, s.version, s.first_position, s.last_position, s.last_recorded_at)
                for s in found
            ]
            header = ("stream", "version", "first_position", "last_position", "last_recorded_at")
            _table(rows, header, sys.stdout)
        return 0

    return await _with_log(settings, run)


async def audit_read(args: argparse.Namespace, settings: Settings) -> int:
    async def run(log: EventLog) -> int:
        _events_out(await log.stream_page(args.stream, args.from_version, args.limit), args.json)
        return 0

    return await _with_log(settings, run)


async def audit_events(args: argparse.Namespace, settings: Settings) -> int:
    async def run(log: EventLog) -> int:
        recs, more = await log.scan(_scan(args), args.limit)
        _events_out(recs, args.json)
        if more is not None:
            sys.stderr.write(f"more: continue with --after-position {more}\n")
        return 0

    return await _with_log(settings, run)


async def audit_activity(args: argparse.Namespace, settings: Settings) -> int:
    async def run(log: EventLog) -> int:
        scan = Scan(since=_time(args.since), until=_time(args.until), actor_id=str(args.user))
        recs, _ = await log.scan(scan, args.limit)
        _events_out(recs, args.json)
        return 0

    return await _with_log(settings, run)


async def audit_export(args: argparse.Namespace, settings: Settings) -> int:
    return await export_to(settings, _scan(args), args.out)


def _open_out(out: str | None) -> BinaryIO:
    return open(out, "wb") if out else sys.stdout.buffer


def _read_batch(f: BinaryIO, source: Path, first_line: int) -> tuple[list[RecordedEvent], int]:
    """Up to a batch of exported events from ``f`` and how many lines were read."""
    batch: list[RecordedEvent] = []
    n = 0
    while len(batch) < _IMPORT_BATCH:
        line = f.readline()
        if not line:
            break
        n += 1
        if not line.strip():
            continue
        try:
            batch.append(parse_line(line))
        except (msgspec.MsgspecError, ValueError) as exc:
            where = f"{source}:{first_line + n}"
            raise SettingsError(f"{where}: not an exported event: {exc}") from None
    return batch, n


async def export_to(settings: Settings, scan: Scan, out: str | None) -> int:
    from queries.audit import export

    async def run(log: EventLog) -> int:
        progress = Progress("export", await log.head())
        count = 0
        sink = await asyncio.to_thread(_open_out, out)
        try:
            async for chunk in export(log, scan, progress):
                await asyncio.to_thread(sink.write, chunk)
                count += chunk.count(b"\n")
        finally:
            if out:
                await asyncio.to_thread(sink.close)
        progress.done(count)
        return 0

    return await _with_log(settings, run)


async def audit_state(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.stores import build_read_store
    from projections.time_travel import TimeTravel
    from queries.audit_state import state_at

    async def run(log: EventLog) -> int:
        if args.at.isdigit():
            position, at_time = int(args.at), None
        else:
            at_time = _time(args.at)
            assert at_time is not None
            position = await log.position_at(at_time)
        read = build_read_store(settings)
        try:
            travel = TimeTravel(log)
            state = await state_at(
                travel, read, args.conversation, position, at_time, args.after_seq, args.limit
            )
        finally:
            await read.close()
        if args.json:
            sys.stdout.write(_enc.encode(state).decode() + "\n")
            return 0
        conv = state.conversation
        print(f"conversation {conv.id} ({conv.type}, {conv.name!r}, {conv.status})")
        print(f"as of position {state.position}, {state.at}")
        rows = [
            (m.user_id, m.role, m.status, m.muted_until or "-", m.last_read_seq)
            for m in state.members
        ]
        _table(rows, ("member", "role", "status", "muted_until", "last_read_seq"), sys.stdout)
        rows2 = [
            (m.seq, m.sender_id, m.status, m.content, m.original_content, len(m.edits))
            for m in state.messages
        ]
        header = ("seq", "sender", "status", "content", "original", "edits")
        _table(rows2, header, sys.stdout)
        return 0

    return await _with_log(settings, run)


async def audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from queries.audit import verify

    async def run(log: EventLog) -> int:
        progress = Progress("verify", await log.head())
        result = await verify(log, args.stream, progress)
        progress.done(result.checked)
        if args.json:
            sys.stdout.write(_enc.encode(result).decode() + "\n")
        elif result.ok:
            print(
                f"ok: {result.checked:,} events checked ({result.unchained:,} from before the"
                f" chain); head position {result.head.position}, digest {result.head.digest}"
            )
        else:
            b = result.first_break
            assert b is not None
            print(
                f"BROKEN at stream {b.stream} version {b.version} position {b.position}"
                f" (event {b.id}): {b.reason}"
            )
        return 0 if result.ok else 1

    return await _with_log(settings, run)


# -- im export / im import / im admin grant-auditor -------------------------------------------
async def export_all(args: argparse.Namespace, settings: Settings) -> int:
    return await export_to(settings, Scan(), args.out)


async def import_all(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.stores import build_event_store

    source = Path(args.file)
    if not await asyncio.to_thread(source.is_file):
        raise SettingsError(f"{source}: no such file (write one with im export --out FILE)")
    store = build_event_store(settings)  # creates an empty store's schema
    await store.close()

    async def run(log: EventLog) -> int:
        if not await log.is_empty():
            raise SettingsError(
                "the configured event store is not empty: import into a new IM_DATA_DIR"
                " (or an empty KurrentDB)"
            )
        total = (await asyncio.to_thread(source.stat)).st_size
        progress = Progress("import", total)
        done, lines = 0, 0
        f = await asyncio.to_thread(source.open, "rb")
        try:
            while True:
                batch, n = await asyncio.to_thread(_read_batch, f, source, lines)
                lines += n
                if not batch:
                    break
                await log.import_events(batch)
                done += len(batch)
                progress(done, f.tell())
        finally:
            await asyncio.to_thread(f.close)
        progress.done(done)
        return 0

    code = await _with_log(settings, run)
    if code == 0:
        await _rebuild(settings)
    return code


async def _rebuild(settings: Settings) -> None:
    from gateway.app import Process

    svc = Process(settings, inline_projector=False)
    try:
        started = time.perf_counter()
        await svc.queries.projector.rebuild()
        sys.stderr.write(f"rebuilt the read models in {time.perf_counter() - started:.2f}s\n")
    finally:
        await svc.stop()


async def grant_auditor(args: argparse.Namespace, settings: Settings) -> int:
    from commands.users import SetAuditor
    from gateway.app import Process

    svc = Process(settings, inline_projector=False)
    try:
        with tracing.traced(tracing.Trace(tracing.new_id(), CLI)):
            await svc.commands.users.set_auditor(SetAuditor(args.user_id, not args.revoke, None))
        state = await svc.commands.users.get(args.user_id)
        verb = "is now" if state.is_auditor else "is no longer"
        print(f"user {state.standard_id} (id {state.user_id}) {verb} an auditor")
    finally:
        await svc.stop()
    return 0


# -- argument parsing ---------------------------------------------------------------------------
def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--after-position", type=int, default=0)
    p.add_argument("--until-position", type=int)
    p.add_argument("--since", help="ISO 8601 time")
    p.add_argument("--until", help="ISO 8601 time")
    p.add_argument("--types", help="comma-separated event types")
    p.add_argument("--category", help="stream category, e.g. conversation")
    p.add_argument("--actor-id")
    p.add_argument("--correlation-id")


def register(sub: Any, admin: Any, settings_of: Callable[[argparse.Namespace], Settings]) -> None:
    """Add the audit, export and import commands to the ``im`` parser."""

    def runner(cmd: Cmd, route: str | None) -> Callable[[argparse.Namespace], None]:
        def fn(args: argparse.Namespace) -> None:
            settings = settings_of(args)

            async def both() -> int:
                code = await cmd(args, settings)
                if route is not None:
                    await _record(settings, route, args)
                return code

            code = asyncio.run(both())
            if code:
                sys.exit(code)

        return fn

    audit = sub.add_parser("audit", help="read the event log (works with the server down)")
    a = audit.add_subparsers(dest="audit", required=True)
    p = a.add_parser("streams", help="list streams")
    p.add_argument("--category")
    p.add_argument("--prefix")
    p.add_argument("--skip", type=int, default=0)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=runner(audit_streams, "im audit streams"))
    p = a.add_parser("read", help="one stream's events in version order")
    p.add_argument("stream")
    p.add_argument("--from-version", type=int, default=0)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=runner(audit_read, "im audit read"))
    p = a.add_parser("events", help="the global log, filtered, in position order")
    _filters(p)
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=runner(audit_events, "im audit events"))
    p = a.add_parser("export", help="matching events as NDJSON (stdout or --out)")
    _filters(p)
    p.add_argument("--out")
    p.set_defaults(fn=runner(audit_export, "im audit export"))
    p = a.add_parser("state", help="a conversation as it stood at a time or position")
    p.add_argument("conversation", type=int)
    p.add_argument("--at", required=True, help="ISO 8601 time or an event position")
    p.add_argument("--after-seq", type=int, default=0)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=runner(audit_state, "im audit state"))
    p = a.add_parser("activity", help="events a user caused")
    p.add_argument("user", type=int)
    p.add_argument("--since")
    p.add_argument("--until")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=runner(audit_activity, "im audit activity"))
    p = a.add_parser("verify", help="check the hash chains; exit 1 on the first break")
    p.add_argument("--stream")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=runner(audit_verify, "im audit verify"))

    p = sub.add_parser("export", help="write the whole event log as NDJSON (backup, migration)")
    p.add_argument("--out", required=True)
    p.set_defaults(fn=runner(export_all, None))
    p = sub.add_parser("import", help="load an export into an empty event store, then rebuild")
    p.add_argument("file")
    p.set_defaults(fn=runner(import_all, None))

    p = admin.add_parser("grant-auditor", help="make a user an auditor (--revoke: no longer)")
    p.add_argument("user_id", type=int)
    p.add_argument("--revoke", action="store_true")
    p.set_defaults(fn=runner(grant_auditor, None))
