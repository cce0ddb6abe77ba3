"""The users read model: profile documents searchable by name and standard_id."""

from __future__ import annotations

from domain import users as u
from domain.events import Event
from domain.store import RecordedEvent
from projections.store import Collection, Index, Op, Patch, Put

USERS = "users"


def _search_text(standard_id: str, name: str) -> str:
    return f"{standard_id}\n{name}"


class UsersProjection:
    name = "users"
    collections: tuple[Collection, ...] = (
        Collection(
            USERS,
            indexes=(Index(("standard_id_lower",), unique=True),),
            text_field="search_text",
        ),
    )

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]:
        match event:
            case u.UserRegistered():
                doc = {
                    "id": event.user_id,
                    "standard_id": event.standard_id,
                    "standard_id_lower": event.standard_id.lower(),
                    "name": event.name,
                    "is_active": event.is_active,
                    "is_superuser": event.is_superuser,
                    "created_at": event.at,
                    "platform_id": event.platform_id,
                    "search_text": _search_text(event.standard_id, event.name),
                }
                return [Put(USERS, str(event.user_id), doc)]
            case u.UserRenamed():
                change = {
                    "name": event.name,
                    "search_text": _search_text(event.standard_id, event.name),
                }
                return [Patch(USERS, str(event.user_id), set=change, upsert=False)]
            case u.UserActivationChanged():
                return [
                    Patch(
                        USERS, str(event.user_id), set={"is_active": event.is_active}, upsert=False
                    )
                ]
            case u.UserSuperuserChanged():
                return [
                    Patch(
                        USERS,
                        str(event.user_id),
                        set={"is_superuser": event.is_superuser},
                        upsert=False,
                    )
                ]
        return []
