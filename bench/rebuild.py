"""``im rebuild`` speed: MessageSent events appended straight to a fresh SQLite event store, then
``im rebuild`` in a subprocess; events/s as the command reports it, and the CPU it used.

Run: .venv/bin/python -m bench.rebuild [--messages 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.harness import server_env
from bench.loaded_store import append_messages


def figures(messages: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data"
        data.mkdir()
        appended = asyncio.run(append_messages(data, 1, [1, 2, 3], messages))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "rebuild"],
            env=server_env(data),
            capture_output=True,
            text=True,
            check=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # the command's one result line: "rebuilt 1,000,000 events in 38.12s (26,231 events/s)"
    match = re.search(r"rebuilt ([\d,]+) events in ([\d.]+)s \(([\d,]+) events/s\)", out.stdout)
    if match is None:
        raise RuntimeError(f"im rebuild printed no result line:\n{out.stdout}{out.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    events = int(match.group(1).replace(",", ""))
    return {
        "rate": float(match.group(3).replace(",", "")),
        "unit": "ev/s",
        "events": events,
        "seconds": float(match.group(2)),
        "appended_per_s": appended,
        # the rebuild process's CPU (start-up included): no separate client here
        "client_cpu_s": cpu,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="rebuild")
    p.add_argument("--messages", type=int, default=1_000_000)
    r = figures(p.parse_args().messages)
    print(
        f"im rebuild of {r['events']:,} events: {r['rate']:,.0f} events/s"
        f" ({r['client_cpu_s']:.1f} s of CPU)"
    )


if __name__ == "__main__":
    main()
