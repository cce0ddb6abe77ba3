"""A client that never reads its socket while 10,000 messages are pushed to its group: the
reading member's delivery latency (p50, p99) and the server's RSS before and at its peak.

Runs the scenario of tests/e2e/test_realtime_slow.py (which checks the behaviour: the deaf client
is cut off, everyone else gets every message once) and prints its figures.
Run: .venv/bin/python -m bench.realtime_deaf
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from tests.e2e.test_realtime_slow import test_a_deaf_client_is_cut_off_without_slowing_the_others


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(test_a_deaf_client_is_cut_off_without_slowing_the_others(Path(folder)))


if __name__ == "__main__":
    main()
