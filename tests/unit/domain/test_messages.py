"""domain/messages.py: content limits, edit and recall decisions, system-message texts (pure)."""

from __future__ import annotations

import pytest

from domain import conversations as c
from domain import membership as m
from domain import messages as msg
from domain.conversation import Conversation, evolve, evolve_all
from domain.errors import ForbiddenError, InvalidError
from domain.users import UserRenamed


def _group(*members: int) -> Conversation:
    created = m.decide_create_group(1, 10, list(members), {"name": "g"}, at=100.0)
    return evolve(Conversation(), created)


def test_edit_and_recall_windows() -> None:
    state = _group(11)
    ref = msg.MessageRef(1, 1, 2, 11, "text", at=100.0)
    assert msg.decide_edit(state, ref, msg.MessageState(), 11, "new", 150.0, 60.0)
    with pytest.raises(InvalidError):
        msg.decide_edit(state, ref, msg.MessageState(), 11, "new", 161.0, 60.0)
    with pytest.raises(ForbiddenError):
        msg.decide_recall(state, ref, msg.MessageState(), 12, 101.0, 60.0)
    assert msg.decide_recall(state, ref, msg.MessageState(), 10, 10_000.0, 60.0)  # the owner
    assert msg.decide_recall(state, ref, msg.MessageState("recalled"), 11, 101.0, 60.0) == []


def test_system_texts() -> None:
    names = {10: "Ann", 11: "Bo"}
    added = c.MemberAdded(conversation_id=1, user_ids=(11,), operator_id=10)
    assert msg.system_text(added, names) == "Ann added Bo"
    left = c.MemberRemoved(conversation_id=1, user_id=11, operator_id=11, is_self_exit=True)
    assert msg.system_text(left, names) == "Bo left the group"
    assert msg.system_text(c.ReadMarked(1, 10, 3), names) is None


OWNER, ADMIN, SENDER, OTHER, OUTSIDER = 10, 11, 12, 13, 99
WINDOW = 60.0
TEXT = msg.MessageRef(5, 1, 3, SENDER, "text", at=100.0)


def roles_group(*events: c.ConversationEvent) -> Conversation:
    created = m.decide_create_group(1, OWNER, [ADMIN, SENDER, OTHER], {"name": "g"}, 1.0)
    promoted = c.MemberRoleChanged(1, ADMIN, "member", "admin", OWNER)
    return evolve_all(Conversation(), [created, promoted, *events])


def single() -> Conversation:
    return evolve(Conversation(), m.decide_create_single(1, SENDER, OTHER, at=1.0))


def test_a_messages_own_stream_says_whether_it_was_edited_or_recalled() -> None:
    state = msg.MessageState()
    assert state.status == "sent"
    sent = c.MessageSent(5, 1, 3, SENDER, "text")
    assert msg.evolve_message(state, sent) is state
    assert msg.evolve_message(state, c.ReadMarked(1, SENDER, 3)) is state
    assert msg.evolve_message(state, UserRenamed(user_id=1, name="x")) is state
    edited = msg.evolve_message(state, c.MessageEdited(5, 1, 3, SENDER, "new"))
    assert edited.status == "edited"
    assert msg.evolve_message(edited, c.MessageRecalled(5, 1, 3, SENDER)).status == "recalled"


def test_a_text_says_something() -> None:
    msg.validate_content("x")
    msg.validate_content(" x\n")
    for blank in ("", " \n\t"):
        with pytest.raises(InvalidError, match="content must not be empty"):
            msg.validate_content(blank)


def test_a_location_reads_as_a_line() -> None:
    assert msg.location_content(31.2304, 121.4737, None) == "[Location] 31.230400, 121.473700"
    assert msg.location_content(-90, 180, "South Pole") == (
        "[Location] South Pole (-90.000000, 180.000000)"
    )
    assert msg.location_content(90, -180, "") == "[Location] 90.000000, -180.000000"


def test_an_edit() -> None:
    (edited,) = msg.decide_edit(
        roles_group(), TEXT, msg.MessageState(), SENDER, "new", 160.0, WINDOW
    )
    assert edited == c.MessageEdited(5, 1, 3, SENDER, "new", at=160.0)  # the window's last moment
    edited_again = msg.MessageState("edited")
    assert msg.decide_edit(roles_group(), TEXT, edited_again, SENDER, "newer", 101.0, WINDOW)


