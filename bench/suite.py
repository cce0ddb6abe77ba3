"""``im bench``: run the benchmarks next to the ceilings that bound them, in one run; print one
table (figure, target, measured, ceiling, ratio to the ceiling) and write a JSON record of the
machine and the figures to bench/results/.

Run: ./im bench [--quick] [--force] [--out DIR] [NAME ...]   (names: see --list)
"""

from __future__ import annotations

import argparse
import asyncio
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

from bench import ceilings

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Bench:
    """One figure: how to measure it (quick or full), the ceiling it is bounded by, the target."""

    name: str
    figure: str
    target: str
    ceiling: str  # a key of CEILINGS
    measure: Callable[[bool], dict[str, Any]]
    key: str  # the number in the result compared with the ceiling's same key
    higher_is_better: bool


def _event_store(quick: bool) -> dict[str, Any]:
    from bench import event_store

    return asyncio.run(event_store.figures(20_000 if quick else 200_000))


def _rebuild(quick: bool) -> dict[str, Any]:
    from bench import rebuild

    return rebuild.figures(20_000 if quick else 1_000_000)


def _http_me(quick: bool) -> dict[str, Any]:
    from bench import http_me

    return http_me.me(5 if quick else 15)


def _fanout(quick: bool) -> dict[str, Any]:
    from bench import realtime_fanout

    members, messages = (200, 20) if quick else (1000, 100)
    return asyncio.run(realtime_fanout.run(members, messages, 2 if quick else 4))


BENCHES = [
    Bench(
        "event_store",
        "log appends, batches of 100 (SqliteEventStore)",
        "(none set)",
        "sqlite",
        _event_store,
        "rate",
        True,
    ),
    Bench(
        "rebuild",
        "im rebuild, 1,000,000 messages (20,000 quick)",
        ">= 50,000 ev/s",
        "sqlite",
        _rebuild,
        "rate",
        True,
    ),
    Bench(
        "http_me",
        "GET /users/me req/s, 50 connections",
        ">= 60% of ceiling",
        "starlette",
        _http_me,
        "rate",
        True,
    ),
    Bench(
        "fanout",
        "fan-out to 1,000 members (200 quick), p99",
        "< 100 ms at 1,000",
        "websockets",
        _fanout,
        "p99_ms",
        False,
    ),
]

CEILINGS: dict[str, tuple[str, Callable[[bool], dict[str, Any]]]] = {
    "sqlite": (
        "raw SQLite batched inserts (WAL, synchronous=FULL)",
        lambda quick: ceilings.sqlite_inserts(20_000 if quick else 200_000),
    ),
    "starlette": (
        "bare Starlette endpoint through uvicorn",
        lambda quick: ceilings.bare_starlette(5 if quick else 15),
    ),
    "websockets": (
        "bare websockets broadcast, p99",
        lambda quick: ceilings.bare_websockets(*((200, 20) if quick else (1000, 100))),
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


def _fmt(value: float, unit: str) -> str:
    return f"{value:,.1f} ms" if unit.startswith("ms") else f"{value:,.0f} {unit}"


def table(rows: list[dict[str, Any]]) -> str:
    head = ("figure", "target", "measured", "ceiling", "ratio")
    lines = [
        (
            r["figure"],
            r["target"],
            _fmt(r["measured"], r["unit"]),
            f"{_fmt(r['ceiling'], r['unit'])} ({r['ceiling_name']})",
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
        for b in BENCHES:
            print(f"{b.name:<12} {b.figure} (target {b.target}; ceiling: {CEILINGS[b.ceiling][0]})")
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
    chosen = [known[n] for n in a.names] if a.names else BENCHES
    record = {"started": datetime.datetime.now(datetime.UTC).isoformat(), **machine()}
    record.update({"quick": a.quick, "forced": a.force and busy})
    measured_ceilings: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    for i, b in enumerate(chosen, 1):
        if b.ceiling not in measured_ceilings:
            print(f"[{i}/{len(chosen)}] ceiling: {CEILINGS[b.ceiling][0]} ...", file=sys.stderr)
            measured_ceilings[b.ceiling] = CEILINGS[b.ceiling][1](a.quick)
        print(f"[{i}/{len(chosen)}] {b.name}: {b.figure} ...", file=sys.stderr, flush=True)
        result = b.measure(a.quick)
        ceiling = measured_ceilings[b.ceiling]
        value, bound = float(result[b.key]), float(ceiling[b.key])
        rows.append(
            {
                "name": b.name,
                "figure": b.figure,
                "target": b.target,
                "measured": value,
                "unit": result["unit"],
                "ceiling_name": CEILINGS[b.ceiling][0],
                "ceiling": bound,
                # share of the ceiling reached: 1.0 is as good as the bare machine
                "ratio": (value / bound) if b.higher_is_better else (bound / value),
                "result": result,
                "ceiling_result": ceiling,
            }
        )
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
