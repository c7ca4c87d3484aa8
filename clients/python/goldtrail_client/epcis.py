"""GS1 EPCIS 2.0 events in, Goldtrail event bodies out, for the partner to sign (docs/EPCIS.md).

``to_goldtrail(document)`` reads an ``EPCISDocument`` (or a list of events) and returns one
``Draft`` per ObjectEvent or TransformationEvent: the Goldtrail body without the signing
context (``key``, and ``prev`` — the lot's head when it is posted). ``Goldtrail.post_draft``
signs it with the partner's own key and posts it; Goldtrail never signs for a partner.

Where an event carries Goldtrail's ``gt:`` members (as ``GET /v1/lots/{lot}/epcis`` writes
them), they are taken as they are, so Goldtrail → EPCIS → Goldtrail gives the same events.
Otherwise the standard fields are mapped: the business step to the action (table below), the
event time to ``occurred_at`` (in UTC), the lot from the EPC class or EPC (its last path or
colon segment, or ``lot_of``), a quantity in ``GRM`` or ``KGM`` to ``mass_g``, and a
destination party's id to a transfer's recipient.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from goldtrail_client._core.cbv import BIZ_STEPS, GOLDTRAIL_NS

__all__ = [
    "ACTIONS_BY_BIZ_STEP",
    "BIZ_STEPS",
    "DEFAULT_STAGE",
    "GOLDTRAIL_NS",
    "Draft",
    "EpcisError",
    "to_goldtrail",
]

ACTIONS_BY_BIZ_STEP = {step: action for action, (step, _) in BIZ_STEPS.items()}

DEFAULT_STAGE: dict[str, str] = {
    "site_registered": "exploration",
    "permit_granted": "exploration",
    "impact_assessed": "exploration",
    "extracted": "mining",
    "recycled_intake": "smelting",
    "smelted": "smelting",
    "refined": "smelting",
    "assayed": "smelting",
    "cast": "smelting",
    "merged": "smelting",
    "split": "circulation",
    "fabricated": "sale",
    "transferred": "circulation",
    "shipped": "circulation",
    "received": "circulation",
    "vaulted": "circulation",
    "sold": "sale",
    "bar_identified": "smelting",
    "tag_bound": "circulation",
    "tag_unbound": "circulation",
    "claim_code_set": "circulation",
}

_GRAMS_PER = {"GRM": Decimal(1), "KGM": Decimal(1000)}
_CBV_PREFIXES = ("https://ref.gs1.org/cbv/BizStep-", "urn:epcglobal:cbv:bizstep:")


class EpcisError(ValueError):
    """An EPCIS event Goldtrail cannot take: ``field`` names it, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Draft:
    """A Goldtrail event or transformation body, to be completed with ``key`` (and ``prev``)
    and signed by the partner that states it."""

    kind: str
    body: dict[str, Any]


def _last_segment(uri: str) -> str:
    return re.split(r"[/:#]", uri.rstrip("/"))[-1]


def _utc(event: dict[str, Any], where: str) -> str:
    text = event.get("eventTime")
    if not isinstance(text, str):
        raise EpcisError(f"{where}.eventTime", "is required")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise EpcisError(f"{where}.eventTime", "must carry its time zone")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _action(event: dict[str, Any], where: str) -> str:
    given = event.get("gt:action")
    if isinstance(given, str):
        return given
    step = str(event.get("bizStep", ""))
    for prefix in _CBV_PREFIXES:
        step = step.removeprefix(prefix)
    step = step.replace(GOLDTRAIL_NS, "gt:")
    action = ACTIONS_BY_BIZ_STEP.get(step)
    if action is None:
        raise EpcisError(f"{where}.bizStep", f"{step or 'none'} maps to no Goldtrail action")
    return action


def _quantities(event: dict[str, Any], member: str, epcs: str) -> list[tuple[str, Any, Any]]:
    found = [(q.get("epcClass"), q.get("quantity"), q.get("uom")) for q in event.get(member) or []]
    return found + [(epc, None, None) for epc in event.get(epcs) or []]


