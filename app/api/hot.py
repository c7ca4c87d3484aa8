"""Routes matched ahead of FastAPI's routers: the hottest paths skip its per-request
machinery (dependency resolution, the threadpool), which cost as much as their own work.
Each keeps a FastAPI twin for the OpenAPI document."""

from __future__ import annotations

from fastapi.exceptions import RequestValidationError
from starlette.routing import Match, Route
from starlette.types import Scope

__all__ = ["HotRoute", "invalid_string"]


def invalid_string(
    kind: str, place: str, name: str, message: str, value: str
) -> RequestValidationError:
    """The 422 FastAPI would answer for a bad path or query string (its ``type`` and message),
    for the routes that read their parameters themselves."""
    return RequestValidationError(
        [{"type": kind, "loc": (place, name), "msg": message, "input": value}]
    )


class HotRoute(Route):
    """A Starlette route that names itself in the scope, as FastAPI's do (the request's
    log line and metrics are labelled by its path template)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope
