"""Checking a Goldtrail webhook delivery before trusting it (PROTOCOL.md §20)."""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "verify_webhook"]

SIGNATURE_HEADER = "Goldtrail-Signature"


def verify_webhook(secret: str, header: str, body: bytes, *, tolerance: float = 300.0) -> bool:
    """Whether ``body`` came from Goldtrail: ``header`` is ``t=<unix time>,v1=<hex HMAC-SHA256
    of "<t>." + body under the secret>``, and ``t`` is within ``tolerance`` seconds of now (a
    replayed old delivery is refused). Compare before parsing the body."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        stamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(time.time() - stamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given, expected)
