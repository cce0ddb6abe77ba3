"""The first superuser, configured on every process of a split deployment started at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.app import Process
from tests.conftest import make_settings


async def test_many_processes_bootstrap_one_superuser(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "data", first_superuser="root", first_superuser_password="root-secret-1"
    )
    # The projector's process and five command/query processes, all starting together.
    everyone = [Process(settings)] + [Process(settings, inline_projector=False) for _ in range(5)]
    try:
        await asyncio.gather(*(s.start() for s in everyone))
        owner, _ = await everyone[1].commands.users.owner_of("root")
        assert owner is not None
        user = await everyone[2].commands.users.get(owner)
        assert user.is_superuser
        claims = await everyone[0].commands.events.read("standardid-root")
        assert {c.decode().user_id for c in claims} == {owner}  # type: ignore[attr-defined]
    finally:
        await asyncio.gather(*(s.stop() for s in everyone), return_exceptions=True)
