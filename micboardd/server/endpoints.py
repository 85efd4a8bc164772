"""Endpoints described once: the route, the handler, and the models of what goes in and
out. The app registers them from this description and the OpenAPI document is generated
from it (:mod:`micboardd.server.openapi`), so the document cannot drift from the server.

Request bodies and query strings are validated by the same pydantic models and report
problems the way configuration files do: JSON path and what was expected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from micboardd.config import problems

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)
BODY_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    #: the JSON answer's type (a pydantic model, TypedDict or list of them); None: object
    response: Any = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    #: the body's media type: JSON, or where a write must take another (a photo upload:
    #: multipart/form-data) that type alone; the gate lets it through for this route
    #: only (:mod:`micboardd.server.origin`, docs/security.md)
    body_type: str = "application/json"
    #: the OpenAPI ``encoding`` of a form body's fields (a file's media types)
    body_encoding: dict[str, Any] | None = None
    query: type[BaseModel] | None = None
    path_params: type[BaseModel] | None = None
    #: statuses answered with an Error object besides 200
    errors: tuple[int, ...] = ()
    #: needs a bearer token with the operator role (or loopback when none is configured)
    write: bool = False
    #: also answers text/csv (``?format=csv`` or ``Accept: text/csv``)
    csv: bool = False
    #: the content type of a 200 that is not JSON (``/metrics``)
    content_type: str = "application/json"
    tag: str = "state"


ENDPOINTS: web.AppKey[list[Endpoint]] = web.AppKey("endpoints", list)
#: the routes whose writes take a body that is not JSON, and the type they take
BODY_TYPES: web.AppKey[dict[web.AbstractRoute, str]] = web.AppKey("body_types", dict)


def register(app: web.Application, endpoints: Iterable[Endpoint]) -> None:
    """Add the routes and remember them for the OpenAPI document."""
    listed = app.setdefault(ENDPOINTS, [])
    body_types = app.setdefault(BODY_TYPES, {})
    for ep in endpoints:
        route = app.router.add_route(ep.method, ep.path, ep.handler)
        if ep.body_type != "application/json":
            body_types[route] = ep.body_type
        listed.append(ep)


def body_type_of(request: web.Request) -> str:
    """The media type a write to this route takes (JSON unless its Endpoint says)."""
    return request.app.get(BODY_TYPES, {}).get(request.match_info.route, "application/json")


class InvalidInput(web.HTTPBadRequest):
    """A body or query that its model refuses; answered as 400 with the problems."""

    def __init__(self, what: str, found: list[tuple[str, str]]) -> None:
        super().__init__(reason=f"invalid {what}")
        self.problems = [{"path": path, "problem": problem} for path, problem in found]


async def parse_body(request: web.Request, model: type[M], *, required: bool = True
                     ) -> M | None:
    """The request body as ``model``: 400 with JSON paths when it does not fit; 408 when
    it does not arrive within BODY_TIMEOUT_S (a slow sender cannot hold a connection)."""
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            raw = await request.read()
    except TimeoutError:
        raise web.HTTPRequestTimeout(reason="the request body did not arrive in time") from None
    if not raw.strip():
        if required:
            raise InvalidInput("request body", [("$", "a JSON object is required")])
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidInput("request body", problems(exc)) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    """The query string as ``model``: 400 with the parameter names when it does not fit."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise InvalidInput("query", [(p.replace("$.", "?", 1), what)
                                     for p, what in problems(exc)]) from None
