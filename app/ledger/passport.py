"""The green passport: one self-contained, self-verifying document per lot (PROTOCOL.md §16).

A passport is a genealogy export (§15) that also states the lot's summary and
the partners who signed its journey, proves every entry against one signed
checkpoint, and is signed as a whole by the service key. ``verify_passport``
checks all of it with this package alone: the service's signature over every
byte, the registry and every entry (hash, chain link, key valid at its seq,
partner signature, receipt), every inclusion proof and the checkpoint's
signature, the replay with every balance, and the summary, partners and
metrics against what the entries say.
"""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal
from typing import Any

from app.ledger.balance import ARITHMETIC, plain
from app.ledger.canonical import canonical_bytes
from app.ledger.errors import FieldError, LedgerError
from app.ledger.genealogy import Bundle, check_bundle
from app.ledger.keys import PublicKey
from app.ledger.metrics import Carried
from app.ledger.note import NoteVerifier, open_checkpoint
from app.ledger.records import PARTNER_TYPE, LedgerEntry
from app.ledger.report import Check, Report

__all__ = [
    "PASSPORT_FORMAT",
    "partner_list",
    "passport_signing_bytes",
    "summary_of",
    "verify_passport",
]

PASSPORT_FORMAT = "goldtrail.passport.v1"


def passport_signing_bytes(doc: dict[str, Any]) -> bytes:
    """What the service signs: JCS of the passport without its ``signature`` member."""
    return canonical_bytes({k: v for k, v in doc.items() if k != "signature"})


def summary_of(carried: Carried, *, lot: str, head: str, length: int) -> dict[str, Any]:
    """The summary a passport states, from what the replay says of the lot."""
    closed = carried.sold or (carried.mass_g is not None and carried.mass_g == 0)
    fine = carried.fine_g
    return {
        "lot": lot,
        "form": carried.form,
        "mass_g": None if carried.mass_g is None else plain(carried.mass_g),
        "fineness": None if carried.fineness is None else plain(carried.fineness),
        "fine_gold_g": None
        if carried.mass_g is None
        else plain(fine.quantize(Decimal("1e-6"), context=ARITHMETIC)),
        "custodian": carried.holder,
        "stage": carried.stage,
        "closed": closed,
        "head": head,
        "length": length,
    }


def partner_list(registry: list[LedgerEntry]) -> list[dict[str, Any]]:
    """The partners of the registry records, as a passport lists them."""
    return [
        {
            "id": e.body.get("partner"),
            "name": e.body.get("name"),
            "roles": e.body.get("roles"),
            "country": e.body.get("country"),
        }
        for e in registry
        if e.body.get("type") == PARTNER_TYPE
    ]


def _signature_check(doc: dict[str, Any], key: PublicKey, lot: str) -> Check:
    raw = doc.get("signature")
    try:
        signature = base64.b64decode(str(raw), validate=True)
        key.verify(passport_signing_bytes(doc), signature, what="the passport")
    except (binascii.Error, LedgerError) as exc:
        return Check(
            "passport signature", False, f"{exc}: some byte of the passport changed", lot=lot
        )
    return Check(
        "passport signature", True, "the service signed every byte of this passport", lot=lot
    )


def _coverage_check(doc: dict[str, Any], log_key: NoteVerifier, lot: str) -> Check:
    """Every entry must be proven against the one checkpoint: none may be left out."""
    log = doc.get("log")
    if not isinstance(log, dict):
        return Check("checkpoint", False, "the passport carries no checkpoint", lot=lot)
    try:
        checkpoint = open_checkpoint(str(log.get("checkpoint")), log_key)
    except LedgerError as exc:
        return Check("checkpoint", False, str(exc), lot=lot)
    entries = [*(doc.get("registry") or []), *(doc.get("entries") or [])]
    missing = [
        e.get("seq") for e in entries if isinstance(e, dict) and e.get("seq", 0) >= checkpoint.size
    ]
    if missing:
        return Check(
            "checkpoint", False, f"entries {missing[:5]} lie beyond the checkpoint", lot=lot
        )
    return Check(
        "checkpoint",
        True,
        f"every entry lies within checkpoint {checkpoint.origin} size {checkpoint.size}",
        lot=lot,
    )


def _summary_check(doc: dict[str, Any], bundle: Bundle, lot: str) -> Check:
    head = bundle.checker.heads.get(lot)
    carried = None if bundle.replay is None else bundle.replay.lots.get(lot)
    if carried is None or head is None:
        return Check("summary", False, "the entries do not give the lot's state", lot=lot)
    computed = summary_of(carried, lot=lot, head=head.hash, length=head.lot_seq + 1)
    claimed = doc.get("summary")
    if not isinstance(claimed, dict):
        return Check("summary", False, "the passport states no summary", lot=lot)
    differ = sorted(k for k in set(computed) | set(claimed) if claimed.get(k) != computed.get(k))
    detail = "; ".join(
        f"{k}: claimed {claimed.get(k)!r}, recomputed {computed.get(k)!r}" for k in differ
    )
    return Check(
        "summary",
        not differ,
        detail or f"{computed['fine_gold_g']} g fine gold, held by {computed['custodian']}",
        lot=lot,
    )


def verify_passport(
    doc: object, *, log_key: NoteVerifier, service_key: PublicKey | None = None
) -> tuple[Report, dict[str, Any] | None]:
    """Verify a passport with the log's verifier key; return the report and the metrics.

    Raises FieldError only when the document is not a passport at all.
    """
    if not isinstance(doc, dict) or doc.get("format") != PASSPORT_FORMAT:
        raise FieldError("format", f"not a {PASSPORT_FORMAT} document")
    lot = doc.get("lot")
    if not isinstance(lot, str):
        raise FieldError("lot", "must be a string")
    key = service_key or log_key.public
    bundle = check_bundle(doc, lot, service_key=key, log_key=log_key)
    report = bundle.report
    report.checks.insert(0, _signature_check(doc, key, lot))
    report.checks.append(_coverage_check(doc, log_key, lot))
    report.checks.append(_summary_check(doc, bundle, lot))
    partners_ok = doc.get("partners") == partner_list(bundle.registry)
    report.checks.append(
        Check(
            "partners",
            partners_ok,
            "the partners listed are those of the registry records"
            if partners_ok
            else "the partners listed differ from the registry records",
            lot=lot,
        )
    )
    return report, bundle.metrics
