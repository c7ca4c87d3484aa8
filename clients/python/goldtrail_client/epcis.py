"""GS1 EPCIS 2.0 events in, Goldtrail event bodies out, for the partner to sign (docs/EPCIS.md).

``to_goldtrail(document)`` reads an ``EPCISDocument`` (or a list of events) and returns one
``Draft`` per ObjectEvent or TransformationEvent: the Goldtrail body without the signing
context (``key``, and ``prev`` — the lot's head when it is posted). ``Goldtrail.post_draft``
signs it with the partner's own key and posts it; Goldtrail never signs for a partner.

It is total and exact: every event maps to a body the service can accept with everything it
says, or is refused with an ``EpcisError`` naming the event and the member — never a crash,
never a member silently dropped. Members Goldtrail has no place for are refused unless the
caller names them in ``ignore``. Where an event carries Goldtrail's ``gt:`` members (as
``GET /v1/lots/{lot}/epcis`` writes them) they are taken as they are, so Goldtrail → EPCIS →
Goldtrail gives the same events.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

from goldtrail_client._core.cbv import BIZ_STEPS, GOLDTRAIL_NS, TRANSFORMATION_EVENT_ACTIONS
from goldtrail_client._core.events import ACTIONS, LOT_ID, PARTNER_ID, STAGES

__all__ = [
    "ACTIONS_BY_BIZ_STEP",
    "BIZ_STEPS",
    "DEFAULT_STAGE",
    "GOLDTRAIL_NS",
    "GRAMS_PER_UNIT",
    "Draft",
    "EpcisError",
    "gs1_lot_id",
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
    "fabricated": "smelting",
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
"""The stage an action is posted at when the event states none (``gt:stage``)."""

GRAMS_PER_UNIT: Mapping[str, Decimal] = {
    "GRM": Decimal(1),
    "KGM": Decimal(1000),
    "MGM": Decimal("0.001"),
    "APZ": Decimal("31.1034768"),  # troy ounce
    "ONZ": Decimal("28.349523125"),  # avoirdupois ounce
    "LBR": Decimal("453.59237"),  # pound
}
"""UN/CEFACT units of mass and their grams, exactly."""

_MAX_GRAMS = Decimal(10) ** 10
_MILLIGRAM = Decimal("0.001")
_CBV_STEP = ("https://ref.gs1.org/cbv/BizStep-", "urn:epcglobal:cbv:bizstep:")
_CBV_DISPOSITION = ("https://ref.gs1.org/cbv/Disp-", "urn:epcglobal:cbv:disp:")
_CBV_SDT = ("https://ref.gs1.org/cbv/SDT-", "urn:epcglobal:cbv:sdt:")
_MASS_ACTIONS = frozenset({"extracted", "recycled_intake", "smelted", "refined", "cast"})
"""Events that state the lot's whole mass (form, mass and fineness)."""
_OBJECT_ACTIONS = frozenset(a for actions in ACTIONS.values() for a in actions)

# What an event may carry besides its gt: members: read, or carried by every capture and
# meaning nothing to the ledger (when it was recorded, the capturing system's event id).
_COMMON = frozenset(
    {
        "type",
        "eventTime",
        "eventTimeZoneOffset",
        "recordTime",
        "eventID",
        "bizStep",
        "disposition",
        "sourceList",
        "destinationList",
        "@context",
    }
)
_READ = {
    "ObjectEvent": _COMMON | {"action", "epcList", "quantityList"},
    "TransformationEvent": _COMMON
    | {
        "inputEPCList",
        "inputQuantityList",
        "outputEPCList",
        "outputQuantityList",
        "transformationID",
    },
}
_GT_EVENT = frozenset(
    {
        "gt:lot",
        "gt:prev",
        "gt:partner",
        "gt:stage",
        "gt:action",
        "gt:occurredAt",
        "gt:data",
        "gt:entry",
    }
)
_GT_TRANSFORMATION = frozenset(
    {
        "gt:partner",
        "gt:stage",
        "gt:action",
        "gt:occurredAt",
        "gt:data",
        "gt:inputs",
        "gt:outputs",
        "gt:entry",
    }
)


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


# Identifiers ------------------------------------------------------------------------------


def _check_digit(digits: str) -> str:
    """GS1's mod-10 check digit of the digits before it."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _gtin(company: str, item: str) -> str:
    """GTIN-14 of an EPC's company prefix and indicator + item reference (TDS §6.3.1)."""
    body = item[:1] + company + item[1:]
    return body + _check_digit(body)


def gs1_lot_id(uri: str) -> str | None:
    """A GS1 identifier as one lot id, whichever form names it: the EPC URN
    (``urn:epc:id:sgtin:0614141.107346.2017``) and the GS1 Digital Link
    (``https://id.gs1.org/01/00614141073467/21/2017``) of one object give the same id
    (``01.00614141073467.21.2017``); a batch (LGTIN, AI 10) ``01.<gtin>.10.<lot>``, a
    logistic unit (SSCC) ``00.<sscc>``. None if ``uri`` is neither form."""
    if uri.startswith("urn:epc:id:sgtin:") or uri.startswith("urn:epc:class:lgtin:"):
        parts = uri.split(":", 4)[4].split(".")
        if len(parts) != 3 or not (parts[0] + parts[1]).isdigit() or len(parts[0] + parts[1]) != 13:
            return None
        ai = "21" if ":sgtin:" in uri else "10"
        return f"01.{_gtin(parts[0], parts[1])}.{ai}.{unquote(parts[2])}"
    if uri.startswith("urn:epc:id:sscc:"):
        parts = uri.split(":", 4)[4].split(".")
        if len(parts) != 2 or not "".join(parts).isdigit() or len("".join(parts)) != 17:
            return None
        body = parts[1][:1] + parts[0] + parts[1][1:]
        return f"00.{body}{_check_digit(body)}"
    link = urlsplit(uri)
    if link.scheme in ("http", "https"):
        segments = [unquote(s) for s in link.path.split("/") if s]
        for at in range(len(segments) - 1):
            ai, value = segments[at], segments[at + 1]
            if ai == "00" and len(value) == 18 and value.isdigit():
                return f"00.{value}"
            if ai == "01" and value.isdigit() and len(value) in (8, 12, 13, 14):
                gtin = value.zfill(14)
                rest = segments[at + 2 : at + 4]
                if len(rest) == 2 and rest[0] in ("21", "10"):
                    return f"01.{gtin}.{rest[0]}.{rest[1]}"
                return None
    return None


def _default_lot_of(uri: str) -> str:
    if uri.startswith("urn:epc:idpat:"):
        raise ValueError("an EPC pattern names a class of objects, not one lot")
    path = urlsplit(uri).path
    if "/p/" in path:  # a Goldtrail card's URL, as the service's EPCIS output names lots
        return unquote(path.rsplit("/p/", 1)[1])
    found = gs1_lot_id(uri)
    if found is None:
        raise ValueError("neither a Goldtrail card URL, a GS1 EPC URN nor a Digital Link")
    return found


def _default_partner_of(uri: str) -> str:
    path = urlsplit(uri).path
    if "/v1/partners/" in path:
        return unquote(path.rsplit("/v1/partners/", 1)[1])
    raise ValueError("not a Goldtrail partner URL (<base>/v1/partners/<id>): pass partner_of=")


# One event --------------------------------------------------------------------------------


def _text(event: Mapping[str, Any], name: str, where: str) -> str | None:
    value = event.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise EpcisError(f"{where}.{name}", "must be a string")
    return value


def _list(event: Mapping[str, Any], name: str, where: str) -> list[Any]:
    value = event.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise EpcisError(f"{where}.{name}", "must be a list")
    return value