@pytest.mark.parametrize(
    ("state", "ref", "status", "editor", "content", "now", "error", "detail"),
    [
        (roles_group(), TEXT, "sent", OUTSIDER, "x", 101.0, ForbiddenError, "not a member"),
        (roles_group(), TEXT, "sent", OWNER, "x", 101.0, ForbiddenError, "Only the sender"),
        (
            roles_group(c.ConversationDissolved(1, OWNER)),
            TEXT,
            "sent",
            SENDER,
            "x",
            101.0,
            ForbiddenError,
            "dissolved",
        ),
        (
            roles_group(),
            msg.MessageRef(5, 1, 3, SENDER, "image", at=100.0),
            "sent",
            SENDER,
            "x",
            101.0,
            InvalidError,
            "Only text messages can be edited",
        ),
        (roles_group(), TEXT, "recalled", SENDER, "x", 101.0, InvalidError, "recalled message"),
        (roles_group(), TEXT, "sent", SENDER, "x", 160.5, InvalidError, "edit window"),
        (roles_group(), TEXT, "sent", SENDER, "  ", 101.0, InvalidError, "must not be empty"),
    ],
)
def test_edits_refused(
    state: Conversation,
    ref: msg.MessageRef,
    status: str,
    editor: int,
    content: str,
    now: float,
    error: type[Exception],
    detail: str,
) -> None:
    with pytest.raises(error, match=detail):
        msg.decide_edit(state, ref, msg.MessageState(status), editor, content, now, WINDOW)  # type: ignore[arg-type]


def test_a_recall_carries_the_file_it_ends_access_to() -> None:
    ref = msg.MessageRef(5, 1, 3, SENDER, "file", at=100.0, file_id="f" * 32)
    (recalled,) = msg.decide_recall(roles_group(), ref, msg.MessageState(), SENDER, 160.0, WINDOW)
    assert recalled == c.MessageRecalled(5, 1, 3, SENDER, at=160.0, file_id="f" * 32)


@pytest.mark.parametrize("manager", [OWNER, ADMIN])
def test_a_group_manager_recalls_anything_any_time(manager: int) -> None:
    late = 1e9
    assert msg.decide_recall(roles_group(), TEXT, msg.MessageState(), manager, late, WINDOW)


@pytest.mark.parametrize(
    ("state", "ref", "operator", "now", "error", "detail"),
    [
        (roles_group(), TEXT, OUTSIDER, 101.0, ForbiddenError, "not a member"),
        (roles_group(), TEXT, OTHER, 101.0, ForbiddenError, "Only the sender or a group"),
        (single(), TEXT, OTHER, 101.0, ForbiddenError, "Only the sender or a group"),
        (roles_group(), TEXT, SENDER, 160.5, InvalidError, "recall window"),
        (single(), TEXT, SENDER, 160.5, InvalidError, "recall window"),
        (
            roles_group(),
            msg.MessageRef(5, 1, 3, OWNER, "system", at=100.0),
            OWNER,
            101.0,
            InvalidError,
            "System messages cannot be recalled",
        ),
    ],
)
def test_recalls_refused(
    state: Conversation,
    ref: msg.MessageRef,
    operator: int,
    now: float,
    error: type[Exception],
    detail: str,
) -> None:
    with pytest.raises(error, match=detail):
        msg.decide_recall(state, ref, msg.MessageState(), operator, now, WINDOW)


NAMES = {10: "Ann", 11: "Bo", 12: "Cy"}


@pytest.mark.parametrize(
    ("event", "text", "ids"),
    [
        (
            c.ConversationCreated(1, "group", 10, (10, 11), name="Team"),
            "Ann created the group Team",
            [10],
        ),
        (c.ConversationCreated(1, "single", 10, (10, 11)), None, [10]),
        (
            c.MemberAdded(1, (11, 12), 11, invite_code="k"),
            "Bo, Cy joined the group with an invite code",
            [11, 11, 12],
        ),
        (c.MemberAdded(1, (11, 77), 10), "Ann added Bo, user 77", [10, 11, 77]),
        (c.MemberRemoved(1, 11, 10), "Ann removed Bo", [10, 11]),
        (c.MemberRemoved(1, 11, 11, is_self_exit=True), "Bo left the group", [11, 11]),
        (
            c.MemberRoleChanged(1, 11, "member", "owner", 10),
            "Ann transferred ownership to Bo",
            [10, 11],
        ),
        (c.MemberRoleChanged(1, 11, "member", "admin", 10), None, [10, 11]),
        (
            c.ConversationUpdated(1, 10, "New", None, None, 500, True, False, False, ("name",)),
            "Ann renamed the group to New",
            [10],
        ),
        (
            c.ConversationUpdated(1, 10, "g", None, None, 9, True, False, False, ("max_members",)),
            None,
            [10],
        ),
        (c.MemberUpdated(1, 11, 10, nickname="x"), None, []),
        (c.ConversationDissolved(1, 10), None, []),
    ],
)
def test_system_lines_and_the_names_they_need(
    event: c.ConversationEvent, text: str | None, ids: list[int]
) -> None:
    assert msg.system_text(event, NAMES) == text
    assert msg.system_user_ids(event) == ids
