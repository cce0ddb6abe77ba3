"""The users read model: profile documents searchable by name and standard_id."""

from __future__ import annotations

from typing import Any, assert_never

from domain import users as u
from domain.events import Event, type_names
from domain.store import RecordedEvent
from projections.schema import USERS, UserDoc
from projections.store import Collection, Op


def _search_text(standard_id: str, name: str) -> str:
    return f"{standard_id}\n{name}"


class UsersProjection:
    name = "users"
    collections: tuple[Collection[Any], ...] = (USERS,)
    # The only events handle acts on: the projector skips the others without calling it.
    handles = type_names(u.UserEvent)

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]:
        if not isinstance(event, u.UserEvent):
            return []
        match event:
            case u.UserRegistered():
                doc = UserDoc(
                    id=event.user_id,
                    standard_id=event.standard_id,
                    standard_id_lower=event.standard_id.lower(),
                    name=event.name,
                    is_active=event.is_active,
                    is_superuser=event.is_superuser,
                    created_at=event.at,
                    platform_id=event.platform_id,
                    search_text=_search_text(event.standard_id, event.name),
                )
                return [USERS.put(str(event.user_id), doc)]
            case u.UserRenamed():
                change = {
                    "name": event.name,
                    "search_text": _search_text(event.standard_id, event.name),
                }
                return [USERS.patch(str(event.user_id), set=change, upsert=False)]
            case u.UserActivationChanged():
                active = {"is_active": event.is_active}
                return [USERS.patch(str(event.user_id), set=active, upsert=False)]
            case u.UserSuperuserChanged():
                superuser = {"is_superuser": event.is_superuser}
                return [USERS.patch(str(event.user_id), set=superuser, upsert=False)]
            case u.UserAuditorChanged():
                auditor = {"is_auditor": event.is_auditor}
                return [USERS.patch(str(event.user_id), set=auditor, upsert=False)]
            case u.UserPasswordChanged():
                return []
            case _:
                assert_never(event)
