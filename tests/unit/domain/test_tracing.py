"""domain/tracing.py: the trace of a write (actor, correlation, causation) in a ContextVar.

Each test runs its body in a fresh ``contextvars.Context``: no trace, whatever ran before."""

from __future__ import annotations

import contextvars
import re

import pytest

from domain import tracing
from domain.tracing import SYSTEM, Actor, Trace

USER = Actor("user", 7)


def test_outside_a_trace_there_is_none() -> None:
    def outside() -> tuple[Trace | None, str | None]:
        return tracing.current(), tracing.request_id()

    assert contextvars.Context().run(outside) == (None, None)


def test_a_trace_is_current_inside_and_gone_after() -> None:
    def run() -> None:
        trace = Trace("req-1", USER, "cause-1")
        with tracing.traced(trace) as inside:
            assert inside is trace
            assert tracing.current() is trace
            assert tracing.request_id() == "req-1"
        assert tracing.current() is None

    contextvars.Context().run(run)


def test_nested_traces_restore_the_outer_one() -> None:
    def run() -> None:
        outer, inner = Trace("outer"), Trace("inner")
        with tracing.traced(outer):
            with tracing.traced(inner):
                assert tracing.current() is inner
            assert tracing.current() is outer

    contextvars.Context().run(run)


def test_a_trace_is_restored_when_the_block_raises() -> None:
    def run() -> None:
        with pytest.raises(RuntimeError), tracing.traced(Trace("req")):
            raise RuntimeError("boom")
        assert tracing.current() is None

    contextvars.Context().run(run)


def test_begin_and_end_bracket_a_trace() -> None:
    def run() -> None:
        token = tracing.begin(Trace("req-2"))
        assert tracing.request_id() == "req-2"
        tracing.end(token)
        assert tracing.current() is None

    contextvars.Context().run(run)


def test_authentication_names_the_actor_of_the_running_trace() -> None:
    def run() -> None:
        trace = Trace("req-3")
        assert trace.actor is None and trace.causation_id is None
        with tracing.traced(trace):
            tracing.set_actor(USER)
        assert trace.actor == USER

    contextvars.Context().run(run)


def test_naming_an_actor_outside_a_trace_does_nothing() -> None:
    def run() -> Trace | None:
        tracing.set_actor(USER)
        return tracing.current()

    assert contextvars.Context().run(run) is None


def test_a_reaction_keeps_the_correlation_and_is_caused_by_the_event() -> None:
    def run() -> None:
        with tracing.caused_by("event-1", "req-9", SYSTEM) as trace:
            assert tracing.current() is trace
            assert (trace.correlation_id, trace.causation_id, trace.actor) == (
                "req-9",
                "event-1",
                SYSTEM,
            )
        assert tracing.current() is None

    contextvars.Context().run(run)


def test_a_reaction_to_an_uncorrelated_event_correlates_to_that_event() -> None:
    with tracing.caused_by("event-2", None, USER) as trace:
        assert (trace.correlation_id, trace.causation_id, trace.actor) == (
            "event-2",
            "event-2",
            USER,
        )


def test_new_correlation_ids_are_fresh_hex() -> None:
    ids = {tracing.new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_the_system_actor() -> None:
    assert Actor("system", "server") == SYSTEM