def _bare(value: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        value = value.removeprefix(prefix)
    return value


def _utc(event: Mapping[str, Any], where: str) -> str:
    text = _text(event, "eventTime", where)
    if text is None:
        raise EpcisError(f"{where}.eventTime", "is required")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise EpcisError(f"{where}.eventTime", f"{text[:40]!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise EpcisError(f"{where}.eventTime", "must carry its time zone")
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _action(event: Mapping[str, Any], where: str, kind: str) -> str:
    given = event.get("gt:action")
    if given is not None:
        if not isinstance(given, str) or given not in DEFAULT_STAGE:
            raise EpcisError(f"{where}.gt:action", f"{str(given)[:40]} is no Goldtrail action")
        action = given
    else:
        step = _text(event, "bizStep", where)
        bare = _bare(step or "", _CBV_STEP).replace(GOLDTRAIL_NS, "gt:")
        found = ACTIONS_BY_BIZ_STEP.get(bare)
        if found is None:
            raise EpcisError(f"{where}.bizStep", f"{bare or 'none'} maps to no Goldtrail action")
        action = found
    transformation = kind == "TransformationEvent"
    if transformation and action not in TRANSFORMATION_EVENT_ACTIONS:
        raise EpcisError(
            f"{where}.bizStep", f"{action} is an event of one lot, not a transformation"
        )
    if not transformation and action not in _OBJECT_ACTIONS:
        raise EpcisError(
            f"{where}.bizStep", f"{action} is a transformation: send a TransformationEvent"
        )
    disposition = _text(event, "disposition", where)
    if disposition is not None and _bare(disposition, _CBV_DISPOSITION) != BIZ_STEPS[action][1]:
        raise EpcisError(
            f"{where}.disposition",
            f"Goldtrail records {action} as {BIZ_STEPS[action][1]}, not {disposition}",
        )
    return action


def _grams(element: Any, where: str) -> Decimal | None:
    """A quantity element's mass in grams, exactly; None if it states no quantity."""
    if not isinstance(element, dict):
        raise EpcisError(where, "must be a quantity element object")
    if "quantity" not in element:
        return None
    quantity, uom = element.get("quantity"), element.get("uom")
    if isinstance(quantity, bool) or not isinstance(quantity, int | float):
        raise EpcisError(f"{where}.quantity", "must be a number")
    if (isinstance(quantity, float) and not math.isfinite(quantity)) or quantity < 0:
        raise EpcisError(f"{where}.quantity", "must be a finite number, not negative")
    if uom is None:
        raise EpcisError(f"{where}.uom", "a count of items is no mass: state a unit of mass")
    if not isinstance(uom, str) or uom not in GRAMS_PER_UNIT:
        raise EpcisError(
            f"{where}.uom", f"{str(uom)[:12]} is not one of {', '.join(GRAMS_PER_UNIT)}"
        )
    grams = Decimal(repr(quantity)) * GRAMS_PER_UNIT[uom]
    if grams > _MAX_GRAMS or grams != grams.quantize(_MILLIGRAM):
        raise EpcisError(
            f"{where}.quantity",
            f"{quantity} {uom} is {grams.normalize()} g: Goldtrail records up to 10^10 g, "
            "to the milligram",
        )
    return grams


def _stated_grams(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return Decimal(repr(value))


def _number(grams: Decimal) -> int | float:
    return int(grams) if grams == grams.to_integral_value() else float(grams)


def _lot(uri: Any, where: str, lot_of: Callable[[str], str]) -> str:
    if not isinstance(uri, str):
        raise EpcisError(where, "must be an identifier string")
    try:
        lot = lot_of(uri)
    except (ValueError, LookupError) as exc:
        raise EpcisError(where, f"{uri[:80]}: {exc}") from None
    if not isinstance(lot, str) or len(lot) > 64 or not LOT_ID.fullmatch(lot):
        raise EpcisError(where, f"{uri[:80]} gives lot id {str(lot)[:80]!r}, which is not a lot id")
    return lot


def _partner(event: Mapping[str, Any], partner: str | None, where: str) -> str:
    stated = event.get("gt:partner")
    if stated is not None:
        if not isinstance(stated, str) or not PARTNER_ID.fullmatch(stated):
            raise EpcisError(f"{where}.gt:partner", "must be a partner id")
        if partner is not None and stated != partner:
            raise EpcisError(f"{where}.gt:partner", f"states {stated}, not {partner}")
        return stated
    if partner is None:
        raise EpcisError(f"{where}.gt:partner", "is missing: pass partner= for your own events")
    return partner


def _stage(event: Mapping[str, Any], action: str, where: str) -> str:
    stage = event.get("gt:stage", DEFAULT_STAGE[action])
    if stage not in STAGES:
        raise EpcisError(f"{where}.gt:stage", f"must be one of {', '.join(STAGES)}")
    return str(stage)


def _time(event: Mapping[str, Any], where: str) -> str:
    stated = event.get("gt:occurredAt")
    if stated is None:
        return _utc(event, where)
    if not isinstance(stated, str):
        raise EpcisError(f"{where}.gt:occurredAt", "must be a string")
    return stated


def _data(event: Mapping[str, Any], where: str) -> dict[str, Any]:
    data = event.get("gt:data", {})
    if not isinstance(data, dict):
        raise EpcisError(f"{where}.gt:data", "must be an object of Goldtrail facts")
    return dict(data)


def _members(event: Mapping[str, Any], kind: str, where: str, ignore: frozenset[str]) -> None:
    if "errorDeclaration" in event:
        raise EpcisError(
            f"{where}.errorDeclaration",
            "declares an earlier event in error; Goldtrail's ledger is append-only, so a "
            "retraction is no new statement: post the corrective event instead",
        )
    known = _READ[kind] | (_GT_EVENT if kind == "ObjectEvent" else _GT_TRANSFORMATION)
    for name in event:
        if not isinstance(name, str) or (name not in known and name not in ignore):
            raise EpcisError(
                f"{where}.{str(name)[:40]}",
                f"Goldtrail has no place for it; pass ignore={{'{str(name)[:40]}'}} to drop "
                "it knowingly",
            )


def _parties(event: Mapping[str, Any], name: str, where: str, kind: str) -> list[tuple[str, Any]]:
    found = []
    for index, item in enumerate(_list(event, name, where)):
        at = f"{where}.{name}[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise EpcisError(at, f"must be a {kind} object with a type")
        found.append((_bare(item["type"], _CBV_SDT), item.get(kind)))
    return found


def _destination(
    event: Mapping[str, Any],
    action: str,
    where: str,
    partner: str,
    partner_of: Callable[[str], str],
) -> dict[str, Any]:
    """What a transfer or a shipment says of where the gold goes (``data.to``)."""
    destinations = _parties(event, "destinationList", where, "destination")
    sources = _parties(event, "sourceList", where, "source")
    if action not in ("transferred", "shipped"):
        if destinations or sources:
            raise EpcisError(
                f"{where}.{'destinationList' if destinations else 'sourceList'}",
                f"{action} moves nothing: only transfers and shipments have a source or "
                "destination",
            )
        return {}
    for index, (kind, source) in enumerate(sources):
        if kind == "possessing_party" and source is not None:
            try:
                owner = partner_of(str(source))
            except ValueError as exc:
                raise EpcisError(f"{where}.sourceList[{index}]", str(exc)) from None
            if owner != partner:
                raise EpcisError(
                    f"{where}.sourceList[{index}]", f"names {owner}: the sender is {partner}"
                )
    wanted = "possessing_party" if action == "transferred" else "location"
    chosen = [(i, d) for i, (kind, d) in enumerate(destinations) if kind == wanted]
    if len(chosen) != 1:
        raise EpcisError(
            f"{where}.destinationList",
            f"{action} needs exactly one destination of type {wanted}, found {len(chosen)}",
        )
    index, destination = chosen[0]
    if not isinstance(destination, str):
        raise EpcisError(f"{where}.destinationList[{index}]", "must name its destination")
    if action == "shipped":
        return {"to": destination[:500]}
    try:
        recipient = partner_of(destination)
    except ValueError as exc:
        raise EpcisError(f"{where}.destinationList[{index}]", str(exc)) from None
    if not PARTNER_ID.fullmatch(recipient):
        raise EpcisError(f"{where}.destinationList[{index}]", f"{recipient!r} is no partner id")
    return {"to": recipient}


def _object_event(
    event: Mapping[str, Any], where: str, partner: str | None, names: _Names
) -> Draft:
    action = _action(event, where, "ObjectEvent")
    if event.get("action", "OBSERVE") == "DELETE":
        raise EpcisError(
            f"{where}.action", "DELETE ends an object's life; Goldtrail has no such step"
        )
    who = _partner(event, partner, where)
    data = _data(event, where)
    lots: dict[str, str] = {}
    for index, epc in enumerate(_list(event, "epcList", where)):
        lots.setdefault(_lot(epc, f"{where}.epcList[{index}]", names.lot_of), f"epcList[{index}]")
    masses = []
    for index, element in enumerate(_list(event, "quantityList", where)):
        at = f"{where}.quantityList[{index}]"
        uri = element.get("epcClass") if isinstance(element, dict) else None
        lots.setdefault(_lot(uri, f"{at}.epcClass", names.lot_of), f"quantityList[{index}]")
        grams = _grams(element, at)
        if grams is not None:
            masses.append((at, grams))
    stated = event.get("gt:lot")
    if stated is not None:
        if not isinstance(stated, str) or not LOT_ID.fullmatch(stated):
            raise EpcisError(f"{where}.gt:lot", "must be a lot id")
        lots.setdefault(stated, "gt:lot")
    if len(lots) != 1:
        raise EpcisError(
            f"{where}.epcList",
            "names no lot"
            if not lots
            else f"names {len(lots)} objects ({', '.join(sorted(lots)[:3])}…); "
            "a Goldtrail event concerns one lot: send one event per lot",
        )
    (lot,) = lots
    if masses:
        if action not in _MASS_ACTIONS and action != "assayed":
            raise EpcisError(masses[0][0], f"{action} states no mass: Goldtrail would lose it")
        if len(masses) > 1:
            raise EpcisError(masses[1][0], "one lot has one mass: the event states several")
        at, grams = masses[0]
        if "mass_g" in data and _stated_grams(data["mass_g"]) != grams:
            raise EpcisError(at, f"says {grams} g, gt:data.mass_g {str(data['mass_g'])[:40]}")
        data["mass_g"] = _number(grams)
    if action in _MASS_ACTIONS:
        missing = [name for name in ("form", "mass_g", "fineness") if name not in data]
        if missing:
            raise EpcisError(
                f"{where}.gt:data",
                f"{action} must state the lot's {', '.join(missing)}: give them in gt:data",
            )
    if "gt:data" not in event:  # Goldtrail's own export: gt:data is what was signed
        data.update(_destination(event, action, where, who, names.partner_of))
    elif _list(event, "destinationList", where) and "to" not in data:
        raise EpcisError(f"{where}.destinationList", "names a destination gt:data.to does not")
    body: dict[str, Any] = {
        "type": "goldtrail.event.v1",
        "lot": lot,
        "partner": who,
        "stage": _stage(event, action, where),
        "action": action,
        "occurred_at": _time(event, where),
        "data": data,
    }
    return Draft("event", body)


def _items(event: Mapping[str, Any], name: str, where: str) -> list[dict[str, Any]] | None:
    value = event.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise EpcisError(f"{where}.{name}", "must be a list of objects")
    return [dict(item) for item in value]


def _transformation_event(
    event: Mapping[str, Any], where: str, partner: str | None, names: _Names
) -> Draft:
    action = _action(event, where, "TransformationEvent")
    who = _partner(event, partner, where)
    inputs = _items(event, "gt:inputs", where)
    if inputs is not None:
        inputs = [{k: v for k, v in item.items() if k != "prev"} for item in inputs]
    else:
        inputs = []
        for index, epc in enumerate(_list(event, "inputEPCList", where)):
            inputs.append({"lot": _lot(epc, f"{where}.inputEPCList[{index}]", names.lot_of)})
        for index, element in enumerate(_list(event, "inputQuantityList", where)):
            at = f"{where}.inputQuantityList[{index}]"
            uri = element.get("epcClass") if isinstance(element, dict) else None
            if _grams(element, at) is not None:
                raise EpcisError(
                    f"{at}.quantity",
                    "Goldtrail takes fine gold from an input (gt:inputs[].fine_g); a gross "
                    "quantity cannot say how much",
                )
            inputs.append({"lot": _lot(uri, f"{at}.epcClass", names.lot_of)})
    outputs = _items(event, "gt:outputs", where)
    if outputs is None:
        outputs = []
        stated = [
            (f"outputEPCList[{i}]", epc, None)
            for i, epc in enumerate(_list(event, "outputEPCList", where))
        ] + [
            (f"outputQuantityList[{i}]", q.get("epcClass") if isinstance(q, dict) else None, q)
            for i, q in enumerate(_list(event, "outputQuantityList", where))
        ]
        if stated:
            at = f"{where}.{stated[0][0]}"
            raise EpcisError(
                at,
                "an output lot needs its form, mass and fineness: give them in gt:outputs",
            )
    if not outputs:
        raise EpcisError(f"{where}.outputQuantityList", "a transformation makes at least one lot")
    body: dict[str, Any] = {
        "type": "goldtrail.transformation.v1",
        "partner": who,
        "stage": _stage(event, action, where),
        "action": action,
        "occurred_at": _time(event, where),
        "inputs": inputs,
        "outputs": outputs,
        "data": _data(event, where),
    }
    return Draft("transformation", body)


@dataclass(frozen=True, slots=True)
class _Names:
    lot_of: Callable[[str], str]
    partner_of: Callable[[str], str]


def _events(document: Any) -> tuple[list[Any], str]:
    if isinstance(document, dict):
        body = document.get("epcisBody")
        events = body.get("eventList") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise EpcisError("epcisBody.eventList", "is required: an EPCISDocument's events")
        return events, "epcisBody.eventList"
    if isinstance(document, str | bytes) or not isinstance(document, Iterable):
        raise EpcisError("document", "must be an EPCISDocument or a list of events")
    return list(document), "events"


def to_goldtrail(
    document: dict[str, Any] | Iterable[dict[str, Any]],
    *,
    partner: str | None = None,
    lot_of: Callable[[str], str] = _default_lot_of,
    partner_of: Callable[[str], str] = _default_partner_of,
    ignore: Iterable[str] = (),
) -> list[Draft]:
    """One draft per ObjectEvent or TransformationEvent, in order, or EpcisError.

    ``partner`` is who states them (you): events naming another partner are refused, never
    signed for them. ``lot_of`` turns an EPC, EPC class or Digital Link into a lot id (by
    default: a Goldtrail card URL, a GS1 EPC URN or Digital Link, see ``gs1_lot_id``);
    ``partner_of`` a party's identifier into a partner id (by default a Goldtrail partner
    URL). ``ignore`` names event members you accept Goldtrail will not record.
    """
    events, where = _events(document)
    names = _Names(lot_of, partner_of)
    skip = frozenset(ignore)
    drafts = []
    for index, event in enumerate(events):
        at = f"{where}[{index}]"
        if not isinstance(event, dict):
            raise EpcisError(at, "must be an event object")
        kind = event.get("type")
        if not isinstance(kind, str) or kind not in _READ:
            raise EpcisError(f"{at}.type", f"{str(kind)[:40]} has no Goldtrail counterpart")
        _members(event, kind, at, skip)
        if kind == "ObjectEvent":
            drafts.append(_object_event(event, at, partner, names))
        else:
            drafts.append(_transformation_event(event, at, partner, names))
    return drafts
