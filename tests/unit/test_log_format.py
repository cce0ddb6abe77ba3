"""Log lines written while a request is served name its X-Request-ID, in both formats."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from domain import tracing
from gateway import logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure() rewires the process's logging: put it back for the other tests."""
    root, im = logging.getLogger(), logging.getLogger("im")
    handlers, level, im_level = list(root.handlers), root.level, im.level
    writer = logs._writer[0]
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    im.setLevel(im_level)
    logs._writer[0] = writer


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_records_inside_a_request_carry_its_id(
    fmt: str, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    logs.configure(fmt, "info")
    token = tracing.begin(tracing.Trace("req-9"))
    try:
        logging.getLogger("im.test").warning("inside %d", 1)
    finally:
        tracing.end(token)
    logging.getLogger("im.test").warning("outside")
    inside, outside = out.getvalue().splitlines()
    if fmt == "json":
        assert json.loads(inside)["request_id"] == "req-9"
        assert json.loads(inside)["msg"] == "inside 1"
        assert "request_id" not in json.loads(outside)
    else:
        assert inside.endswith("WARNING im.test inside 1 request_id=req-9")
        assert outside.endswith("WARNING im.test outside")
