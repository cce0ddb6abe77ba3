"""No test in the suite can pass without checking something (tests/vacuous.py)."""

from __future__ import annotations

from pathlib import Path

from tests.vacuous import vacuous_tests

TESTS = Path(__file__).parent.parent


def test_every_test_asserts_something() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert len(files) > 50
    assert vacuous_tests(files) == []


def test_the_check_finds_a_test_that_checks_nothing(tmp_path: Path) -> None:
    helper = tmp_path / "helpers.py"
    helper.write_text(
        "def check(x):\n    assert x\n\n"
        "def indirect(x):\n    check(x)\n\n"
        "def quiet(x):\n    return x\n"
    )
    case = tmp_path / "test_case.py"
    case.write_text(
        "import pytest\n\n"
        "def test_nothing():\n    quiet(1)\n\n"
        "async def test_swallowed():\n    try:\n        quiet(1)\n    except Exception:\n"
        "        pass\n\n"
        "def test_asserts():\n    assert quiet(1)\n\n"
        "def test_raises():\n    with pytest.raises(ValueError):\n        quiet(1)\n\n"
        "def test_helper():\n    indirect(1)\n\n"
        "def test_nested():\n    def body():\n        check(1)\n    body()\n\n"
        "def not_a_test():\n    quiet(1)\n"
    )
    found = vacuous_tests([helper, case])
    assert [f.rsplit(" ", 1)[1] for f in found] == ["test_nothing", "test_swallowed"]
