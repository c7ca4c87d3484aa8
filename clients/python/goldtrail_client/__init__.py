"""Goldtrail's partner client: sign and post custody events, read lots, and verify the
service's documents offline. Depends on httpx, cryptography and rfc8785 only."""

from goldtrail_client.client import HEAD, BatchResult, Goldtrail
from goldtrail_client.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    GoldtrailError,
    Invalid,
    NotFound,
    StaleHead,
    Unauthorized,
    Unavailable,
)
from goldtrail_client.keys import Key, PublicKey
from goldtrail_client.signing import (
    canonical,
    event_body,
    sign_event,
    sign_transformation,
    transformation_body,
)
from goldtrail_client.verify import (
    Report,
    verify_credential,
    verify_export,
    verify_passport,
    verify_receipt,
)
from goldtrail_client.webhooks import verify_webhook

__all__ = [
    "HEAD",
    "BatchResult",
    "Conflict",
    "FieldProblem",
    "Forbidden",
    "Goldtrail",
    "GoldtrailError",
    "Invalid",
    "Key",
    "NotFound",
    "PublicKey",
    "Report",
    "StaleHead",
    "Unauthorized",
    "Unavailable",
    "canonical",
    "event_body",
    "sign_event",
    "sign_transformation",
    "transformation_body",
    "verify_credential",
    "verify_export",
    "verify_passport",
    "verify_receipt",
    "verify_webhook",
]
