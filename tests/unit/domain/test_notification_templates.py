"""domain/notification_templates.py: placeholders, rendering, validation, name claims (pure)."""

from __future__ import annotations

import pytest

from domain import notification_templates as t
from domain.errors import InvalidError


def test_templates_render_placeholders_only() -> None:
    text = "Hi {name}, {count} new {{literal}} {not a var} {ok}"
    assert t.variables_of(text) == ["name", "count", "ok"]
    out = t.render(text, {"name": "Ann", "count": 2, "ok": True, "extra": "ignored"})
    assert out == "Hi Ann, 2 new {literal} {not a var} true"
    with pytest.raises(InvalidError, match="count, ok"):
        t.render(text, {"name": "Ann"})
    assert t.render("{a}{a}", {"a": None}) == ""
