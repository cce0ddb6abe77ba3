"""The chat's end-to-end tests again with ``IM_READ_STORE=mongo`` (SecantusDB standing in for
MongoDB): the same tests, collected here with a ``client`` on the Mongo read store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from tests.conftest import make_settings
from tests.e2e.test_conversations import (  # noqa: F401  (collected again on Mongo)
    test_add_and_remove_members,
    test_clear_history_for_caller_only,
    test_dissolve_group,
    test_hide_single_chat_until_new_message,
    test_list_is_newest_activity_first_with_unread,
    test_roles_and_ownership_transfer,
    test_single_chat_created_at_once_by_both,
)
from tests.e2e.test_groups import (  # noqa: F401
    test_invite_codes_and_joining,
    test_public_group_search,
    test_stats,
)
from tests.e2e.test_messages import (  # noqa: F401
    test_file_messages,
    test_history_cursors,
    test_idempotent_send,
    test_mark_read_and_unread_counts,
    test_read_receipts,
    test_recall_rules,
    test_search,
)


@pytest.fixture
async def client(tmp_path: Path, secantus_db: tuple[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    url, db = secantus_db
    settings = make_settings(tmp_path / "data", read_store="mongo", mongo_url=url, mongo_db=db)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mongo") as c:
            yield c
