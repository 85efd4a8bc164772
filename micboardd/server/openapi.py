"""The OpenAPI 3.1 document served at ``/api/openapi.json``, generated from the endpoint
descriptions the app was built with (:mod:`micboardd.server.endpoints`) and from the
pydantic models and typed classes they name. Nothing here is written by hand per route,
so the document cannot drift from what the server does."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

from micboardd.server.endpoints import ENDPOINTS, Endpoint

JSON = dict[str, Any]
_REF = "#/components/schemas/{model}"

ERROR: JSON = {
    "type": "object", "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "problems": {"type": "array", "items": {
            "type": "object", "required": ["path", "problem"],
            "properties": {"path": {"type": "string", "description": "JSON path"},
                           "problem": {"type": "string"}}}},
    },
}
_REASONS = {400: "invalid request", 401: "a bearer token is required or was wrong",
            403: "not allowed", 404: "not found", 405: "method not allowed",
            408: "the body did not arrive in time", 409: "conflict", 413: "body too large",
            415: "a write's body must be application/json", 422: "refused value",
            429: "too many wrong tokens from this address (see Retry-After)",
            502: "the device refused", 503: "unavailable", 504: "the device did not confirm"}


class _Schemas:
    """Collects named schemas into ``components`` and hands out references to them."""

    def __init__(self) -> None:
        self.components: JSON = {"Error": ERROR}

    def of(self, tp: Any, mode: str = "serialization") -> JSON:
        schema = TypeAdapter(tp).json_schema(ref_template=_REF, mode=mode)  # type: ignore[arg-type]
        self.components.update(schema.pop("$defs", {}))
        name = getattr(tp, "__name__", None)
        if isinstance(tp, type) and name and schema.get("type") == "object":
            self.components[name] = schema
            return {"$ref": _REF.format(model=name)}
        return schema


def _parameters(ep: Endpoint, schemas: _Schemas) -> list[JSON]:
    out: list[JSON] = []
    for where, model in (("path", ep.path_params), ("query", ep.query)):
        if model is None:
            continue
        full = model.model_json_schema(ref_template=_REF, by_alias=True)
        schemas.components.update(full.pop("$defs", {}))
        required = set(full.get("required", ()))
        for name, prop in full.get("properties", {}).items():
            prop = dict(prop)
            param: JSON = {"name": name, "in": where, "required": where == "path"
                           or name in required}
            if "description" in prop:
                param["description"] = prop.pop("description")
            prop.pop("title", None)
            if prop.get("default", 0) is None:
                del prop["default"]  # absent, not null: a query string has no null
            param["schema"] = prop
            out.append(param)
    for name in re.findall(r"\{(\w+)", ep.path):  # path parameters no model describes
        if not any(p["name"] == name and p["in"] == "path" for p in out):
            out.append({"name": name, "in": "path", "required": True,
                        "schema": {"type": "string"}})
    return out


def _ok(ep: Endpoint, schemas: _Schemas) -> JSON:
    if ep.content_type != "application/json":
        schema: JSON = {"type": "string"}
        if ep.content_type.startswith("image/"):
            schema["format"] = "binary"
        return {"description": "OK", "content": {ep.content_type: {"schema": schema}}}
    schema = schemas.of(ep.response) if ep.response is not None else {"type": "object"}
    content: JSON = {"application/json": {"schema": schema}}
    if ep.csv:
        content["text/csv"] = {"schema": {"type": "string"}}
    return {"description": "OK", "content": content}


def _operation(ep: Endpoint, schemas: _Schemas) -> JSON:
    doc = (ep.handler.__doc__ or "").strip()
    op: JSON = {"summary": ep.summary, "operationId": ep.handler.__name__, "tags": [ep.tag]}
    if doc:
        op["description"] = doc
    params = _parameters(ep, schemas)
    if params:
        op["parameters"] = params
    if ep.body is not None:
        media: JSON = {"schema": schemas.of(ep.body, "validation")}
        if ep.body_encoding:
            media["encoding"] = ep.body_encoding
        op["requestBody"] = {"required": ep.body_required, "content": {ep.body_type: media}}
    responses: JSON = {"200": _ok(ep, schemas)}
    errors = set(ep.errors)
    if ep.write:
        op["security"] = [{"bearer": []}]
        errors |= {401, 403, 415, 429}
        if ep.body is not None:
            errors.add(408)
    if ep.body is not None or ep.query is not None:
        errors.add(400)
    for status in sorted(errors):
        reason = (f"the body must be {ep.body_type}" if status == 415 and ep.body is not None
                  else _REASONS.get(status, "error"))
        responses[str(status)] = {"description": reason, "content": {
            "application/json": {"schema": {"$ref": _REF.format(model="Error")}}}}
    op["responses"] = responses
    return op


def _check_models(endpoints: list[Endpoint]) -> None:
    for ep in endpoints:
        for m in (ep.body, ep.query, ep.path_params):
            assert m is None or issubclass(m, BaseModel), ep.path


def openapi_document(app: web.Application, version: str) -> JSON:
    endpoints = app.get(ENDPOINTS, [])
    _check_models(endpoints)
    schemas = _Schemas()
    paths: JSON = {}
    for ep in endpoints:
        # a route's own pattern ({kind:slot|name}) is aiohttp's; the document names the
        # parameter alone and its model says what it takes
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", ep.path)
        paths.setdefault(path, {})[ep.method.lower()] = _operation(ep, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "micboardd", "version": version,
                 "description": "Wireless microphone monitoring. Reads are open; writes "
                                "need an operator bearer token (or loopback when no token "
                                "is configured), a JSON body, and, from a browser, the "
                                "daemon's own origin or one in http.origins "
                                "(docs/security.md). Live updates: websocket /ws."},
        "paths": paths,
        "components": {"schemas": schemas.components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"}}},
    }
