# Generated from app/ledger/hashing.py by tools/client_core.py: do not edit.
"""SHA-256 digests as they appear in the ledger: 64 lowercase hex characters."""

from __future__ import annotations

import hashlib
import re

__all__ = ["HASH_PATTERN", "is_hash", "sha256_hex"]

HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_hash(value: object) -> bool:
    return isinstance(value, str) and HASH_PATTERN.fullmatch(value) is not None
