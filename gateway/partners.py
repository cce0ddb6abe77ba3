"""Partner credentials for ``/cascade``: an API key header or a partner-scoped JWT.

Neither is a user: they open the ``/cascade`` routes only (``auth="partner"``). A partner JWT is
HS256-signed with ``IM_PARTNER_JWT_SECRET`` and carries ``scope: "cascade"``, ``sub`` (the
partner's name) and ``exp``; ``im admin partner-token NAME`` mints one.
"""

from __future__ import annotations

import hmac
import time

import jwt
import msgspec
from starlette.requests import HTTPConnection

from domain.errors import UnauthorizedError
from gateway.settings import Settings

API_KEY_HEADER = "x-api-key"
SCOPE = "cascade"


class Partner(msgspec.Struct, frozen=True):
    name: str
    via: str  # "api_key" | "jwt"


def issue_partner_token(name: str, secret: str, days: float) -> str:
    now = int(time.time())
    claims = {"sub": name, "scope": SCOPE, "iat": now, "exp": now + int(days * 86400)}
    return jwt.encode(claims, secret, algorithm="HS256")


def _api_key_partner(key: str, settings: Settings) -> Partner:
    given = key.strip().encode()
    for i, known in enumerate(settings.partner_api_key_list):
        if hmac.compare_digest(given, known.encode()):
            return Partner(name=f"api-key-{i + 1}", via="api_key")
    raise UnauthorizedError("Invalid API key")


def _jwt_partner(token: str, settings: Settings) -> Partner | None:
    """The partner of a partner-scoped token; None when the token is not one (maybe a user's)."""
    if not settings.partner_jwt_secret:
        return None
    try:
        claims = jwt.decode(
            token,
            settings.partner_jwt_secret,
            algorithms=["HS256"],
            options={"require": ["sub", "exp", "scope"]},
        )
    except jwt.ExpiredSignatureError:
        raise UnauthorizedError("Token expired") from None
    except jwt.PyJWTError:
        return None
    if claims.get("scope") != SCOPE or not isinstance(claims.get("sub"), str):
        return None
    return Partner(name=claims["sub"], via="jwt")


def partner_from(conn: HTTPConnection, settings: Settings) -> Partner | None:
    """The partner these headers authenticate, None if they carry no partner credential.

    A wrong API key is a 401 at once; a bearer token that is not a partner token is left for
    the user check (a superuser may use ``/cascade`` too).
    """
    key = conn.headers.get(API_KEY_HEADER)
    if key is not None:
        return _api_key_partner(key, settings)
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return _jwt_partner(token.strip(), settings)
    return None
