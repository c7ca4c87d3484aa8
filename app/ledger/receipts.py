"""Offline verification against the transparency log: receipts and logged exports.

A receipt (docs/PROTOCOL.md §10) holds one entry, its RFC 9162 inclusion proof
and the C2SP checkpoint it is proven against. Verifying it needs only the log's
verifier key: the checkpoint's signature and origin, the entry's hash, its leaf,
the inclusion proof to the checkpoint's root, and the service's receipt.
"""

from __future__ import annotations

import base64
import binascii

from app.ledger.errors import FieldError, LedgerError
from app.ledger.hashing import sha256_hex
from app.ledger.note import NoteVerifier, open_checkpoint
from app.ledger.records import LedgerEntry, receipt_bytes
from app.ledger.report import Check, Report
from app.ledger.verify import verify_in_checkpoint

__all__ = ["RECEIPT_FORMAT", "verify_receipt"]

RECEIPT_FORMAT = "goldtrail.log-receipt.v1"


def _proof(value: object, field: str) -> list[bytes]:
    if not isinstance(value, list) or len(value) > 64:
        raise FieldError(field, "must be a list of at most 64 base64 hashes")
    try:
        hashes = [base64.b64decode(item, validate=True) for item in value]
    except (binascii.Error, TypeError) as exc:
        raise FieldError(field, "holds something that is not base64") from exc
    if any(len(h) != 32 for h in hashes):
        raise FieldError(field, "holds something that is not a SHA-256 hash")
    return hashes


def verify_receipt(doc: object, *, log_key: NoteVerifier) -> Report:
    """Check a receipt offline; the report names every check and what failed."""
    if not isinstance(doc, dict) or doc.get("format") != RECEIPT_FORMAT:
        raise FieldError("format", f"not a {RECEIPT_FORMAT} document")
    report = Report()
    try:
        checkpoint = open_checkpoint(str(doc.get("checkpoint")), log_key)
    except LedgerError as exc:
        report.checks.append(Check("checkpoint", False, str(exc)))
        return report
    report.checks.append(
        Check("checkpoint", True, f"signed by {log_key.name}, tree size {checkpoint.size}")
    )
    entry = LedgerEntry.from_json(doc.get("entry"), path="entry")
    if doc.get("tree_size") != checkpoint.size or doc.get("index") != entry.seq:
        report.checks.append(
            Check("receipt", False, "tree_size or index disagree with the checkpoint or entry")
        )
    entry_hash = sha256_hex(entry.body_bytes)
    report.checks.append(
        Check(
            "entry hash",
            entry_hash == entry.hash,
            "body hashes to the entry's hash"
            if entry_hash == entry.hash
            else f"body hashes to {entry_hash[:16]}…, entry says {entry.hash[:16]}…",
            seq=entry.seq,
            hash=entry.hash,
        )
    )
    problem = verify_in_checkpoint(
        entry, _proof(doc.get("inclusion_proof"), "inclusion_proof"), checkpoint
    )
    report.checks.append(
        Check(
            "inclusion",
            problem is None,
            problem or f"leaf {entry.seq} is in the tree of size {checkpoint.size}",
            seq=entry.seq,
        )
    )
    try:
        log_key.public.verify(
            receipt_bytes(
                seq=entry.seq, kind=entry.kind, entry_hash=entry_hash, recorded_at=entry.recorded_at
            ),
            entry.receipt_signature(),
            what="service receipt",
        )
        report.checks.append(
            Check("service receipt", True, "signed by the log's key", seq=entry.seq)
        )
    except LedgerError as exc:
        report.checks.append(Check("service receipt", False, str(exc), seq=entry.seq))
    return report
