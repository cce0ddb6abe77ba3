"""A group and a single chat driven through HTTP by random steps, checked against a plain-Python
model after every step: membership, roles, permissions (status codes), seqs, history, unread
counts, receipts, visibility. Steps also rebuild the read models from the events and drop the
command side's in-memory state, after which everything must still agree."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from gateway.app import create_app
from tests.conftest import make_settings
from tests.e2e.chat_model import Conv
from tests.helpers import API, new_user

N_USERS = 5
user_index = st.integers(0, N_USERS - 1)


class Harness:
    """One app for the whole run, on its own event loop (hypothesis rules are synchronous)."""

    def __init__(self, data: Path, **settings: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = create_app(make_settings(data, **settings))
        self._life = self.app.router.lifespan_context(self.app)
        self.run(self._life.__aenter__())
        transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://model")

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self._life.__aexit__(None, None, None))
        self.loop.close()

    async def rebuild(self) -> None:
        process = self.app.state.process
        queries = process.queries
        await queries.projector_runtime.stop()
        await queries.projector.reset()
        await queries.projector_runtime.start()
        assert await queries.wait_for(await process.commands.events.head(), 30)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Any:
    h = Harness(tmp_path_factory.mktemp("stateful") / "data")
    yield h
    h.close()


class ChatMachine(RuleBasedStateMachine):
    harness: Harness

    def __init__(self) -> None:
        super().__init__()
        self.h = self.harness
        self.ids: list[int] = []
        self.headers: list[dict[str, str]] = []
        self.group = Conv("group")
        self.single = Conv("single")
        self.gid = self.sid = 0
        self.message_ids: dict[tuple[str, int], int] = {}  # (conv, seq) -> message id

    def call(self, method: str, path: str, actor: int, **kw: Any) -> httpx.Response:
        response: httpx.Response = self.h.run(
            self.h.client.request(method, API + path, headers=self.headers[actor], **kw)
        )
        return response

    @initialize(members=st.sets(st.integers(1, N_USERS - 1), min_size=1))
    def setup(self, members: set[int]) -> None:
        for _ in range(N_USERS):
            user, headers = self.h.run(new_user(self.h.client))
            self.ids.append(user["id"])
            self.headers.append(headers)
        body = {"name": "model", "member_ids": [self.ids[i] for i in sorted(members)]}
        r = self.call("POST", "/conversations/group", 0, json=body)
        assert r.status_code == 201
        self.gid = r.json()["id"]
        self.group.members[0] = "owner"
        for i in [0, *sorted(members)]:
            self.group.join(i, "owner" if i == 0 else "member")
        self._posted("g", self.group.post(0, "system").seq, r.json()["last_message"]["id"])
        r = self.call("POST", "/conversations/single", 0, json={"target_user_id": self.ids[1]})
        assert r.status_code == 201
        self.sid = r.json()["id"]
        self.single.join(0)
        self.single.join(1)

    def _posted(self, conv: str, seq: int, message_id: int) -> None:
        self.message_ids[(conv, seq)] = message_id

    def _expect(self, r: httpx.Response, status: int) -> None:
        assert r.status_code == status, (r.status_code, status, r.text)

    def _system_ids(self, before: int) -> None:
        """Learn the ids of system messages the server just wrote into the group."""
        if self.group.last_seq > before:
            owner = next(iter(self.group.members))
            r = self.call(
                "GET", f"/messages/conversation/{self.gid}", owner, params={"after_seq": before}
            )
            for m in r.json():
                self._posted("g", m["seq"], m["id"])

    # -- rules ----------------------------------------------------------------------------------
    @rule(actor=user_index, who=st.lists(user_index, min_size=1, max_size=3))
    def add(self, actor: int, who: list[int]) -> None:
        before = self.group.last_seq
        expected = self.group.add(actor, who)
        body = {"user_ids": [self.ids[i] for i in who]}
        self._expect(self.call("POST", f"/conversations/{self.gid}/members", actor, json=body),
                     expected)  # fmt: skip
        self._system_ids(before)

    @rule(actor=user_index, other=user_index)
    def remove(self, actor: int, other: int) -> None:
        before = self.group.last_seq
        expected = self.group.remove(actor, other)
        path = f"/groups/{self.gid}/members/{self.ids[other]}"
        self._expect(self.call("DELETE", path, actor), expected)
        self._system_ids(before)

    @rule(actor=user_index, other=user_index, role=st.sampled_from(["owner", "admin", "member"]))
    def set_role(self, actor: int, other: int, role: str) -> None:
        before = self.group.last_seq
        expected = self.group.set_role(actor, other, role)
        path = f"/conversations/{self.gid}/members/{self.ids[other]}"
        self._expect(self.call("PUT", path, actor, json={"role": role}), expected)
        self._system_ids(before)

    @rule(actor=user_index, other=user_index, muted=st.booleans())
    def mute(self, actor: int, other: int, muted: bool) -> None:
        expected = self.group.set_muted(actor, other, muted)
        path = f"/conversations/{self.gid}/members/{self.ids[other]}"
        body = {"status": "muted" if muted else "active"}
        self._expect(self.call("PUT", path, actor, json=body), expected)

    @rule(actor=user_index, in_group=st.booleans(), key=st.none() | st.sampled_from(["k1", "k2"]))
    def send(self, actor: int, in_group: bool, key: str | None) -> None:
        conv, cid, name = (self.group, self.gid, "g") if in_group else (self.single, self.sid, "s")
        body: dict[str, Any] = {"conversation_id": cid, "content": f"from {actor}"}
        if key is not None:
            body["client_msg_id"] = key
        r = self.call("POST", "/messages/text", actor, json=body)
        if key is not None and (actor, key) in conv.keys:  # a retry: the original comes back
            self._expect(r, 200)
            assert r.json()["seq"] == conv.keys[(actor, key)]
            return
        expected = conv.send(actor)
        self._expect(r, expected)
        if expected == 201:
            assert r.json()["seq"] == conv.last_seq
            self._posted(name, conv.last_seq, r.json()["id"])
            if key is not None:
                conv.keys[(actor, key)] = conv.last_seq

    @rule(actor=user_index, pick=st.integers(0, 10_000))
    def edit(self, actor: int, pick: int) -> None:
        msgs = self.group.messages
        msg = msgs[pick % len(msgs)]
        expected = self.group.edit(actor, msg)
        path = f"/messages/{self.message_ids[('g', msg.seq)]}"
        self._expect(self.call("PUT", path, actor, json={"content": "edited"}), expected)

    @rule(actor=user_index, pick=st.integers(0, 10_000))
    def recall(self, actor: int, pick: int) -> None:
        msgs = self.group.messages
        msg = msgs[pick % len(msgs)]
        expected = self.group.recall(actor, msg)
        path = f"/messages/{self.message_ids[('g', msg.seq)]}/recall"
        self._expect(self.call("POST", path, actor), expected)

    @rule(actor=user_index, seq=st.none() | st.integers(0, 40), in_group=st.booleans())
    def mark_read(self, actor: int, seq: int | None, in_group: bool) -> None:
        conv, cid = (self.group, self.gid) if in_group else (self.single, self.sid)
        expected = conv.mark_read(actor, seq)
        body = {"conversation_id": cid} if seq is None else {"conversation_id": cid, "seq": seq}
        self._expect(self.call("POST", "/messages/mark-read", actor, json=body), expected)

    @rule(actor=user_index, in_group=st.booleans())
    def clear(self, actor: int, in_group: bool) -> None:
        conv, cid = (self.group, self.gid) if in_group else (self.single, self.sid)
        expected = conv.clear(actor)
        self._expect(self.call("POST", f"/conversations/{cid}/clear", actor), expected)

    @rule(actor=st.integers(0, 1))
    def hide(self, actor: int) -> None:
        expected = self.single.delete(actor)
        self._expect(self.call("DELETE", f"/conversations/{self.sid}", actor), expected)

    @precondition(lambda self: len(self.group.messages) > 12)
    @rule(actor=user_index)
    def dissolve(self, actor: int) -> None:
        expected = self.group.delete(actor)
        self._expect(self.call("DELETE", f"/conversations/{self.gid}", actor), expected)

    @rule()
    def rebuild(self) -> None:
        self.h.run(self.h.rebuild())

    @rule()
    def forget_command_state(self) -> None:
        self.h.app.state.process.commands.chat_cache.forget_idle()

    # -- checks ---------------------------------------------------------------------------------
    @invariant()
    def read_side_agrees(self) -> None:
        if not self.ids:
            return
        for i in range(N_USERS):
            listed = {c["id"]: c for c in self.call("GET", "/conversations/", i).json()}
            for conv, cid in ((self.group, self.gid), (self.single, self.sid)):
                assert (cid in listed) == conv.visible_to(i), (i, cid)
                if cid in listed:
                    assert listed[cid]["unread_count"] == conv.unread(i), (i, cid)
                    assert listed[cid]["last_seq"] == conv.last_seq
                    status = "dissolved" if conv.dissolved else "active"
                    assert listed[cid]["status"] == status
                if i in conv.members:
                    page = self.call("GET", f"/messages/conversation/{cid}", i,
                                     params={"limit": 200}).json()  # fmt: skip
                    assert [(m["seq"], m["status"]) for m in page] == conv.history(i)
        owner = next(iter(self.group.members))
        members = self.call("GET", f"/conversations/{self.gid}/members", owner).json()
        got = {self.ids.index(m["user_id"]): (m["role"], m["status"]) for m in members}
        want = {
            u: (role, "muted" if u in self.group.muted else "active")
            for u, role in self.group.members.items()
        }
        assert got == want
        last = self.group.messages[-1]
        viewers = [u for u in self.group.members if self.group.cleared[u] < last.seq]
        if not viewers:
            return
        path = f"/messages/{self.message_ids[('g', last.seq)]}/read-receipts"
        receipts = self.call("GET", path, viewers[0]).json()
        others = [u for u in self.group.members if u != last.sender]
        readers = {u for u in others if self.group.watermark[u] >= last.seq}
        assert {self.ids.index(x["user_id"]) for x in receipts["receipts"]} == readers
        assert receipts["total"] == len(others)


def _run(harness: Harness, examples: int) -> None:
    ChatMachine.harness = harness
    run_state_machine_as_test(
        ChatMachine,
        settings=settings(
            max_examples=int(os.environ.get("IM_TEST_STATEFUL_EXAMPLES", str(examples))),
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_chat_against_model(harness: Harness) -> None:
    _run(harness, 12)


def test_chat_against_model_on_mongo(tmp_path: Path, secantus_db: tuple[str, str]) -> None:
    url, db = secantus_db
    harness = Harness(tmp_path / "data", read_store="mongo", mongo_url=url, mongo_db=db)
    try:
        _run(harness, 3)
    finally:
        harness.close()
