"""Typed dependencies: the ledger context, connections, strict JSON bodies and who is calling."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from app.api.limits import ENTRY_LIMITS
from app.ledger.canonical import JsonLimits, parse_strict
from app.models import repository
from app.models.repository import PartnerRow
from app.services.context import LedgerContext
from app.services.errors import Forbidden, Unauthorized, UnsupportedMediaType
from app.services.registry import API_KEY_PREFIX, hash_api_key
from app.services.sequencer import Arrival

__all__ = [
    "AdminDep",
    "Caller",
    "ContextDep",
    "OptionalCaller",
    "PartnerDep",
    "ReaderDep",
    "arrival",
    "json_body",
    "model_body",
    "partner_of",
]

Model = TypeVar("Model", bound=BaseModel)
Result = TypeVar("Result")


async def get_context(request: Request) -> LedgerContext:
    context: LedgerContext = request.app.state.context
    return context


ContextDep = Annotated[LedgerContext, Depends(get_context)]


def arrival(request: Request) -> Arrival:
    """This request, counted by the sequencer from now until it submits or gives up."""
    return Arrival(request.app.state.sequencer)


def require_json(request: Request) -> None:
    """Refuse a body that is not declared JSON (``application/json`` or ``+json``) with 415,
    so that a form or a text/plain post never reaches the parser by accident."""
    declared = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if declared == "application/json" or (
        declared.startswith("application/") and declared.endswith("+json")
    ):
        return
    raise UnsupportedMediaType(
        "request.media_type",
        f"the body is {declared or 'of no declared type'}; send it as application/json",
        field="content-type",
    )


async def json_body(request: Request, limits: JsonLimits = ENTRY_LIMITS) -> Any:
    """The request body, declared JSON and parsed strictly (app.ledger.canonical.parse_strict)."""
    require_json(request)
    return parse_strict(await request.body(), limits=limits)


def model_body(
    model: type[Model], *, optional: bool = False
) -> Callable[[Request], Coroutine[Any, Any, Model]]:
    """A dependency that parses the body strictly, then validates it with ``model``.

    With ``optional``, an empty body stands for ``{}`` (every member at its default).
    """

    async def dependency(request: Request) -> Model:
        raw = await request.body()
        if optional and not raw.strip():
            body: Any = {}
        else:
            require_json(request)
            body = parse_strict(raw)
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from exc

    return dependency


class Caller:
    """Who sent the request: the admin, a partner, or nobody."""

    def __init__(
        self,
        *,
        admin: bool = False,
        partner: PartnerRow | None = None,
        api_key_hash: str | None = None,
    ) -> None:
        self.admin = admin
        self.partner = partner
        self.api_key_hash = api_key_hash
        """The hash of the API key a partner called with: what a long-lived answer (a feed
        stream) checks again to end when the key is reissued."""

    @property
    def can_read_everything(self) -> bool:
        return self.admin or (self.partner is not None and "auditor" in self.partner.roles)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "auth.malformed", "use Authorization: Bearer <token>", field="authorization"
        )
    return token.strip()


async def in_database(ctx: LedgerContext, work: Callable[[], Result]) -> Result:
    """Run the ingest routes' database work: on the event loop (the default), or a thread.

    SQLite answers in microseconds, PostgreSQL in a fraction of a millisecond; handing
    the work to a thread cost more than the wait, for both, when measured (the thread
    hop and the contention for the GIL halved throughput, docs/BENCHMARKS.md). With
    several workers per core, one waiting on the network leaves the core to the others.
    """
    if ctx.settings.database_inline:
        return work()
    return await run_in_threadpool(work)


def _partner_by_api_key(ctx: LedgerContext, token: str) -> PartnerRow | None:
    with ctx.inline_read() as conn:
        return repository.partner_by_api_key_hash(conn, hash_api_key(token))


# Declares the bearer scheme in the OpenAPI document for every route that asks who calls;
# the header itself is read by _bearer, which answers problems in our own shape.
bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearer")


async def get_caller(
    request: Request,
    ctx: ContextDep,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)] = None,
) -> Caller:
    token = _bearer(request)
    if token is None:
        return Caller()
    if token.startswith(API_KEY_PREFIX):
        partner = await in_database(ctx, partial(_partner_by_api_key, ctx, token))
        if partner is None:
            raise Unauthorized("auth.invalid", "unknown API key", field="authorization")
        request.state.partner_id = partner.id  # for the request's log line
        return Caller(partner=partner, api_key_hash=hash_api_key(token))
    admin_token: str = request.app.state.admin_token
    if secrets.compare_digest(token.encode(), admin_token.encode()):
        return Caller(admin=True)
    raise Unauthorized("auth.invalid", "unknown token", field="authorization")


OptionalCaller = Annotated[Caller, Depends(get_caller)]


async def require_admin(caller: OptionalCaller) -> Caller:
    if caller.admin:
        return caller
    if caller.partner is None:
        raise Unauthorized("auth.required", "the admin token is required", field="authorization")
    raise Forbidden("auth.admin_only", "only the admin may do this", field="authorization")


async def partner_of(request: Request) -> PartnerRow:
    """The calling partner, or raise: what ``PartnerDep`` gives, without FastAPI's dependency
    resolution, which cost the ingest routes as much as the rest of their work."""
    return await require_partner(await get_caller(request, request.app.state.context))


async def require_partner(caller: OptionalCaller) -> PartnerRow:
    if caller.partner is not None:
        return caller.partner
    if caller.admin:
        raise Forbidden(
            "auth.partner_only",
            "events are posted by partners, not the admin",
            field="authorization",
        )
    raise Unauthorized("auth.required", "a partner API key is required", field="authorization")


@dataclass(frozen=True, slots=True)
class KeyedPartner:
    """A partner and the hash of the API key it called with."""

    partner: PartnerRow
    api_key_hash: str


async def require_keyed_partner(caller: OptionalCaller) -> KeyedPartner:
    """As ``require_partner``, keeping the key: for an answer that outlives the request."""
    partner = await require_partner(caller)
    if caller.api_key_hash is None:  # a partner is only ever known by its key
        raise Unauthorized("auth.required", "a partner API key is required", field="authorization")
    return KeyedPartner(partner, caller.api_key_hash)


async def require_reader(caller: OptionalCaller) -> Caller:
    if caller.can_read_everything:
        return caller
    if caller.partner is None:
        raise Unauthorized(
            "auth.required", "an auditor's API key is required", field="authorization"
        )
    raise Forbidden(
        "auth.auditor_only", "only auditors and the admin may read this", field="authorization"
    )


AdminDep = Annotated[Caller, Depends(require_admin)]
PartnerDep = Annotated[PartnerRow, Depends(require_partner)]
KeyedPartnerDep = Annotated[KeyedPartner, Depends(require_keyed_partner)]
ReaderDep = Annotated[Caller, Depends(require_reader)]
