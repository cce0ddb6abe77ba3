"""``im bench``'s suite: ``--list`` names every figure of the performance issue, each figure's
result makes a record row and a table line next to its ceiling, and what figures share within a
run is made once and released."""

from __future__ import annotations

import contextlib
import string

import pytest

from bench import suite
from bench.figures import Run

# The performance issue's target table, one name per figure (idle sockets: RSS and broadcast).
FIGURES = {
    "event_store",
    "rebuild",
    "catchup",
    "idle_rss",
    "history",
    "cold_start",
    "sends_group",
    "sends_pairs",
    "http_me",
    "push_latency",
    "fanout",
    "idle_sockets",
    "idle_broadcast",
    "conv_list",
    "pages",
}


def test_list_names_every_figure_with_its_target_and_ceiling(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert suite.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in lines} == FIGURES
    for b in suite.BENCHES:
        [line] = [x for x in lines if x.split()[0] == b.name]
        assert b.figure in line
        assert f"target {b.target}" in line
        assert suite.CEILINGS[b.ceiling][0] in line


@pytest.mark.parametrize("bench", suite.BENCHES, ids=lambda b: b.name)
def test_each_figure_makes_a_row_and_a_table_line(bench: suite.Bench) -> None:
    noted = {name for _, name, _, _ in string.Formatter().parse(bench.note) if name}
    result = {bench.key: 4.0, "unit": "things/s", **dict.fromkeys(noted, 1234.0)}
    ceiling = {bench.key: 2.0, "unit": "bare things/s"}
    row = suite.row(bench, result, ceiling, wall_s=1.5)
    assert (row["name"], row["measured"], row["ceiling"]) == (bench.name, 4.0, 2.0)
    assert row["ratio"] == (2.0 if bench.higher_is_better else 0.5)
    assert row["result"] is result
    assert row["ceiling_result"] is ceiling
    expected = {
        "ms": ("4.0 ms", "2.0 ms"),
        "s": ("4.00 s", "2.00 s"),
        "MiB": ("4 MiB", "2 MiB"),
        "things/s": ("4 things/s", "2 bare things/s"),
    }
    measured, bound = expected[row["unit"]]
    head, _, line = suite.table([row]).splitlines()
    cells = [c.strip() for c in line.split(" | ")]
    assert [c.strip() for c in head.split(" | ")] == [
        "figure",
        "target",
        "measured",
        "ceiling",
        "ratio",
    ]
    assert cells[0] == bench.figure
    assert cells[1] == bench.target
    assert cells[2] == measured + (" (" + bench.note.format(**result) + ")" if bench.note else "")
    assert cells[3] == f"{bound} ({suite.CEILINGS[bench.ceiling][0]})"
    assert cells[4] == f"{row['ratio']:.2f}"


def test_what_figures_share_is_made_once_and_released() -> None:
    run = Run(quick=True)
    made: list[str] = []
    closed: list[str] = []

    def make(stack: contextlib.ExitStack) -> str:
        made.append("dir")
        stack.callback(closed.append, "dir")
        return f"dir {len(made)}"

    assert run.once("loaded", make) == "dir 1"
    assert run.once("loaded", make) == "dir 1"
    assert closed == []
    run.release("loaded")
    assert closed == ["dir"]
    assert run.once("loaded", make) == "dir 2"
    run.close()
    assert closed == ["dir", "dir"]


def test_a_failed_make_closes_what_it_entered_and_is_not_kept() -> None:
    run = Run(quick=True)
    closed: list[str] = []

    def failing(stack: contextlib.ExitStack) -> str:
        stack.callback(closed.append, "server")
        raise RuntimeError("server exited early")

    with pytest.raises(RuntimeError, match="exited early"):
        run.once("loaded", failing)
    assert closed == ["server"]
    assert run.once("loaded", lambda stack: "second try") == "second try"
