"""The verifiable core: canonical JSON, hashes, Ed25519 keys, events, entries, verification.

Pure functions over bytes and frozen values. It imports neither FastAPI nor
SQLAlchemy, so a holder of an export can verify it offline with this package alone.
"""

from app.ledger.canonical import canonical_bytes, decimal_of, parse_strict
from app.ledger.errors import (
    CanonicalizationError,
    FieldError,
    InvalidSignature,
    LedgerError,
    MalformedInput,
)
from app.ledger.events import ACTIONS, EVENT_TYPE, STAGES, Event
from app.ledger.hashing import sha256_hex
from app.ledger.keys import PublicKey, SigningKey, key_id_of
from app.ledger.records import LedgerEntry
from app.ledger.report import Check, Report
from app.ledger.verify import EXPORT_FORMAT, verify_lot_export

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
