"""Finds test functions that cannot fail: no ``assert``, no ``pytest.raises``/``pytest.fail``,
no ``raise AssertionError`` and no call to a helper that does one of these.

Helpers are found by name across the whole ``tests`` tree, to a fixed point: a function (or
method) that asserts, or calls a function that does, is an asserting helper. Nested functions
count as part of the function that defines them (hypothesis bodies, callbacks).

``python -m tests.vacuous [paths]`` prints the offenders; the suite runs it over ``tests/``
(tests/unit/test_vacuous.py), so ``./im test`` fails on a new one.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

_RAISING = {"raises", "fail", "warns", "deprecated_call"}  # pytest.<name>(...)
Func = ast.FunctionDef | ast.AsyncFunctionDef


def _called_names(node: ast.AST) -> Iterator[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            if isinstance(f, ast.Name):
                yield f.id
            elif isinstance(f, ast.Attribute):
                yield f.attr


def _asserts_directly(fn: ast.AST) -> bool:
    for sub in ast.walk(fn):
        if isinstance(sub, ast.Assert):
            return True
        if isinstance(sub, ast.Raise) and sub.exc is not None:
            exc = sub.exc.func if isinstance(sub.exc, ast.Call) else sub.exc
            if isinstance(exc, ast.Name) and exc.id in ("AssertionError", "Failed"):
                return True
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and sub.func.attr in _RAISING
            and isinstance(sub.func.value, ast.Name)
            and sub.func.value.id == "pytest"
        ):
            return True
    return False


def _functions(tree: ast.AST) -> Iterator[Func]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _is_test(fn: Func, top_level: set[int]) -> bool:
    return fn.name.startswith("test") and id(fn) in top_level


def _top_level(tree: ast.Module) -> set[int]:
    """Module-level functions and methods of module-level classes (what pytest collects)."""
    out: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.add(id(node))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            out.update(
                id(n) for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            )
    return out


def vacuous_tests(files: Iterable[Path]) -> list[str]:
    """``path:line name`` of every collected test function that cannot fail."""
    trees = {p: ast.parse(p.read_text(), str(p)) for p in files}
    funcs = [(p, fn) for p, t in trees.items() for fn in _functions(t)]
    asserting: set[str] = {fn.name for _, fn in funcs if _asserts_directly(fn)}
    calls = {id(fn): set(_called_names(fn)) for _, fn in funcs}
    changed = True
    while changed:  # a helper calling an asserting helper asserts too
        changed = False
        for _, fn in funcs:
            if fn.name not in asserting and calls[id(fn)] & asserting:
                asserting.add(fn.name)
                changed = True
    out = []
    for p, tree in trees.items():
        top = _top_level(tree)
        for fn in _functions(tree):
            if not _is_test(fn, top) or not p.name.startswith("test_"):
                continue
            if _asserts_directly(fn) or calls[id(fn)] & asserting:
                continue
            out.append(f"{p}:{fn.lineno} {fn.name}")
    return out


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path(__file__).parent]
    files = sorted(f for r in roots for f in ([r] if r.is_file() else r.rglob("*.py")))
    found = vacuous_tests(files)
    for line in found:
        print(f"{line}: a test with no assertion, pytest.raises or asserting helper")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
