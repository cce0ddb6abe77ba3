"""The end-to-end chat suite again on ``IM_EVENT_STORE=kurrentdb``: the production adapter over
the unkind fake server (interleaved appends, a small id cache, every few appends answered only
after a time-out, subscriptions dropped and sent back to catch-up, positions around 10^12).
The same tests, collected here with a ``client`` (and the notification tests' ``env``) on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from commands.sending import MAX_APPEND_BYTES
from gateway.app import create_app
from tests.conftest import make_settings
from tests.contract.fake_kurrentdb import FakeKurrentDB
from tests.e2e.notify_helpers import Headers, admin_client
from tests.e2e.test_chat_authz import test_matrix  # noqa: F401
from tests.e2e.test_conversations import (  # noqa: F401  (collected again on KurrentDB)
    test_add_and_remove_members,
    test_clear_history_for_caller_only,
    test_dissolve_group,
    test_group_creation_and_detail,
    test_group_validation,
    test_hide_single_chat_until_new_message,
    test_list_is_newest_activity_first_with_unread,
    test_mute_nickname_and_expiry,
    test_roles_and_ownership_transfer,
    test_single_chat_bad_targets,
    test_single_chat_created_at_once_by_both,
    test_single_chat_is_one_per_pair,
    test_update_settings_permissions,
)
from tests.e2e.test_file_messages import (  # noqa: F401
    test_membership_grants_and_removal_revokes,
)
from tests.e2e.test_groups import (  # noqa: F401
    test_group_members_routes,
    test_invite_codes_and_joining,
    test_public_group_search,
    test_stats,
)
from tests.e2e.test_messages import (  # noqa: F401
    test_edit_rules,
    test_file_messages,
    test_history_cursors,
    test_idempotent_send,
    test_mark_read_and_unread_counts,
    test_read_receipts,
    test_recall_rules,
    test_reply_and_location,
    test_search,
    test_send_text_shape,
    test_send_validation,
)
from tests.e2e.test_notifications import (  # noqa: F401
    test_group_invites_and_mentions_notify,
    test_send_to_many_reports_each_recipient,
    test_status_changes_delete_and_batch_actions,
    test_superuser_creates_and_only_the_owner_sees,
)
from tests.helpers import API, new_user

URL = "kurrentdb://fake:2113?tls=false"


def unkind(seed: int = 0) -> FakeKurrentDB:
    return FakeKurrentDB(
        id_cache=32,
        interleave=True,
        seed=seed,
        max_append_bytes=1024 * 1024,  # the server's default
        time_out_every=5,
        drop_subscription_after=10,
        live_buffer=2,
        catchup_page=4,
        first_position=10**12,
    )


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKurrentDB]:
    """Every ``KurrentDbEventStore`` the app opens talks to this fake server."""
    fake = unkind()
    monkeypatch.setattr(
        "commands.event_store.kurrentdb.AsyncKurrentDBClient", lambda uri, **_: fake.client()
    )
    yield fake
    assert fake.appends > 0  # the app really ran on it...
    assert fake.timeouts == fake.appends // 5  # ...and came through the time-outs


@pytest.fixture
async def client(tmp_path: Path, server: FakeKurrentDB) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(tmp_path / "data", event_store="kurrentdb", kurrentdb_url=URL)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kurrentdb") as c:
            yield c


@pytest.fixture
async def env(
    tmp_path: Path, server: FakeKurrentDB
) -> AsyncIterator[tuple[httpx.AsyncClient, Headers]]:
    async with admin_client(tmp_path / "data", event_store="kurrentdb", kurrentdb_url=URL) as pair:
        yield pair


async def test_a_burst_larger_than_the_servers_append_limit_is_split(
    client: httpx.AsyncClient, server: FakeKurrentDB
) -> None:
    """300 long messages sent at once to one group: the send path's group commit would make
    appends of several MiB, which the server refuses; they go out in appends under the limit."""
    (_, ha), (b, hb) = await new_user(client), await new_user(client)
    r = await client.post(
        f"{API}/conversations/group", json={"name": "big", "member_ids": [b["id"]]}, headers=ha
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    text = "é" * 4999  # two bytes each in UTF-8

    async def send(i: int, h: dict[str, str]) -> httpx.Response:
        body = {"conversation_id": cid, "content": f"{i}{text}"[:5000]}
        return await client.post(f"{API}/messages/text", json=body, headers=h)

    before = server.appends
    results = await asyncio.gather(*(send(i, (ha, hb)[i % 2]) for i in range(300)))
    assert [r.status_code for r in results] == [201] * 300, {r.text for r in results}
    assert sorted(r.json()["seq"] for r in results)[-1] >= 300
    assert server.appends - before < 300  # still batched, just not beyond the limit
    # The group commit filled appends up to the send path's cap (plus the hash chain's few
    # bytes of metadata per event), never past the server's limit.
    assert server.max_append_bytes is not None
    assert MAX_APPEND_BYTES // 2 < server.largest_append <= server.max_append_bytes
