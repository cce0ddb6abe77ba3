"""JWT issue and verification (HS256, ``sub`` = user id) and the current-user lookup."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import jwt
from starlette.requests import HTTPConnection

from domain.errors import UnauthorizedError
from projections.users import USERS
from queries.views import User, user_view

if TYPE_CHECKING:
    from gateway.bootstrap import Services


def unauthorized(detail: str) -> UnauthorizedError:
    return UnauthorizedError(detail)


def issue_token(user_id: int, secret: str, minutes: int) -> str:
    now = int(time.time())
    claims = {"sub": str(user_id), "iat": now, "exp": now + minutes * 60}
    return jwt.encode(claims, secret, algorithm="HS256")


def user_id_from_token(token: str, secret: str) -> int:
    """The token's user id; raises UnauthorizedError for any bad, expired or foreign token."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["sub", "exp"]}
        )
        sub = claims["sub"]
        if not isinstance(sub, str) or not sub.isdigit() or len(sub) > 16:
            raise UnauthorizedError("Could not validate credentials")
        return int(sub)
    except jwt.ExpiredSignatureError:
        raise UnauthorizedError("Token expired") from None
    except (jwt.PyJWTError, UnicodeError, ValueError):
        raise UnauthorizedError("Could not validate credentials") from None


async def user_for_token(token: str, services: Services) -> User:
    user_id = user_id_from_token(token, services.settings.jwt_secret)
    doc = await services.read.get(USERS, str(user_id))
    if doc is None or not doc["is_active"]:
        raise UnauthorizedError("Could not validate credentials")
    return user_view(doc)


async def user_from_header(conn: HTTPConnection, services: Services) -> User | None:
    header = conn.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("Could not validate credentials")
    return await user_for_token(token.strip(), services)
