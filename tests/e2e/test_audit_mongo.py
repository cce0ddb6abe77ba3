"""The ``/audit`` end-to-end tests again with ``IM_READ_STORE=mongo`` (SecantusDB standing in
for MongoDB): the same tests, each app they open built on the Mongo read store."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from tests.e2e import test_audit
from tests.e2e.audit_helpers import AuditWorld, audit_world
from tests.e2e.test_audit import (  # noqa: F401  (collected again on Mongo)
    test_audit_input_errors,
    test_log_routes_and_every_read_is_recorded,
    test_one_edited_byte_is_found,
    test_only_granted_auditors_read_the_log,
)


@pytest.fixture(autouse=True)
def _on_mongo(monkeypatch: pytest.MonkeyPatch, secantus_db: tuple[str, str]) -> None:
    url, db = secantus_db

    def world(data_dir: Path, **overrides: object) -> AbstractAsyncContextManager[AuditWorld]:
        return audit_world(data_dir, read_store="mongo", mongo_url=url, mongo_db=db, **overrides)

    monkeypatch.setattr(test_audit, "audit_world", world)
