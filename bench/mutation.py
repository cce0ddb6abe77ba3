"""Mutation testing as a measurement (not a CI gate): how many small breakages of the rules the
tests notice.

A small AST mutator of our own (mutmut and cosmic-ray both want to own the test run and the
tree; this needs neither): each mutant changes one thing in one guard function of the targets
below, in a copy of the repository, and runs only the tests relevant to that module (stopping at
the first failure; a time-out counts as killed). Mutations:

- a comparison flipped (``<``/``<=``, ``>``/``>=``, ``==``/``!=``, ``in``/``not in``,
  ``is``/``is not``); ``and``/``or`` swapped; a ``not`` dropped;
- an ``if`` whose condition is always true, or always false;
- a ``raise`` replaced by ``pass`` (the refusal removed);
- a call statement removed (``check_can_send(...)`` no longer checks);
- an integer constant off by one.

    .venv/bin/python -m bench.mutation                 # every target (tens of minutes)
    .venv/bin/python -m bench.mutation --only sending  # targets whose name contains "sending"
    .venv/bin/python -m bench.mutation --list          # the mutants, without running them
    .venv/bin/python -m bench.mutation --sample 20     # 20 mutants per target (a fixed draw)
    .venv/bin/python -m bench.mutation --only "domain unit: sending"  # one module, unit tests only

It prints each surviving mutant (file, line, the mutated line) and killed/survived per target.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    functions: tuple[str, ...]  # names (a prefix ending in "*" matches many); () = every one
    tests: tuple[str, ...]  # pytest arguments: the tests relevant to this module


TARGETS = [
    Target(
        "domain: conversation rules",
        "domain/conversation.py",
        ("require_*", "check_can_send", "may_invite", "validate_settings", "is_muted"),
        (
            "tests/unit/domain/test_conversation.py",
            "tests/unit/domain/test_membership.py",
            "tests/e2e/test_conversations.py",
            "tests/e2e/test_chat_authz.py",
        ),
    ),
    Target(
        "domain: membership decisions",
        "domain/membership.py",
        ("decide_*", "_role_change"),
        (
            "tests/unit/domain/test_membership.py",
            "tests/e2e/test_conversations.py",
            "tests/e2e/test_groups.py",
            "tests/e2e/test_chat_authz.py",
        ),
    ),
    Target(
        "commands/sending.py",
        "commands/sending.py",
        ("send", "precheck", "_write", "_decide", "_refused", "_fitting", "_flush"),
        (
            "tests/integration/test_chat_races.py",
            "tests/integration/test_send_path.py",
            "tests/e2e/test_messages.py",
            "tests/e2e/test_chat_kurrentdb.py::test_a_burst_larger_than_the_servers_append_limit_is_split",
        ),
    ),
    Target(
        "event store guard: SQLite expected version",
        "commands/event_store/sqlite.py",
        ("_write_one", "_idempotent_replay"),
        ("tests/contract/test_event_store.py", "-k", "sqlite"),
    ),
    Target(
        "event store guard: KurrentDB append",
        "commands/event_store/kurrentdb.py",
        ("append", "_position_of", "_current_version"),
        (
            "tests/contract/test_event_store.py",
            "tests/contract/test_kurrentdb_faults.py",
            "tests/unit/test_kurrentdb_store.py",
            "-k",
            "kurrentdb",
        ),
    ),
    Target(
        "read store guard: SQLite position",
        "projections/read_store/sqlite.py",
        ("_apply",),
        (
            "tests/contract/test_read_store.py",
            "tests/integration/test_projection_redelivery.py",
            "-k",
            "sqlite or redelivery_and_crashes_on_sqlite",
        ),
    ),
    Target(
        "read store guard: MongoDB guard",
        "projections/read_store/mongo.py",
        ("_fold", "_apply_coll", "_check_already_applied"),
        ("tests/contract/test_read_store.py", "-k", "mongo"),
    ),
]

# Every function of each domain module with rules, against its unit tests alone (seconds per
# mutant): what tests/unit/domain/test_<module>.py notices by itself.
_UNIT_TESTED = (
    "audit",
    "broadcasts",
    "cascade",
    "chain",
    "codec",
    "conversation",
    "files",
    "idempotency",
    "ids",
    "legacy_cascade",
    "membership",
    "messages",
    "notification_rules",
    "notification_templates",
    "notifications",
    "reports",
    "sending",
    "users",
)
TARGETS += [
    Target(f"domain unit: {m}", f"domain/{m}.py", (), (f"tests/unit/domain/test_{m}.py",))
    for m in _UNIT_TESTED
]

_FLIP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    target: Target
    index: int  # the n-th mutation site of the file (in walk order)
    line: int
    what: str


def _wanted(fn: str, patterns: tuple[str, ...]) -> bool:
    return not patterns or any(
        fn.startswith(p[:-1]) if p.endswith("*") else fn == p for p in patterns
    )


def _sites(tree: ast.Module, patterns: tuple[str, ...]) -> Iterator[tuple[ast.AST, str, str]]:
    """(node, kind, description) of every mutation site inside the wanted functions."""
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if not _wanted(fn.name, patterns):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Compare):
                for i, op in enumerate(node.ops):
                    if type(op) in _FLIP:
                        yield node, f"cmp{i}", f"{type(op).__name__} -> {_FLIP[type(op)].__name__}"
            elif isinstance(node, ast.BoolOp):
                yield node, "boolop", "and <-> or"
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                yield node, "not", "drop not"
            elif isinstance(node, ast.If):
                yield node, "if-true", "if always true"
                yield node, "if-false", "if always false"
            elif isinstance(node, ast.Raise):
                yield node, "raise", "raise -> pass"
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call | ast.Await):
                yield node, "call", "call statement removed"
            elif (
                isinstance(node, ast.Constant)
                and type(node.value) is int
                and not isinstance(node.value, bool)
            ):
                yield node, "int", f"{node.value} -> {node.value + 1}"


class _Apply(ast.NodeTransformer):
    def __init__(self, site: ast.AST, kind: str) -> None:
        self.site, self.kind = site, kind

    def visit(self, node: ast.AST) -> ast.AST:
        if node is not self.site:
            visited: ast.AST = super().visit(node)
            return visited
        k = self.kind
        if k.startswith("cmp"):
            assert isinstance(node, ast.Compare)
            i = int(k[3:])
            node.ops[i] = _FLIP[type(node.ops[i])]()
        elif k == "boolop":
            assert isinstance(node, ast.BoolOp)
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif k == "not":
            assert isinstance(node, ast.UnaryOp)
            return node.operand
        elif k in ("if-true", "if-false"):
            assert isinstance(node, ast.If)
            node.test = ast.Constant(k == "if-true")
        elif k in ("raise", "call"):
            return ast.Pass()
        elif k == "int":
            assert isinstance(node, ast.Constant) and isinstance(node.value, int)
            node.value = node.value + 1
        return node


def mutants(target: Target) -> list[tuple[Mutant, str]]:
    """Every mutant of the target with the source of its mutated file."""
    source = (ROOT / target.path).read_text()
    tree = ast.parse(source)
    lines = source.splitlines()
    out = []
    for index, (node, kind, what) in enumerate(list(_sites(tree, target.functions))):
        mutated = copy.deepcopy(tree)
        # find the same site in the copy: the index-th site of the same walk
        site, site_kind, _ = list(_sites(mutated, target.functions))[index]
        assert site_kind == kind
        new = ast.fix_missing_locations(_Apply(site, kind).visit(mutated))
        line = getattr(node, "lineno", 0)
        text = lines[line - 1].strip() if line else ""
        out.append((Mutant(target, index, line, f"{what}: {text}"), ast.unparse(new)))
    return out


def _run_tests(copy_root: Path, tests: tuple[str, ...], timeout: float) -> tuple[bool, float]:
    """(tests passed, seconds)."""
    env = {**os.environ, "PYTHONPATH": str(copy_root), "HYPOTHESIS_PROFILE": "ci"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    started = time.monotonic()
    try:
        done = subprocess.run(
            cmd, cwd=copy_root, env=env, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return False, time.monotonic() - started
    return done.returncode == 0, time.monotonic() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the targets whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument(
        "--sample", type=int, help="run this many mutants per target, drawn at random (fixed seed)"
    )
    args = parser.parse_args(argv)
    targets = [t for t in TARGETS if args.only is None or args.only in t.name]
    with tempfile.TemporaryDirectory(prefix="im-mutation-") as folder:
        work = Path(folder) / "repo"
        shutil.copytree(
            ROOT,
            work,
            ignore=shutil.ignore_patterns(".venv", ".git", "data", ".hypothesis", "*_cache"),
        )
        totals = [0, 0]
        for target in targets:
            found = mutants(target)
            total = len(found)
            if args.sample is not None and args.sample < total:
                draw = random.Random(target.path).sample(range(total), args.sample)
                found = [found[i] for i in sorted(draw)]
            print(f"== {target.name} ({target.path}): {len(found)} of {total} mutants", flush=True)
            if args.list:
                for m, _ in found:
                    print(f"   {target.path}:{m.line} {m.what}")
                continue
            ok, baseline = _run_tests(work, target.tests, timeout=1800)
            if not ok:
                print("   the unmutated tests fail; fix that first", flush=True)
                return 1
            original = (work / target.path).read_text()
            killed, survivors = 0, []
            try:
                for m, text in found:
                    (work / target.path).write_text(text)
                    passed, _ = _run_tests(work, target.tests, timeout=max(60, 3 * baseline))
                    if passed:
                        survivors.append(m)
                        print(f"   SURVIVED {target.path}:{m.line} {m.what}", flush=True)
                    else:
                        killed += 1
            finally:
                (work / target.path).write_text(original)
            n = len(found)
            pct = 100 * killed / n if n else 100.0
            print(f"   killed {killed}/{n} ({pct:.0f}%), baseline run {baseline:.0f} s", flush=True)
            totals[0] += killed
            totals[1] += n
        if not args.list and totals[1]:
            k, n = totals
            print(f"== all targets: killed {k}/{n} ({100 * k / n:.0f}%)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
