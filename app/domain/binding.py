"""What a binding event must say, and what it may bind (PROTOCOL.md §21).

The rules that need only the event and its lot; whether a tag is registered, bound
elsewhere, or a bar's serial already live is the binding service's to check, under the
sequencer lock (``app.services.binding``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from app.domain.rules import LotState, RuleViolation
from app.ledger.canonical import decimal_of
from app.ledger.errors import FieldError
from app.ledger.events import Event

__all__ = ["BINDING_ACTIONS", "Binding", "bar_key", "binding_of", "check_binding_event"]

BINDING_ACTIONS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "tag_bound": ("tag", "tag_uid_digest"),
        "tag_unbound": ("tag",),
        "claim_code_set": ("claim_code_sha256",),
        "bar_identified": ("bar",),
    }
)
"""Each binding action and the data members it must state."""


def check_binding_event(event: Event, state: LotState) -> None:
    """Raise FieldError or RuleViolation if a binding event cannot apply to ``state``."""
    required = BINDING_ACTIONS.get(event.action)
    if required is None:
        return
    for name in required:
        if name not in event.data:
            raise FieldError(f"event.data.{name}", f"{event.action} must state {name}")
    if event.action == "bar_identified":
        _check_bar(event, state)


def _check_bar(event: Event, state: LotState) -> None:
    if state.form != "bar":
        raise RuleViolation(
            "bar.not_a_bar",
            f"lot {state.lot} is {state.form or 'of no stated form'}, not a bar",
            field="event.action",
            status=409,
        )
    bar = event.data["bar"]
    for name, stated in (("gross_mass_g", state.mass_g), ("fineness", state.fineness)):
        marked = decimal_of(bar[name])
        if stated is not None and marked != stated:
            raise RuleViolation(
                "bar.differs",
                f"the bar's {name} {marked} is not the lot's {stated}",
                field=f"event.data.bar.{name}",
            )


def bar_key(brand: str, serial: str) -> str:
    """A bar's identity as the trade compares it: the brand case-folded, the serial in upper
    case without spaces — ``"valcambi|AB 12345"`` and ``"Valcambi|ab12345"`` are one bar."""
    serial_folded = re.sub(r"\s", "", serial).upper()
    return f"{brand.strip().casefold()}|{serial_folded}"


@dataclass(frozen=True, slots=True)
class Binding:
    """What a binding entry does: ``kind`` and ``key`` name the thing bound; ``lot`` is the
    lot it is bound to now (None: it is unbound); ``ends_previous`` ends its earlier binding."""

    kind: str
    key: str
    lot: str | None
    ends_previous: bool


def binding_of(action_or_kind: str, body: dict[str, Any]) -> Binding | None:
    """The binding an entry makes, from its action (an event) or kind (a service record)."""
    data = body.get("data") or {}
    lot = body.get("lot")
    if action_or_kind == "tag_bound":
        return Binding("tag", str(data["tag"]), str(lot), ends_previous=True)
    if action_or_kind == "tag_unbound":
        return Binding("tag", str(data["tag"]), None, ends_previous=True)
    if action_or_kind == "claim_code_set":
        return Binding("claim_code", str(data["claim_code_sha256"]), str(lot), ends_previous=False)
    if action_or_kind == "bar_identified":
        bar = data["bar"]
        key = bar_key(str(bar["brand"]), str(bar["serial"]))
        return Binding("bar", key, str(lot), ends_previous=True)
    if action_or_kind == "claim":
        return Binding("claim", str(body["claim_code_sha256"]), str(lot), ends_previous=False)
    return None
