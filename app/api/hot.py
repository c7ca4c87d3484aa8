"""Routes matched ahead of FastAPI's routers: the hottest paths skip its per-request
machinery (dependency resolution, the threadpool), which cost as much as their own work.
Each keeps a FastAPI twin for the OpenAPI document."""

from __future__ import annotations

from starlette.routing import Match, Route
from starlette.types import Scope

__all__ = ["HotRoute"]


class HotRoute(Route):
    """A Starlette route that names itself in the scope, as FastAPI's do (the request's
    log line and metrics are labelled by its path template)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope
