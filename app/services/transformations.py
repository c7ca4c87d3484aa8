"""Posting a signed transformation: validate → verify → (sequencer) rule check → append.

Like ``app.services.events``: the envelope is parsed and the signature verified
before the sequencer; under its lock, ``app.services.ingest`` checks the key,
every input lot's head, custody and remaining gold, and the balance against the
committed state. Two transformations racing to spend the same lot both name its
head; the second finds the head moved (or the lot closed) and is refused,
whichever worker or database serves it.
"""

from __future__ import annotations

from typing import Any

from app.db import single_read, write_transaction
from app.ledger.errors import FieldError, LedgerError
from app.ledger.keys import b64decode_strict
from app.ledger.provenance.transformations import Transformation
from app.models import repository
from app.models.repository import PartnerRow
from app.services import ingest
from app.services.context import LedgerContext
from app.services.errors import Forbidden
from app.services.events import signing_key
from app.services.ingest import Outcome, Repeat, Submission, Transformed, Unverified

__all__ = [
    "Transformed",
    "accepted_transformation",
    "check_transformation",
    "parse_envelope",
    "prepare_transformation",
    "submit_transformation",
]


def parse_envelope(envelope: object) -> tuple[Transformation, bytes]:
    """The transformation and signature of ``{"transformation": …, "signature": …}``."""
    if not isinstance(envelope, dict):
        raise FieldError("body", "must be a JSON object with members transformation and signature")
    unknown = sorted(set(envelope) - {"transformation", "signature"})
    if unknown:
        raise FieldError(unknown[0], "unknown member")
    t = Transformation.from_json(envelope.get("transformation"), path="transformation")
    signature = envelope.get("signature")
    if not isinstance(signature, str):
        raise FieldError("signature", "must be a base64 string")
    return t, b64decode_strict(signature, field="signature", size=64)


def prepare_transformation(ctx: LedgerContext, *, partner: PartnerRow, envelope: Any) -> Submission:
    """Parse and verify a transformation envelope posted by ``partner``."""
    return check_transformation(ctx, partner=partner, envelope=envelope).verify()


def check_transformation(ctx: LedgerContext, *, partner: PartnerRow, envelope: Any) -> Unverified:
    """``prepare_transformation`` but for the signature, which the caller verifies."""
    t, signature = parse_envelope(envelope)
    if t.partner != partner.id:
        raise Forbidden(
            "partner.impersonation",
            f"you are authenticated as {partner.id}; you cannot post a transformation of "
            f"{t.partner}",
            field="transformation.partner",
        )
    public = signing_key(ctx, t.partner, t.key, field="transformation.key")
    return Unverified(Submission.of(t, signature, partner), public)


def accepted_transformation(ctx: LedgerContext, outcome: Outcome) -> Transformed:
    """What the poster of a transformation hears: the entry, or the error that refused it."""
    if isinstance(outcome, LedgerError):
        raise outcome
    if isinstance(outcome, Repeat):
        t = Transformation.from_json(
            outcome.entry.body, path="transformation", canonical=outcome.entry.body_bytes
        )
        with single_read(ctx.engine) as conn:
            states = repository.lots_by_id(conn, set(t.lots))
        return Transformed(
            entry=outcome.entry,
            transformation=t,
            inputs=tuple(states[i.lot] for i in t.inputs if i.lot in states),
            outputs=tuple(states[o.lot] for o in t.outputs if o.lot in states),
            taken=tuple(i.fine_g for i in t.inputs),
            balance=None,
            created=False,
        )
    assert isinstance(outcome, Transformed)
    return outcome


def submit_transformation(ctx: LedgerContext, *, partner: PartnerRow, envelope: Any) -> Transformed:
    """Prepare and append one transformation in its own write transaction."""
    submission = prepare_transformation(ctx, partner=partner, envelope=envelope)
    with write_transaction(ctx.engine) as conn:
        integrated = ingest.integrate(conn, ctx, [submission])
    (outcome,) = integrated.committed(ctx)
    return accepted_transformation(ctx, outcome)
