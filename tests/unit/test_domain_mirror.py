"""Unit tests mirror ``domain/`` module by module: each domain module has its
``tests/unit/domain/test_<module>.py``, and each such file names a domain module."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

EXEMPT: Mapping[str, str] = {}
"""Domain modules deliberately without a test file, each with the reason (none today: even the
ports-only ``blobs`` has its key pattern to test)."""


def mirror_gaps(
    domain: Path, tests: Path, exempt: Mapping[str, str]
) -> tuple[list[str], list[str], list[str]]:
    """(modules without a test file, test files without a module, exemptions that are stale)."""
    modules = {p.stem for p in domain.glob("*.py") if p.stem != "__init__"}
    tested = {p.stem.removeprefix("test_") for p in tests.glob("test_*.py")}
    missing = sorted(modules - tested - exempt.keys())
    orphans = sorted(tested - modules)
    stale = sorted(m for m in exempt if m not in modules or m in tested)
    return missing, orphans, stale


def test_every_domain_module_has_its_test_file() -> None:
    domain, tests = ROOT / "domain", ROOT / "tests" / "unit" / "domain"
    assert len(list(domain.glob("*.py"))) > 20
    missing, orphans, stale = mirror_gaps(domain, tests, EXEMPT)
    assert missing == [], f"add tests/unit/domain/test_<module>.py for {missing}"
    assert orphans == [], f"these test files name no domain module: {orphans}"
    assert stale == [], f"exempted but tested, or gone: {stale}"


def test_the_check_finds_each_kind_of_gap(tmp_path: Path) -> None:
    domain, tests = tmp_path / "domain", tmp_path / "tests"
    domain.mkdir()
    tests.mkdir()
    for name in ("__init__", "users", "files", "blobs", "ports"):
        (domain / f"{name}.py").write_text("")
    for name in ("test_users", "test_gone", "test_ports", "helpers"):
        (tests / f"{name}.py").write_text("")
    exempt = {"blobs": "ports only", "ports": "ports only", "old": "removed"}
    assert mirror_gaps(domain, tests, exempt) == (["files"], ["gone"], ["old", "ports"])
