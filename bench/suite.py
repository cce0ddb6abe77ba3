"""``im bench``: run the benchmarks next to the ceilings that bound them, in one run; print one
table (figure, target, measured, ceiling, ratio to the ceiling) and write a JSON record of the
machine and the figures to bench/results/.

Run: ./im bench [--quick] [--force] [--out DIR] [NAME ...]   (names: see --list)
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from bench import figures
from bench.figures import Run

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Bench:
    """One figure: how to measure it (quick or full), the ceiling it is bounded by, the target."""

    name: str
    figure: str
    target: str
    ceiling: str  # a key of CEILINGS
    measure: Callable[[Run], dict[str, Any]]
    key: str  # the number in the result compared with the ceiling's same key
    higher_is_better: bool
    note: str = ""  # shown after the measured value: a format string over the result
    shares: str = ""  # what it uses from Run.once, released after the last figure using it


BENCHES = [
    Bench(
        "event_store",
        "log appends, batches of 100 (SqliteEventStore)",
        "(none set)",
        "sqlite",
        figures.log_appends,
        "rate",
        True,
    ),
    Bench(
        "rebuild",
        "im rebuild, 1,000,000 messages (20,000 quick)",
        ">= 50,000 ev/s",
        "sqlite",
        figures.rebuild_rate,
        "rate",
        True,
    ),
    Bench(
        "catchup",
        "live projector: 1,000,000 events appended to a running im serve (20,000 quick)",
        ">= 30,000 ev/s",
        "sqlite",
        figures.catchup,
        "rate",
        True,
        shares="loaded",
    ),
    Bench(
        "idle_rss",
        "im serve RSS, idle after the 1,000,000-message load (20,000 quick)",
        "< 300 MiB",
        "starlette_process",
        figures.idle_rss,
        "rss_mib",
        False,
        shares="loaded",
    ),
    Bench(
        "history",
        "history page of 50 at 1,000,000 messages (20,000 quick), p99",
        "< 5 ms",
        "starlette_seq",
        figures.history,
        "p99_ms",
        False,
        shares="loaded",
    ),
    Bench(
        "cold_start",
        "cold start of im serve to /ready, 1,000,000 messages (20,000 quick)",
        "< 3 s",
        "starlette_process",
        figures.cold_start,
        "start_s",
        False,
        shares="loaded",
    ),
    Bench(
        "sends_group",
        "sends, 50 senders in 1 group",
        ">= 4,000 msg/s",
        "starlette",
        figures.sends_group,
        "rate",
        True,
    ),
    Bench(
        "sends_pairs",
        "sends, 200 senders over 100 conversations, p99",
        "< 50 ms at >= 2,000 msg/s",
        "starlette_200",
        figures.sends_pairs,
        "p99_ms",
        False,
        note="at {rate:,.0f} msg/s",
    ),
    Bench(
        "http_me",
        "GET /users/me req/s, 50 connections",
        ">= 60% of ceiling",
        "starlette",
        figures.users_me,
        "rate",
        True,
        note="{server_cpu_us_per_request:.0f} server CPU us/request",
    ),
    Bench(
        "push_latency",
        "push latency at 500 msg/s, p99 (POST start to the frame)",
        "< 10 ms",
        "websockets",
        figures.push_latency,
        "p99_ms",
        False,
        note="at {achieved_rate:,.0f} msg/s",
    ),
    Bench(
        "fanout",
        "fan-out to 1,000 members (200 quick), p99",
        "< 100 ms at 1,000",
        "websockets",
        figures.fanout,
        "p99_ms",
        False,
    ),
    Bench(
        "idle_sockets",
        "idle authenticated sockets, 50,000 (1,000 quick): server RSS",
        "< 2 GiB",
        "websockets_idle",
        figures.idle_sockets,
        "rss_mib",
        False,
        note="{connections:,} sockets",
        shares="idle",
    ),
    Bench(
        "idle_broadcast",
        "a broadcast to all the idle sockets, until the last",
        "< 2 s",
        "websockets_idle",
        figures.idle_broadcast,
        "broadcast_ms",
        False,
        note="{connections:,} sockets",
        shares="idle",
    ),
    Bench(
        "conv_list",
        "conversation list with unread counts, 500 conversations (100 quick), p99",
        "< 10 ms",
        "starlette_seq",
        figures.conv_list,
        "p99_ms",
        False,
    ),
    Bench(
        "pages",
        "history pages/s, 8 readers paging a 10,000-message group backwards",
        ">= 2,000 pages/s",
        "starlette_8",
        figures.pages,
        "rate",
        True,
        note="{server_cpu_ms_per_page:.2f} server CPU ms/page",
    ),
]


CEILINGS: dict[str, tuple[str, Callable[[Run], dict[str, Any]]]] = {
    "sqlite": ("raw SQLite batched inserts (WAL, synchronous=FULL)", figures.sqlite_ceiling),
    "starlette": ("bare Starlette endpoint through uvicorn", figures.starlette_ceiling),
    "starlette_200": (
        "bare Starlette endpoint, wrk with 200 connections, p99",
        figures.starlette_200_ceiling,
    ),
    "starlette_8": (
        "bare Starlette endpoint, wrk with 8 threads of 1 connection",
        figures.starlette_8_ceiling,
    ),
    "starlette_seq": (
        "bare Starlette endpoint, one request after another, p99",
        figures.starlette_seq_ceiling,
    ),
    "starlette_process": (
        "bare Starlette app through uvicorn: start to first answer, RSS",
        figures.starlette_process_ceiling,
    ),
    "websockets": ("bare websockets broadcast, p99", figures.websockets_ceiling),
    "websockets_idle": (
        "bare websockets server holding the same idle sockets",
        figures.idle_ceiling,
    ),
}


def machine() -> dict[str, Any]:
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    return {
        "cores": os.cpu_count(),
        "memory_bytes": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "load_average": list(os.getloadavg()),
    }


def unit_of(key: str, unit: str) -> str:
    """The unit a figure's number is in: from the key's suffix, else the result's ``unit``."""
    for suffix, name in (("_ms", "ms"), ("_s", "s"), ("_mib", "MiB")):
        if key.endswith(suffix):
            return name
    return unit


def fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:,.1f} ms"
    if unit == "s":
        return f"{value:,.2f} s"
    return f"{value:,.0f} {unit}"


def row(b: Bench, result: dict[str, Any], ceiling: dict[str, Any], wall_s: float) -> dict[str, Any]:
    """One figure of the record: the measured number next to its ceiling's."""
    value, bound = float(result[b.key]), float(ceiling[b.key])
    return {
        "name": b.name,
        "figure": b.figure,
        "target": b.target,
        "measured": value,
        "unit": unit_of(b.key, str(result.get("unit", ""))),
        "note": b.note.format(**result) if b.note else "",
        "ceiling_name": CEILINGS[b.ceiling][0],
        "ceiling": bound,
        "ceiling_unit": unit_of(b.key, str(ceiling.get("unit", ""))),
        # share of the ceiling reached: 1.0 is as good as the bare machine
        "ratio": (value / bound) if b.higher_is_better else (bound / value),
        "wall_s": wall_s,  # the first figure of a shared measurement pays for it
        "result": result,
        "ceiling_result": ceiling,
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = ("figure", "target", "measured", "ceiling", "ratio")
    lines = [
        (
            r["figure"],
            r["target"],
            fmt(r["measured"], r["unit"]) + (f" ({r['note']})" if r["note"] else ""),
            f"{fmt(r['ceiling'], r['ceiling_unit'])} ({r['ceiling_name']})",
            f"{r['ratio']:.2f}",
        )
        for r in rows
    ]
    widths = [max(len(str(x[i])) for x in [head, *lines]) for i in range(len(head))]
    out = [" | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="im bench", description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    p.add_argument("--quick", action="store_true", help="small counts: under 2 minutes")
    p.add_argument("--force", action="store_true", help="run even when the machine is busy")
    p.add_argument(
        "--max-load",
        type=float,
        default=float(os.cpu_count() or 1),
        help="refuse to start above this 1-minute load average (default: the core count)",
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON record")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    a = p.parse_args(argv)
    known = {b.name: b for b in BENCHES}
    if a.list:
        width = max(len(b.name) for b in BENCHES)
        for b in BENCHES:
            print(
                f"{b.name:<{width}}  {b.figure} (target {b.target};"
                f" ceiling: {CEILINGS[b.ceiling][0]})"
            )
        return 0
    unknown = [n for n in a.names if n not in known]
    if unknown:
        print(
            f"im bench: unknown benchmark {', '.join(unknown)}; choose from {', '.join(known)}",
            file=sys.stderr,
        )
        return 2
    load1 = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    busy = load1 > a.max_load
    if busy and not a.force:
        print(
            f"im bench: the machine is busy (1-minute load average {load1:.2f} > {a.max_load:g}"
            f" on {cores} cores);"
            " figures measured now would say more about the other work than about this code."
            " Wait for a quiet machine, or pass --force to measure anyway (the load is recorded).",
            file=sys.stderr,
        )
        return 3
    # in the suite's order, whatever the command line's: figures sharing a server run together
    chosen = [b for b in BENCHES if b.name in a.names] if a.names else BENCHES
    record = {"started": datetime.datetime.now(datetime.UTC).isoformat(), **machine()}
    record.update({"quick": a.quick, "forced": a.force and busy})
    measured_ceilings: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    run = Run(a.quick)
    try:
        for i, b in enumerate(chosen, 1):
            if b.ceiling not in measured_ceilings:
                print(f"[{i}/{len(chosen)}] ceiling: {CEILINGS[b.ceiling][0]} ...", file=sys.stderr)
                measured_ceilings[b.ceiling] = CEILINGS[b.ceiling][1](run)
            print(f"[{i}/{len(chosen)}] {b.name}: {b.figure} ...", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            result = b.measure(run)
            rows.append(row(b, result, measured_ceilings[b.ceiling], time.monotonic() - t0))
            if b.shares and all(later.shares != b.shares for later in chosen[i:]):
                run.release(b.shares)
    finally:
        run.close()
    record["seconds"] = time.monotonic() - started
    record["load_average_after"] = list(os.getloadavg())
    record["figures"] = rows
    print(table(rows))
    print(
        f"load average {record['load_average'][0]:.2f} at start, {os.getloadavg()[0]:.2f} at end"
        f" on {cores} cores; client CPU per figure is in the record"
    )
    a.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = a.out / f"{stamp}-{str(record['commit'])[:8] or 'nocommit'}.json"
    path.write_bytes(msgspec.json.format(msgspec.json.encode(record)))
    print(f"record: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
