"""domain/consistency.py: the position a request depends on, per request (context)."""

from __future__ import annotations

import contextvars

from domain import consistency


def test_a_request_depends_on_nothing_until_it_says_so() -> None:
    assert contextvars.Context().run(consistency.required) == 0


def test_the_required_position_is_what_the_request_set_last() -> None:
    def request() -> list[int]:
        seen = [consistency.required()]
        consistency.require(42)
        seen.append(consistency.required())
        consistency.require(7)
        seen.append(consistency.required())
        return seen

    assert contextvars.Context().run(request) == [0, 42, 7]


def test_requests_do_not_see_each_others_position() -> None:
    first, second = contextvars.Context(), contextvars.Context()
    first.run(consistency.require, 99)
    assert second.run(consistency.required) == 0
    assert first.run(consistency.required) == 99
