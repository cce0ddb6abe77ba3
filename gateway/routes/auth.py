"""``/auth``: the login endpoint (urlencoded or multipart form)."""

from __future__ import annotations

import msgspec
from starlette.requests import ClientDisconnect

from domain.errors import InvalidError, TooLargeError
from gateway.auth import issue_token
from gateway.http import Api, Ctx, ValidationFailed, ValidationIssue
from gateway.limits import BodyTimeout

api = Api("/api/v1/auth", tag="auth")


class Token(msgspec.Struct):
    access_token: str
    token_type: str = "bearer"


_FORM = {
    "username": {"type": "string", "minLength": 1, "maxLength": 200},
    "password": {"type": "string", "minLength": 1, "maxLength": 1024},
}


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@api.post("/login/access-token", response=Token, auth="none", rate="login", form=_FORM)
async def login(ctx: Ctx) -> Token:
    """Exchange a standard_id and password for an access token."""
    media = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _FORM_TYPES:
        got = f"a {media} body" if media else "a body without Content-Type"
        raise ValidationFailed(
            [
                ValidationIssue(
                    loc=["body"],
                    msg=f"expected a form body (application/x-www-form-urlencoded or"
                    f" multipart/form-data) with username and password, got {got};"
                    " e.g. curl -d username=alice -d password=...",
                    type="value_error",
                )
            ]
        )
    try:
        form = await ctx.request.form()
    except (TooLargeError, ClientDisconnect, BodyTimeout):
        raise  # 413, an abort, 408: not a malformed form
    except Exception:
        raise ValidationFailed(
            [ValidationIssue(loc=["body"], msg="expected a form body", type="value_error")]
        ) from None
    fields: dict[str, str] = {}
    issues = []
    for name in ("username", "password"):
        value = form.get(name)
        if not isinstance(value, str) or not value:
            issues.append(ValidationIssue(loc=["body", name], msg="Field required", type="missing"))
        else:
            fields[name] = value
    if issues:
        raise ValidationFailed(issues)
    limiter = ctx.request.app.state.limiter
    limiter.check_account(fields["username"])  # an account under attack: 429, no hashing
    user = await ctx.services.users.authenticate(fields["username"], fields["password"][:1024])
    if user is None:
        limiter.login_failed(fields["username"])
        raise InvalidError("Incorrect username or password")
    s = ctx.services.settings
    return Token(access_token=issue_token(user.user_id, s.jwt_secret, s.access_token_minutes))
