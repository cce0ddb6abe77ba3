"""Shared fixtures: settings in a temporary folder, an in-process app, an HTTP client.

Hypothesis profiles (``HYPOTHESIS_PROFILE``; ``./im test`` uses ``ci``, a plain ``pytest`` run
``dev``):

- ``ci``: derandomised (the same examples on every run, so a landing is reproducible), 100
  examples unless a test says otherwise, no example database;
- ``dev``: random, with the example database in ``.hypothesis/`` (ignored by git), so a failure
  found once is tried first on every later run until it is fixed.

Both print a failing example's ``@reproduce_failure`` blob. A ``dev`` run draws one seed for the
whole session and prints it in the header and, when something failed, in the summary: replay
the run with ``pytest --hypothesis-seed=N``.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase
from starlette.applications import Starlette

from bench.harness import make_settings as make_settings
from gateway.app import create_app
from gateway.settings import Settings
from tests.helpers import forwarding_client
from tests.mongo import secantus_db, secantus_url  # noqa: F401  (shared SecantusDB fixtures)

_EXAMPLES = Path(__file__).resolve().parent.parent / ".hypothesis" / "examples"
# No per-example deadline and no "too slow" health check: a test asserts behaviour, bench/
# measures speed, and both timing checks fail on a busy machine (an id-allocation property once
# took 297 ms against the default 200 ms deadline while another process loaded the cores).
hypothesis_settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=100,
    database=None,
    print_blob=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "dev",
    database=DirectoryBasedExampleDatabase(str(_EXAMPLES)),
    print_blob=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
_SEED: list[int] = []


def pytest_configure(config: pytest.Config) -> None:
    from hypothesis import core

    if (
        config.getoption("--hypothesis-seed", None) is None
        and not hypothesis_settings().derandomize
    ):
        _SEED.append(random.randrange(2**32))
        core.global_force_seed = _SEED[0]  # type: ignore[assignment]  # what --hypothesis-seed sets


def pytest_report_header(config: pytest.Config) -> str | None:
    if _SEED:
        return f"hypothesis seed {_SEED[0]} (replay: pytest --hypothesis-seed={_SEED[0]})"
    return None


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _SEED and exitstatus != 0:
        terminalreporter.write_line(
            f"hypothesis seed of this run: {_SEED[0]} (replay: pytest --hypothesis-seed={_SEED[0]})"
        )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


# Set by tests/integration/test_front_proxy.py: the e2e flows run through the front proxy of a
# split deployment instead of an in-process app (tests that need the app itself are skipped).
FRONT_URL = os.environ.get("IM_TEST_FRONT_URL")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette | None]:
    if FRONT_URL:  # the client goes through the front proxy; no app in this process
        yield None
        return
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette | None) -> AsyncIterator[httpx.AsyncClient]:
    if app is None:
        assert FRONT_URL
        async with forwarding_client(FRONT_URL) as c:
            yield c
        return
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Through the front proxy, only tests that need nothing but ``client`` run."""
    if not FRONT_URL:
        return
    skip = pytest.mark.skip(reason="needs the in-process app or its own server (front-proxy run)")
    for item in items:
        own = set(getattr(getattr(item, "_fixtureinfo", None), "argnames", ()))
        if own & {"app", "settings", "tmp_path", "services"}:
            item.add_marker(skip)
