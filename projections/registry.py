"""Every read model the projector runs, in one list."""

from __future__ import annotations

from projections.conversations import ConversationsProjection
from projections.files import FilesProjection
from projections.messages import MessagesProjection
from projections.runtime import Projection
from projections.users import UsersProjection


def all_projections() -> list[Projection]:
    return [UsersProjection(), FilesProjection(), ConversationsProjection(), MessagesProjection()]
