"""A lot's history as a GS1 EPCIS 2.0 document (docs/EPCIS.md).

Goldtrail events become ``ObjectEvent``s and transformations ``TransformationEvent``s, with
CBV business steps and dispositions where CBV has one and Goldtrail's own step URIs where it
has none (smelting a doré is not a CBV step). A lot is named by its card's URL, its mass is a
quantity in grams (UN/CEFACT ``GRM``), and every event carries, in the ``gt:`` extension
namespace, the signed Goldtrail body's members and the ledger entry's hash, signature and
receipt, so that the event stays verifiable: rebuild the body, hash its RFC 8785 bytes, check
the partner's signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from app.ledger.cbv import BIZ_STEPS, GOLDTRAIL_NS
from app.ledger.records import LedgerEntry

__all__ = [
    "BIZ_STEPS",
    "EPCIS_CONTEXT",
    "GOLDTRAIL_CONTEXT",
    "GOLDTRAIL_NS",
    "epcis_document",
    "lot_uri",
]

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
GOLDTRAIL_CONTEXT: dict[str, Any] = {
    "gt": GOLDTRAIL_NS,
    **{
        f"gt:{name}": {"@id": f"gt:{name}", "@type": "@json"}
        for name in ("lot", "prev", "data", "entry", "inputs", "outputs")
    },
}
"""The inline context: every ``gt:`` member is a JSON literal (``@json``), so that a JSON-LD
processor keeps the signed members whole — nested objects, nulls and all — instead of
dropping what no vocabulary defines."""

_OPENING = frozenset({"site_registered", "extracted", "recycled_intake"})
_ENTRY_MEMBERS = ("seq", "hash", "signature", "signer", "recorded_at", "receipt")


def lot_uri(base_url: str, lot: str) -> str:
    """A lot's identifier in EPCIS: the URL of its card (what its QR code holds)."""
    return f"{base_url.rstrip('/')}/p/{lot}"


def _quantity(uri: str, mass_g: object) -> dict[str, Any]:
    item: dict[str, Any] = {"epcClass": uri}
    if mass_g is not None:
        item |= {"quantity": float(Decimal(str(mass_g))), "uom": "GRM"}
    return item


def _common(entry: LedgerEntry, base_url: str) -> dict[str, Any]:
    body = entry.body
    step, disposition = BIZ_STEPS.get(str(body["action"]), ("other", "active"))
    return {
        "eventTime": body["occurred_at"],
        "eventTimeZoneOffset": "+00:00",
        "recordTime": entry.recorded_at,
        "eventID": f"{base_url.rstrip('/')}/v1/log/entries/{entry.seq}",
        "bizStep": step,
        "disposition": disposition,
        "gt:partner": body["partner"],
        "gt:stage": body["stage"],
        "gt:action": body["action"],
        "gt:occurredAt": body["occurred_at"],
        "gt:data": body["data"],
        "gt:entry": {name: getattr(entry, name) for name in _ENTRY_MEMBERS}
        | {"kind": entry.kind, "key": body["key"]},
    }


def _partner_uri(base_url: str, partner: str) -> str:
    return f"{base_url.rstrip('/')}/v1/partners/{partner}"


def _object_event(entry: LedgerEntry, base_url: str) -> dict[str, Any]:
    body = entry.body
    lot = str(body["lot"])
    data = body["data"]
    event = {
        "type": "ObjectEvent",
        **_common(entry, base_url),
        "action": "ADD" if body["prev"] is None and body["action"] in _OPENING else "OBSERVE",
        "quantityList": [_quantity(lot_uri(base_url, lot), data.get("mass_g"))],
        "gt:lot": lot,
        "gt:prev": body["prev"],
    }
    recipient = data.get("to")
    if body["action"] in ("transferred", "shipped") and isinstance(recipient, str):
        event["sourceList"] = [
            {"type": "possessing_party", "source": _partner_uri(base_url, body["partner"])}
        ]
        event["destinationList"] = [
            {"type": "possessing_party", "destination": _partner_uri(base_url, recipient)}
        ]
    return event


def _transformation_event(entry: LedgerEntry, base_url: str) -> dict[str, Any]:
    body = entry.body
    return {
        "type": "TransformationEvent",
        **_common(entry, base_url),
        "transformationID": f"{base_url.rstrip('/')}/v1/log/entries/{entry.seq}",
        "inputQuantityList": [
            _quantity(lot_uri(base_url, item["lot"]), None) for item in body["inputs"]
        ],
        "outputQuantityList": [
            _quantity(lot_uri(base_url, item["lot"]), item.get("mass_g"))
            for item in body["outputs"]
        ],
        "gt:inputs": body["inputs"],
        "gt:outputs": body["outputs"],
    }


def epcis_document(
    entries: Iterable[LedgerEntry], *, base_url: str, created: str, lot: str
) -> dict[str, Any]:
    """The EPCIS 2.0 ``EPCISDocument`` of the lot's entries (events and transformations)."""
    events = [
        _object_event(entry, base_url)
        if entry.kind == "event"
        else _transformation_event(entry, base_url)
        for entry in entries
        if entry.kind in ("event", "transformation")
    ]
    return {
        "@context": [EPCIS_CONTEXT, GOLDTRAIL_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "gt:lot": lot,
        "epcisBody": {"eventList": events},
    }
