"""domain/notification_templates.py: placeholders, rendering, validation, name claims (pure)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import notification_templates as t
from domain.errors import InvalidError, NotFoundError


def test_templates_render_placeholders_only() -> None:
    text = "Hi {name}, {count} new {{literal}} {not a var} {ok}"
    assert t.variables_of(text) == ["name", "count", "ok"]
    out = t.render(text, {"name": "Ann", "count": 2, "ok": True, "extra": "ignored"})
    assert out == "Hi Ann, 2 new {literal} {not a var} true"
    with pytest.raises(InvalidError, match="count, ok"):
        t.render(text, {"name": "Ann"})
    assert t.render("{a}{a}", {"a": None}) == ""


FIELDS = t.TemplateFields(name="Welcome", title_template="Hi {name}", content_template="{body}")


def template(*events: t.TemplateEvent) -> t.Template:
    state = t.Template()
    for event in events:
        state = t.evolve(state, event)
    return state


def test_streams() -> None:
    assert t.template_stream(3) == "notiftemplate-3"
    assert t.name_stream("  Welcome ") == "notiftemplatename-welcome"


def test_a_template_lives_from_creation_to_deletion() -> None:
    assert not t.Template().exists
    state = template(t.TemplateCreated(template_id=3, fields=FIELDS))
    assert state.exists and t.require(state) == FIELDS and state.template_id == 3
    renamed = msgspec.structs.replace(FIELDS, name="Hello")
    state = t.evolve(state, t.TemplateUpdated(template_id=3, fields=renamed))
    assert t.require(state) == renamed
    state = t.evolve(state, t.TemplateDeleted(template_id=3))
    assert not state.exists
    with pytest.raises(NotFoundError, match="Template not found"):
        t.require(state)
    with pytest.raises(NotFoundError, match="Template not found"):
        t.require(t.Template())


def test_other_events_leave_a_template_alone() -> None:
    state = template(t.TemplateCreated(template_id=3, fields=FIELDS))
    assert t.evolve(state, t.TemplateNameClaimed(name="x", template_id=3)) is state


def test_validation_trims_the_name() -> None:
    checked = t.validate(msgspec.structs.replace(FIELDS, name="  Welcome  "))
    assert checked == FIELDS
    shortest = msgspec.structs.replace(FIELDS, name=" a ", title_template="t")
    assert t.validate(shortest).name == "a"
    longest = msgspec.structs.replace(
        FIELDS, name="n" * 100, title_template="t" * 5000, content_template="c" * 5000
    )
    assert t.validate(longest) == longest
    assert t.validate(msgspec.structs.replace(FIELDS, content_template="")).content_template == ""


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"name": ""}, "name must be 1-100 characters"),
        ({"name": "   "}, "name must be 1-100 characters"),
        ({"title_template": ""}, "title_template must be 1-5000 characters"),
        ({"title_template": " \n"}, "title_template must be 1-5000 characters"),
    ],
)
def test_templates_refused(changes: dict[str, object], detail: str) -> None:
    with pytest.raises(InvalidError, match=detail):
        t.validate(msgspec.structs.replace(FIELDS, **changes))


def test_a_name_claim_holds_while_its_template_keeps_the_name() -> None:
    claim = t.TemplateNameClaimed(name="welcome", template_id=3)
    assert not t.claim_holds(claim, t.Template())  # the claimer never created it
    state = template(t.TemplateCreated(template_id=3, fields=FIELDS))
    assert t.claim_holds(claim, state)  # names compare without case
    renamed = t.TemplateUpdated(template_id=3, fields=msgspec.structs.replace(FIELDS, name="x"))
    assert not t.claim_holds(claim, t.evolve(state, renamed))
    assert not t.claim_holds(claim, t.evolve(state, t.TemplateDeleted(template_id=3)))


def test_escaped_braces_around_a_placeholder() -> None:
    assert t.variables_of("{{x}}") == []
    assert t.render("{{x}}", {}) == "{x}"
    assert t.variables_of("{{{x}}}") == ["x"]
    assert t.render("{{{x}}}", {"x": 1}) == "{1}"
    assert t.render("{x} {y}", {"x": 1.5, "y": False}) == "1.5 false"
    assert t.render("{x}{9}{ x}", {"x": "a"}) == "a{9}{ x}"


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=40))
def test_text_without_braces_renders_as_itself(text: str) -> None:
    assert t.variables_of(text) == []
    assert t.render(text, {}) == text


@given(st.dictionaries(st.text("ab_Z", min_size=1, max_size=6), st.text(max_size=5)))
def test_each_placeholder_becomes_its_value(values: dict[str, str]) -> None:
    text = "|".join(f"{{{name}}}" for name in values)
    assert t.variables_of(text) == list(values)
    assert t.render(text, values) == "|".join(values.values())
