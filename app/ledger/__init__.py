"""The verifiable core of Goldtrail, split by concern.

Pure functions over bytes and frozen values. It imports neither FastAPI nor
SQLAlchemy, so a holder of an export can verify it offline with this package alone.

The floors, each importing only those below it (checked by import-linter, see
``pyproject.toml``):

* the shared primitives, in this folder — ``canonical`` (RFC 8785, docs/PROTOCOL.md §1),
  ``errors``, ``hashing``, ``keys`` (Ed25519 and key ids, §2), ``events`` (§3),
  ``records`` (ledger entries, registry records, receipts' and leaves' bytes, §4, §5, §8),
  ``report`` (the checks a verification reports);
* ``log/`` — the Merkle tree, checkpoints and the service key's history (§8–§10, §19);
* ``provenance/`` — facts, transformations, mass balance, metrics replay and summaries
  (§13–§15, §18);
* ``binding/`` — binding a passport to the physical piece: NFC SUN messages, claim codes
  (§21);
* ``documents/`` — what a holder verifies: exports, genealogy exports, passports,
  receipts and credentials (§6, §11, §15–§17).
"""

from .canonical import canonical_bytes, decimal_of, parse_strict
from .documents.export import EXPORT_FORMAT, verify_lot_export
from .errors import (
    CanonicalizationError,
    FieldError,
    InvalidSignature,
    LedgerError,
    MalformedInput,
)
from .events import ACTIONS, EVENT_TYPE, STAGES, Event
from .hashing import sha256_hex
from .keys import PublicKey, SigningKey, key_id_of
from .records import LedgerEntry
from .report import Check, Report

__all__ = [
    "ACTIONS",
    "EVENT_TYPE",
    "EXPORT_FORMAT",
    "STAGES",
    "CanonicalizationError",
    "Check",
    "Event",
    "FieldError",
    "InvalidSignature",
    "LedgerEntry",
    "LedgerError",
    "MalformedInput",
    "PublicKey",
    "Report",
    "SigningKey",
    "canonical_bytes",
    "decimal_of",
    "key_id_of",
    "parse_strict",
    "sha256_hex",
    "verify_lot_export",
]
