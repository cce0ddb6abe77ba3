"""domain/errors.py: every error a caller can get is a DomainError carrying its detail."""

from __future__ import annotations

import itertools

import pytest

from domain import errors

LEAVES = (
    errors.InvalidError,
    errors.UnauthorizedError,
    errors.ForbiddenError,
    errors.NotFoundError,
    errors.ConflictError,
    errors.TooLargeError,
    errors.ConcurrencyError,
    errors.UnavailableError,
)


@pytest.mark.parametrize("cls", LEAVES, ids=lambda cls: cls.__name__)
def test_an_error_carries_its_detail(cls: type[errors.DomainError]) -> None:
    error = cls("what went wrong")
    assert isinstance(error, errors.DomainError)
    assert error.detail == "what went wrong"
    assert str(error) == "what went wrong"
    with pytest.raises(errors.DomainError, match="what went wrong"):
        raise error


def test_the_kinds_are_distinct() -> None:
    """The gateway maps each class to one status: none may be caught as another."""
    for a, b in itertools.permutations(LEAVES, 2):
        assert not issubclass(a, b), (a, b)


def test_every_error_class_is_listed() -> None:
    declared = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, errors.DomainError)
    }
    assert declared == {errors.DomainError, *LEAVES}
