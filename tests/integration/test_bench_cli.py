"""`im bench`: the table, the JSON record and the busy-machine refusal, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def im_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "bench", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_quick_run_prints_the_table_and_writes_a_record(tmp_path: Path) -> None:
    result = im_bench("--quick", "--force", "--out", str(tmp_path), "event_store")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = [c.strip() for c in lines[0].split("|")]
    assert header == ["figure", "target", "measured", "ceiling", "ratio"]
    row = next(line for line in lines if line.startswith("log appends"))
    assert "raw SQLite batched inserts" in row
    records = list(tmp_path.glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["cores"] >= 1
    assert record["memory_bytes"] > 0
    assert record["python"] == ".".join(map(str, sys.version_info[:3]))
    assert len(record["commit"]) == 40
    assert len(record["load_average"]) == 3
    assert record["quick"] is True
    [figure] = record["figures"]
    assert figure["name"] == "event_store"
    assert figure["measured"] > 0
    assert figure["ceiling"] > 0
    assert figure["ratio"] == figure["measured"] / figure["ceiling"]
    assert figure["result"]["events"] == 20_000
    assert figure["result"]["client_cpu_s"] > 0
    assert figure["ceiling_result"]["client_cpu_s"] > 0
    assert str(records[0]) in result.stdout


def test_refuses_a_busy_machine_unless_forced(tmp_path: Path) -> None:
    result = im_bench("--quick", "--max-load", "-1", "--out", str(tmp_path), "event_store")
    assert result.returncode == 3
    assert "machine is busy" in result.stderr
    assert "--force" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_unknown_benchmark_names_the_known_ones(tmp_path: Path) -> None:
    result = im_bench("--out", str(tmp_path), "--force", "nope")
    assert result.returncode == 2
    assert "unknown benchmark nope" in result.stderr
    assert "event_store" in result.stderr
