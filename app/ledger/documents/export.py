"""A lot export's verification (docs/PROTOCOL.md §6): one lot's chain, proven in a checkpoint.

``verify_lot_export`` applies the shared chain checks to the document
``GET /v1/lots/{id}/export`` returns and, given the log's key, checks every entry's
inclusion in the export's signed checkpoint.
"""

from __future__ import annotations

from typing import Any

from ..errors import FieldError
from ..keys import PublicKey
from ..log.note import NoteVerifier
from ..records import LedgerEntry
from ..report import Check, Report
from .checks import ChainChecker, log_checks, registry_checks, service_key_check

__all__ = ["EXPORT_FORMAT", "verify_lot_export"]

EXPORT_FORMAT = "goldtrail.lot-export.v1"


def verify_lot_export(
    doc: object, *, service_key: PublicKey | None = None, log_key: NoteVerifier | None = None
) -> Report:
    """Verify a lot export; the report lists every check and every failure.

    ``service_key`` pins the service's public key; without it the key inside the
    export is used and the report says so. ``log_key`` (a ``NoteVerifier``) also
    checks every entry's inclusion proof against the export's signed checkpoint.
    Raises FieldError only when the document is not an export at all.
    """
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise FieldError("format", f"not a {EXPORT_FORMAT} document")
    lot = doc.get("lot")
    if not isinstance(lot, str):
        raise FieldError("lot", "must be a string")
    if service_key is None and log_key is not None:
        service_key = log_key.public
    registry = [
        LedgerEntry.from_json(item, path=f"registry[{i}]")
        for i, item in enumerate(doc.get("registry") or [])
    ]
    events = [
        LedgerEntry.from_json(item, path=f"events[{i}]")
        for i, item in enumerate(doc.get("events") or [])
    ]
    history, key_check = service_key_check(doc, service_key, lot, registry)
    report = Report([key_check])
    checker = ChainChecker(history)
    report.checks.extend(registry_checks(checker, registry))
    for lot_seq, entry in enumerate(events):
        problems = checker.chain_entry(entry, lot=lot, lot_seq=lot_seq)
        action = entry.body.get("action", "?")
        report.checks.append(
            Check(
                f"event #{lot_seq}",
                not problems,
                "; ".join(problems) or f"{action}: hash, link, key, signature, receipt",
                lot=lot,
                lot_seq=lot_seq,
                seq=entry.seq,
                hash=entry.hash,
            )
        )
    head = checker.heads.get(lot)
    report.checks.append(_head_check(doc, lot, head.hash if head else None, len(events)))
    if log_key is not None:
        report.checks.extend(log_checks(doc, lot, [*registry, *events], log_key, history))
    return report


def _head_check(doc: dict[str, Any], lot: str, last: str | None, count: int) -> Check:
    head, length = doc.get("head"), doc.get("length")
    ok = head == last and length == count
    detail = (
        f"chain of {count} events ends at the lot's recorded head"
        if ok
        else f"lot records head {str(head)[:16]} after {length} events; the chain has "
        f"{count} events ending at {str(last)[:16]}"
    )
    return Check("head", ok, detail, lot=lot)
