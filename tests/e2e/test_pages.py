"""The human-facing pages work offline: /, /docs, /redoc, /asyncapi and their packaged assets;
login explains that it wants a form."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx

from gateway.app import VERSION
from tests.helpers import API, PASSWORD, register


async def assets_of(client: httpx.AsyncClient, page: str) -> list[str]:
    """The page's script and stylesheet URLs, each checked against its integrity hash."""
    r = await client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    # Nothing loads from another origin: the page works without the internet.
    assert not re.search(r'(src|href)="(https?:)?//', html), html
    urls = []
    for tag in re.findall(r"<(?:script|link)\b[^>]*>", html):
        url = re.search(r'(?:src|href)="([^"]+)"', tag)
        if url is None or url.group(1) == "data:,":  # the empty favicon
            continue
        urls.append(url.group(1))
        sri = re.search(r'integrity="sha384-([^"]+)"', tag)
        assert sri is not None, tag
        body = await client.get(url.group(1))
        assert body.status_code == 200
        assert base64.b64encode(hashlib.sha384(body.content).digest()).decode() == sri.group(1)
    return urls


async def test_swagger_ui_is_served_from_the_server(client: httpx.AsyncClient) -> None:
    urls = await assets_of(client, "/docs")
    assert urls == ["/static/swagger-ui.css", "/static/swagger-ui-bundle.js"]
    js = await client.get("/static/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in js.text
    assert "validatorUrl:null" in (await client.get("/docs")).text  # no outside badge


async def test_redoc_and_asyncapi_pages(client: httpx.AsyncClient) -> None:
    assert await assets_of(client, "/redoc") == ["/static/redoc.standalone.js"]
    assert 'spec-url="/openapi.json"' in (await client.get("/redoc")).text
    urls = await assets_of(client, "/asyncapi")
    assert urls == ["/static/asyncapi-theme.css", "/static/asyncapi-viewer.js"]


async def test_home_page_links_docs_and_version(client: httpx.AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    links = set(re.findall(r'href="(/[^"]*)"', r.text))
    assert {"/docs", "/redoc", "/asyncapi", "/health", "/openapi.json"} <= links
    assert VERSION in r.text
    for link in links:
        assert (await client.get(link)).status_code == 200, link


async def test_unknown_static_asset_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/static/nothing.js")
    assert r.status_code == 404 and r.json()["detail"] == "Not Found"


async def test_login_with_json_says_a_form_is_expected(client: httpx.AsyncClient) -> None:
    user = await register(client)
    url = f"{API}/auth/login/access-token"
    r = await client.post(url, json={"username": user["standard_id"], "password": PASSWORD})
    assert r.status_code == 422
    (issue,) = r.json()["detail"]
    assert issue["loc"] == ["body"]
    assert "expected a form body" in issue["msg"] and "application/json" in issue["msg"]
    # The same fields as a form work; a charset parameter is fine.
    form = f"username={user['standard_id']}&password={PASSWORD}"
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
    r = await client.post(url, content=form, headers=headers)
    assert r.status_code == 200, r.text