def _grams(quantity: Any, uom: Any) -> str | None:
    if quantity is None or uom not in _GRAMS_PER:
        return None
    grams = Decimal(str(quantity)) * _GRAMS_PER[str(uom)]
    return format(grams.normalize(), "f")


def _event(
    event: dict[str, Any], where: str, partner: str | None, lot_of: Callable[[str], str]
) -> Draft:
    action = _action(event, where)
    quantities = _quantities(event, "quantityList", "epcList")
    lot = event.get("gt:lot")
    if not isinstance(lot, str):
        if not quantities:
            raise EpcisError(f"{where}.epcList", "names no lot")
        lot = lot_of(str(quantities[0][0]))
    data = event.get("gt:data")
    if not isinstance(data, dict):
        data = {}
        mass = _grams(*quantities[0][1:]) if quantities else None
        if mass is not None:
            data["mass_g"] = float(mass) if "." in mass else int(mass)
        for item in event.get("destinationList") or []:
            if action in ("transferred", "shipped"):
                data["to"] = lot_of(str(item.get("destination")))
    return Draft(
        "event",
        {
            "type": "goldtrail.event.v1",
            "lot": lot,
            "partner": _partner(event, partner, where),
            "stage": event.get("gt:stage") or DEFAULT_STAGE[action],
            "action": action,
            "occurred_at": event.get("gt:occurredAt") or _utc(event, where),
            "data": data,
        },
    )


def _partner(event: dict[str, Any], partner: str | None, where: str) -> str:
    stated = event.get("gt:partner")
    if isinstance(stated, str):
        if partner is not None and stated != partner:
            raise EpcisError(f"{where}.gt:partner", f"states {stated}, not {partner}")
        return stated
    if partner is None:
        raise EpcisError(f"{where}.gt:partner", "is missing: pass partner= for your own events")
    return partner


def _transformation(
    event: dict[str, Any], where: str, partner: str | None, lot_of: Callable[[str], str]
) -> Draft:
    action = _action(event, where)
    inputs = event.get("gt:inputs")
    if isinstance(inputs, list):
        inputs = [{k: v for k, v in item.items() if k != "prev"} for item in inputs]
    else:
        inputs = [
            {"lot": lot_of(str(uri))}
            for uri, _, _ in _quantities(event, "inputQuantityList", "inputEPCList")
        ]
    outputs = event.get("gt:outputs")
    if not isinstance(outputs, list):
        outputs = []
        for uri, quantity, uom in _quantities(event, "outputQuantityList", "outputEPCList"):
            output: dict[str, Any] = {"lot": lot_of(str(uri))}
            mass = _grams(quantity, uom)
            if mass is not None:
                output["mass_g"] = float(mass) if "." in mass else int(mass)
            outputs.append(output)
    return Draft(
        "transformation",
        {
            "type": "goldtrail.transformation.v1",
            "partner": _partner(event, partner, where),
            "stage": event.get("gt:stage") or DEFAULT_STAGE[action],
            "action": action,
            "occurred_at": event.get("gt:occurredAt") or _utc(event, where),
            "inputs": inputs,
            "outputs": outputs,
            "data": event.get("gt:data") if isinstance(event.get("gt:data"), dict) else {},
        },
    )


def to_goldtrail(
    document: dict[str, Any] | Iterable[dict[str, Any]],
    *,
    partner: str | None = None,
    lot_of: Callable[[str], str] = _last_segment,
) -> list[Draft]:
    """One draft per ObjectEvent or TransformationEvent, in order. ``partner`` is who states
    them (you): events naming another partner are refused, never signed for them."""
    if isinstance(document, dict):
        events = document.get("epcisBody", {}).get("eventList")
        if not isinstance(events, list):
            raise EpcisError("epcisBody.eventList", "is required")
        where = "epcisBody.eventList"
    else:
        events, where = list(document), "events"
    drafts = []
    for index, event in enumerate(events):
        at = f"{where}[{index}]"
        kind = event.get("type")
        if kind == "ObjectEvent":
            drafts.append(_event(event, at, partner, lot_of))
        elif kind == "TransformationEvent":
            drafts.append(_transformation(event, at, partner, lot_of))
        else:
            raise EpcisError(f"{at}.type", f"{kind} has no Goldtrail counterpart")
    return drafts
