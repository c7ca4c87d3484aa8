"""A batch of signed entries posted at once: each prepared alone, all integrated in order.

A refinery posts its day of bars in one request. Each item is an event envelope
(``{"event", "signature"}``) or a transformation envelope (``{"transformation",
"signature"}``); each is parsed and verified alone, and those that pass go to the
sequencer as one group, in order and contiguous, so that an item may extend a
chain an earlier item moved. An item that is refused refuses only itself: the
others are signed statements of their own, and an item that depended on a
refused one (its ``prev`` or its input) is refused in turn by the rules.
"""

from __future__ import annotations

from typing import Any

from app.ledger.errors import FieldError, LedgerError
from app.models.repository import PartnerRow
from app.services.context import LedgerContext
from app.services.errors import TooLarge
from app.services.events import accepted_event, check_event
from app.services.ingest import Accepted, Outcome, Submission, Transformed, Unverified
from app.services.transformations import accepted_transformation, check_transformation

__all__ = ["Answer", "answers", "items_of", "prepare_items"]

Answer = Accepted | Transformed | LedgerError


def items_of(body: object, *, max_items: int) -> list[Any]:
    """The items of ``{"items": [...]}``: 1 to ``max_items`` of them, or FieldError."""
    if not isinstance(body, dict):
        raise FieldError("body", "must be a JSON object with the member items")
    unknown = sorted(set(body) - {"items"})
    if unknown:
        raise FieldError(unknown[0], "unknown member")
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise FieldError("items", "must be a non-empty JSON array of signed envelopes")
    if len(items) > max_items:
        raise FieldError("items", f"at most {max_items} items in one batch, got {len(items)}")
    return items


# The bytes an envelope adds to its body and signature in RFC 8785 form:
# {"event":<body>,"signature":"<base64>"} and {"signature":"<base64>","transformation":<body>}.
_ENVELOPE_BYTES = {
    "event": len('{"event":,"signature":""}'),
    "transformation": len('{"signature":"","transformation":}'),
}


def envelope_size(kind: str, canonical_body: bytes, signature: bytes) -> int:
    """The length of an item's envelope as RFC 8785 bytes, from its body's canonical bytes
    and its signature (whose base64 form is the only one that parses)."""
    return _ENVELOPE_BYTES[kind] + len(canonical_body) + 4 * -(-len(signature) // 3)


def _check(ctx: LedgerContext, partner: PartnerRow, item: object, index: int) -> Unverified:
    if isinstance(item, dict) and "transformation" in item:
        checked = check_transformation(ctx, partner=partner, envelope=item)
        limit, route = ctx.settings.max_transformation_bytes, "POST /v1/transformations"
    elif isinstance(item, dict) and "event" in item:
        checked = check_event(ctx, partner=partner, lot_id=None, envelope=item)
        limit, route = ctx.settings.max_body_bytes, "POST /v1/lots/{lot}/events"
    else:
        raise FieldError(
            f"items[{index}]", "must be an event envelope or a transformation envelope"
        )
    submission = checked.submission
    size = envelope_size(submission.kind, submission.signed.canonical, submission.signature)
    if size > limit:
        # Held to the limit of the route it would be posted to alone (PROTOCOL.md §7).
        raise TooLarge(
            "body.too_large",
            f"item {index} is {size} bytes (RFC 8785); {route} takes at most {limit}",
            field=f"items[{index}]",
        )
    return checked


def _verified(checked: list[Unverified | LedgerError]) -> list[Submission | LedgerError]:
    result: list[Submission | LedgerError] = []
    for item in checked:
        if isinstance(item, LedgerError):
            result.append(item)
            continue
        try:
            result.append(item.verify())
        except LedgerError as exc:
            result.append(exc)
    return result


def prepare_items(
    ctx: LedgerContext, partner: PartnerRow, items: list[Any]
) -> list[Submission | LedgerError]:
    """Each item parsed and verified (a Submission), or the error that refuses it.

    The signatures are verified on the process's crypto threads, a share each:
    Ed25519 releases the GIL, so a large batch uses every core.
    """
    checked: list[Unverified | LedgerError] = []
    for index, item in enumerate(items):
        try:
            checked.append(_check(ctx, partner, item, index))
        except TooLarge:
            raise  # as the request would be, were the item posted alone: nothing written
        except FieldError as exc:
            # A malformed item makes a malformed request: refused whole, nothing written,
            # so that a client's bug is never half applied. Well-formed items that the
            # signature, the keys or the rules refuse are answered one by one.
            where = exc.field if exc.field.startswith("items[") else f"items[{index}].{exc.field}"
            raise FieldError(where, exc.reason) from exc
        except LedgerError as exc:
            checked.append(exc)
    shares = ctx.crypto_threads if len(checked) >= 16 else 1
    if shares == 1:
        return _verified(checked)
    size = -(-len(checked) // shares)
    parts = [checked[start : start + size] for start in range(0, len(checked), size)]
    return [item for part in ctx.crypto.map(_verified, parts) for item in part]


def answers(
    ctx: LedgerContext, prepared: list[Submission | LedgerError], outcomes: list[Outcome]
) -> list[Answer]:
    """One answer per item, in order: what the sequencer did with it, or why it was refused."""
    results: list[Answer] = []
    done = iter(outcomes)
    for item in prepared:
        if isinstance(item, LedgerError):
            results.append(item)
            continue
        outcome = next(done)
        try:
            if item.kind == "event":
                results.append(accepted_event(ctx, outcome))
            else:
                results.append(accepted_transformation(ctx, outcome))
        except LedgerError as exc:
            results.append(exc)
    return results
