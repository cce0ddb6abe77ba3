"""A bare Starlette endpoint returning a constant: the baseline for bench.http_me."""

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route


async def constant(request: object) -> Response:
    return Response(b'{"ok":true}', media_type="application/json")


app = Starlette(routes=[Route("/const", constant)])
