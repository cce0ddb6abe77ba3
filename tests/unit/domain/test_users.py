"""domain/users.py: the User aggregate's ``evolve``, registration rules and profile updates."""

from __future__ import annotations

import pytest

from domain import users as u
from domain.errors import InvalidError, NotFoundError
from domain.files import FileDeleted

REGISTERED = u.UserRegistered(
    user_id=4, standard_id="Ann_1", name="Ann", password_hash="h1", is_superuser=False, at=10.0
)


def user(*events: u.UserEvent) -> u.User:
    state = u.User()
    for event in (REGISTERED, *events):
        state = u.evolve(state, event)
    return state


def test_registration_makes_the_user() -> None:
    assert not u.User().exists
    state = user()
    assert state == u.User(
        user_id=4,
        standard_id="Ann_1",
        name="Ann",
        password_hash="h1",
        is_active=True,
        is_superuser=False,
        registered_at=10.0,
        is_auditor=False,
    )
    assert state.exists


def test_each_event_changes_its_field() -> None:
    assert user(u.UserRenamed(user_id=4, name="Bea")).name == "Bea"
    assert not user(u.UserActivationChanged(user_id=4, is_active=False)).is_active
    assert user(u.UserPasswordChanged(user_id=4, password_hash="h2")).password_hash == "h2"
    assert user(u.UserSuperuserChanged(user_id=4, is_superuser=True)).is_superuser
    assert user(u.UserAuditorChanged(user_id=4, is_auditor=True)).is_auditor
    revoked = user(
        u.UserAuditorChanged(user_id=4, is_auditor=True),
        u.UserAuditorChanged(user_id=4, is_auditor=False),
    )
    assert not revoked.is_auditor
    assert revoked.name == "Ann" and revoked.password_hash == "h1"


def test_other_events_leave_the_user_alone() -> None:
    state = user()
    assert u.evolve(state, FileDeleted(file_id="f", deleted_by=4)) is state
    assert u.evolve(state, u.StandardIdClaimed(standard_id="x", user_id=4)) is state


def test_streams() -> None:
    assert u.user_stream(4) == "user-4"
    assert u.standard_id_stream("Ann_1") == "standardid-ann_1"


@pytest.mark.parametrize(
    ("standard_id", "name", "password"),
    [
        ("a", "A", "secret"),
        ("A" * 20, "n" * 100, "p" * 128),
        ("under_score_9", "  padded  ", "123456"),
    ],
)
def test_valid_new_users(standard_id: str, name: str, password: str) -> None:
    assert accepts(standard_id, name, password)


def accepts(standard_id: str, name: str, password: str) -> bool:
    try:
        u.validate_new_user(standard_id, name, password)
    except InvalidError:
        return False
    return True


@pytest.mark.parametrize(
    ("standard_id", "name", "password", "detail"),
    [
        ("", "A", "secret", "standard_id"),
        ("a" * 21, "A", "secret", "standard_id"),
        ("with-dash", "A", "secret", "standard_id"),
        ("with space", "A", "secret", "standard_id"),
        ("ünï", "A", "secret", "standard_id"),
        ("ann\n", "A", "secret", "standard_id"),
        ("ann", "", "secret", "name must be 1-100 characters"),
        ("ann", "   ", "secret", "name must be 1-100 characters"),
        ("ann", "n" * 101, "secret", "name must be 1-100 characters"),
        ("ann", " " + "n" * 100, "secret", "name must be 1-100 characters"),
        ("ann", "A", "12345", "password must be 6-128 characters"),
        ("ann", "A", "p" * 129, "password must be 6-128 characters"),
    ],
)
def test_invalid_new_users(standard_id: str, name: str, password: str, detail: str) -> None:
    with pytest.raises(InvalidError, match=detail):
        u.validate_new_user(standard_id, name, password)


def test_a_missing_user_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="User not found"):
        u.require(u.User())
    with pytest.raises(NotFoundError):
        u.decide_update(u.User(), name="x", is_active=None, at=1.0)
    assert u.require(user()) == user()


def test_an_update_writes_only_what_changes() -> None:
    state = user()
    assert u.decide_update(state, name=None, is_active=None, at=1.0) == []
    assert u.decide_update(state, name="Ann", is_active=True, at=1.0) == []
    assert u.decide_update(state, name="Bea", is_active=False, at=2.0) == [
        u.UserRenamed(user_id=4, name="Bea", at=2.0, standard_id="Ann_1"),
        u.UserActivationChanged(user_id=4, is_active=False, at=2.0),
    ]
    inactive = user(u.UserActivationChanged(user_id=4, is_active=False))
    assert u.decide_update(inactive, name=None, is_active=True, at=3.0) == [
        u.UserActivationChanged(user_id=4, is_active=True, at=3.0)
    ]


@pytest.mark.parametrize("name", ["", "   ", "n" * 101])
def test_a_rename_needs_a_valid_name(name: str) -> None:
    with pytest.raises(InvalidError, match="name must be 1-100 characters"):
        u.decide_update(user(), name=name, is_active=None, at=1.0)


def test_a_rename_to_the_longest_name() -> None:
    (renamed,) = u.decide_update(user(), name="n" * 100, is_active=None, at=1.0)
    assert isinstance(renamed, u.UserRenamed) and renamed.name == "n" * 100
