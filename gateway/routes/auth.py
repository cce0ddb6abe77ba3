"""``/auth``: the login endpoint (a urlencoded or multipart form, decoded by the HTTP layer)."""

from __future__ import annotations

import msgspec

from commands.users import UserHandlers
from domain.errors import InvalidError
from gateway.auth import issue_token
from gateway.http import Api, Ctx
from gateway.settings import Settings

api = Api("/api/v1/auth", tag="auth")


class Token(msgspec.Struct):
    access_token: str
    token_type: str = "bearer"


_FORM = {
    "username": {"type": "string", "minLength": 1, "maxLength": 200},
    "password": {"type": "string", "minLength": 1, "maxLength": 1024},
}


class LoginForm(msgspec.Struct):
    username: str
    password: str


@api.post(
    "/login/access-token",
    response=Token,
    auth="none",
    rate="login",
    form=_FORM,
    form_body=LoginForm,
)
async def login(ctx: Ctx, settings: Settings, users: UserHandlers) -> Token:
    """Exchange a standard_id and password for an access token."""
    form: LoginForm = ctx.body
    limiter = ctx.request.app.state.limiter
    limiter.check_account(form.username)  # an account under attack: 429, no hashing
    user = await users.authenticate(form.username, form.password[:1024])
    if user is None:
        limiter.login_failed(form.username)
        raise InvalidError("Incorrect username or password")
    s = settings
    return Token(access_token=issue_token(user.user_id, s.jwt_secret, s.access_token_minutes))
