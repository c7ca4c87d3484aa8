"""Offline verification against the transparency log: receipts and logged exports.

A receipt (docs/PROTOCOL.md §10) holds one entry, its RFC 9162 inclusion proof
and the C2SP checkpoint it is proven against. Verifying it needs only the log's
verifier key: the checkpoint's signature and origin, the entry's hash, its leaf,
the inclusion proof to the checkpoint's root, and the service's receipt.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..errors import FieldError, LedgerError
from ..hashing import sha256_hex
from ..log.note import NoteVerifier
from ..log.service_keys import ServiceKeyHistory
from ..records import LedgerEntry, receipt_bytes
from ..report import Check, Report
from .checks import verify_in_checkpoint

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


def _key_history(
    doc: dict[str, Any], log_key: NoteVerifier, report: Report
) -> tuple[ServiceKeyHistory, list[tuple[LedgerEntry, list[bytes]]]]:
    """The service keys the receipt's ``service_keys`` announcements state (§19); each
    announcement is proven in the receipt's checkpoint by the caller."""
    items = doc.get("service_keys") or []
    if not isinstance(items, list):
        raise FieldError("service_keys", "must be a list of announcements with proofs")
    announced = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise FieldError(f"service_keys[{i}]", "must be an object")
        entry = LedgerEntry.from_json(item.get("entry"), path=f"service_keys[{i}].entry")
        proof = _proof(item.get("inclusion_proof"), f"service_keys[{i}].inclusion_proof")
        announced.append((entry, proof))
    try:
        history = ServiceKeyHistory.from_announcements(
            [e for e, _ in announced], current=log_key.public
        )
    except LedgerError as exc:
        report.checks.append(Check("service key", False, f"the key history does not verify: {exc}"))
        return ServiceKeyHistory(log_key.public), []
    problem = history.pinned_check(log_key.public)
    if problem is not None:
        report.checks.append(Check("service key", False, problem))
    elif history.rotated:
        report.checks.append(
            Check(
                "service key",
                True,
                f"the log key {log_key.public.key_id} reaches {history.current.key_id} "
                f"through {len(history.periods) - 1} key rotation(s)",
            )
        )
    return history, announced


def verify_receipt(doc: object, *, log_key: NoteVerifier) -> Report:
    """Check a receipt offline; the report names every check and what failed."""
    if not isinstance(doc, dict) or doc.get("format") != RECEIPT_FORMAT:
        raise FieldError("format", f"not a {RECEIPT_FORMAT} document")
    report = Report()
    history, announced = _key_history(doc, log_key, report)
    if report.failures:
        return report
    try:
        checkpoint = history.open_checkpoint(str(doc.get("checkpoint")), log_key.name)
    except LedgerError as exc:
        report.checks.append(Check("checkpoint", False, str(exc)))
        return report
    signer = history.key_at(checkpoint.size)
    report.checks.append(
        Check(
            "checkpoint",
            True,
            f"signed by {log_key.name} (key {signer.key_id}), tree size {checkpoint.size}",
        )
    )
    for announcement, proof in announced:
        problem = verify_in_checkpoint(announcement, proof, checkpoint)
        report.checks.append(
            Check(
                "key handover",
                problem is None,
                problem or f"the announcement of key {announcement.body.get('key')} is in the log",
                seq=announcement.seq,
            )
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
        history.key_at(entry.seq).verify(
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
