"""Every read model the projector runs, in one list."""

from __future__ import annotations

from projections.broadcasts import BroadcastsProjection
from projections.conversations import ConversationsProjection
from projections.files import FilesProjection
from projections.messages import MessagesProjection
from projections.notifications import NotificationsProjection
from projections.reports import ReportsProjection
from projections.runtime import Projection
from projections.users import UsersProjection


def all_projections() -> list[Projection]:
    return [
        UsersProjection(),
        FilesProjection(),
        ConversationsProjection(),
        MessagesProjection(),
        NotificationsProjection(),
        BroadcastsProjection(),
        ReportsProjection(),
    ]
