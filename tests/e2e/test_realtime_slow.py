"""A client that never reads its socket while 10,000 messages are pushed: it is cut off (its
bounded queue overflows), and the others still receive every message once.

The scenario is ``bench/realtime_deaf.py``'s (shared with the benchmark); the test prints the
reading member's latency and the server's memory, and asserts the behaviour only: how fast and
how small is measured by the benchmark, not asserted here."""

from __future__ import annotations

from pathlib import Path

from bench.realtime_deaf import MESSAGES, deaf_scenario


async def test_a_deaf_client_is_cut_off_without_slowing_the_others(tmp_path: Path) -> None:
    outcome = await deaf_scenario(tmp_path)
    print("\n" + outcome.summary())
    assert outcome.sent["failures"] == 0
    assert sorted(outcome.order) == list(range(MESSAGES))  # every message, once
    assert outcome.deaf_cut_off
    assert outcome.stats["slow_disconnects"] == 1 and outcome.stats["queued_frames"] == 0
