"""OpenAPI 3.1 generated from the route specs and their msgspec types, and a /docs page."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from gateway.http import HTTPError, RouteSpec, ValidationIssue

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


class _ValidationError(msgspec.Struct):
    detail: list[ValidationIssue]
    message: str


def build_openapi(routes: list[RouteSpec], title: str, version: str) -> dict[str, Any]:
    types: list[Any] = [HTTPError, _ValidationError]
    for r in routes:
        types.extend(t for t in (r.body, r.response, r.query) if t is not None)
    schemas, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    by_type = dict(zip(types, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        path = _PARAM.sub(lambda m: "{" + m.group(1) + "}", r.path)
        op: dict[str, Any] = {
            "operationId": f"{r.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower())}",
            "summary": r.summary,
            "tags": [r.tag] if r.tag else [],
            "parameters": _parameters(r, components, by_type),
            "responses": _responses(r, by_type),
        }
        if r.auth == "partner":
            op["security"] = [{"bearer": []}, {"partnerApiKey": []}]
        elif r.auth != "none":
            op["security"] = [{"bearer": []}] if r.auth != "optional" else [{}, {"bearer": []}]
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": by_type[r.body]}},
            }
        if r.form is not None:
            props = dict(r.form)
            required = [k for k, v in props.items() if not v.pop("x-optional", False)]
            schema = {"type": "object", "properties": props, "required": required}
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {"schema": schema},
                    "multipart/form-data": {"schema": schema},
                },
            }
        paths.setdefault(path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "partnerApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def _parameters(
    r: RouteSpec, components: dict[str, Any], by_type: dict[Any, Any]
) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for m in _PARAM.finditer(r.path):
        schema = {"type": "integer", "minimum": 0} if m.group(2) == "int" else {"type": "string"}
        params.append({"name": m.group(1), "in": "path", "required": True, "schema": schema})
    if r.query is not None:
        info = msgspec.inspect.type_info(r.query)
        assert isinstance(info, msgspec.inspect.StructType)
        # msgspec qualifies a component's name when two structs share one: follow the $ref
        qschema = components[by_type[r.query]["$ref"].rsplit("/", 1)[-1]]
        params.extend(
            {
                "name": f.encode_name,
                "in": "query",
                "required": f.required,
                "schema": qschema["properties"][f.encode_name],
            }
            for f in info.fields
        )
    return params


def _responses(r: RouteSpec, by_type: dict[Any, Any]) -> dict[str, Any]:
    err = {"application/json": {"schema": by_type[HTTPError]}}
    out: dict[str, Any] = {}
    if r.raw_response is not None:
        out[str(r.status)] = {"description": "OK", "content": {r.raw_response: {}}}
    elif r.response is None:
        out[str(r.status if r.status != 200 else 204)] = {"description": "No Content"}
    else:
        out[str(r.status)] = {
            "description": "OK",
            "content": {"application/json": {"schema": by_type[r.response]}},
        }
        if r.status == 201 and r.method == "POST":
            out.setdefault("200", out[str(r.status)])
    out["422"] = {
        "description": "Validation error",
        "content": {"application/json": {"schema": by_type[_ValidationError]}},
    }
    out["4XX"] = {"description": "Client error", "content": err}
    out["503"] = {"description": "Not ready", "content": err}
    return out
