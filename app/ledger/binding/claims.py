"""One-time claim codes for pieces without a chip (docs/PROTOCOL.md §21.3).

A jeweler prints a random code under a scratch-off or inside the box and signs, on the
lot's chain, only its commitment ``SHA-256("goldtrail.claim-code.v1" ‖ 0x0A ‖ lot ‖ 0x0A ‖
code)``: the code is never stored, and a code printed for another piece commits to
another lot. The first buyer who presents it claims the piece: the service appends a
claim record it signs (``goldtrail.claim.v1``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from ..records import CLAIM_TYPE

__all__ = [
    "CLAIM_TYPE",
    "CODE_ALPHABET",
    "claim_commitment",
    "claim_record",
    "new_claim_code",
    "normalize_code",
]

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
"""No 0/O, 1/I/L or U: a code read off a card is typed back right."""
CODE_LENGTH = 20
"""20 symbols of 30: about 98 bits, far beyond guessing at the claim route's rate."""


def new_claim_code() -> str:
    """A fresh code, grouped by four: ``XXXX-XXXX-XXXX-XXXX-XXXX``."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize_code(code: str) -> str:
    """What is hashed: upper case, without spaces or dashes."""
    return re.sub(r"[\s-]", "", code).upper()


def claim_commitment(lot: str, code: str) -> str:
    message = b"goldtrail.claim-code.v1\n" + lot.encode() + b"\n" + normalize_code(code).encode()
    return hashlib.sha256(message).hexdigest()


def claim_record(*, lot: str, commitment: str, claimed_at: str) -> dict[str, Any]:
    """The body of the claim record the service signs when a code is first presented."""
    return {
        "type": CLAIM_TYPE,
        "lot": lot,
        "claim_code_sha256": commitment,
        "claimed_at": claimed_at,
    }
