"""Ledger entries, the service's registry records and its receipts (docs/PROTOCOL.md §4–§5).

Every ledger entry has a global sequence number ``seq``, a ``kind``, a JSON
``body`` whose canonical bytes are hashed, the ``signature`` of whoever made
the body (the partner for events, the service for registry records), and a
``receipt``: the service's signature over the entry's position, binding
``seq``, ``kind``, ``hash`` and ``recorded_at`` together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .canonical import canonical_bytes
from .errors import FieldError
from .hashing import is_hash, sha256_hex
from .keys import PublicKey, SigningKey, b64decode_strict, b64encode

__all__ = [
    "CLAIM_TYPE",
    "ENTRY_KINDS",
    "KEY_TYPE",
    "LEAF_TYPE",
    "PARTNER_TYPE",
    "RECEIPT_TYPE",
    "REVOCATION_TYPE",
    "LedgerEntry",
    "key_record",
    "leaf_bytes",
    "partner_record",
    "receipt_bytes",
    "revocation_record",
]

PARTNER_TYPE = "goldtrail.partner.v1"
KEY_TYPE = "goldtrail.key.v1"
REVOCATION_TYPE = "goldtrail.key-revocation.v1"
RECEIPT_TYPE = "goldtrail.receipt.v1"
LEAF_TYPE = "goldtrail.leaf.v1"
SERVICE_KEY_TYPE = "goldtrail.service-key.v1"
CLAIM_TYPE = "goldtrail.claim.v1"

ENTRY_KINDS: dict[str, str] = {
    "event": "goldtrail.event.v1",
    "transformation": "goldtrail.transformation.v1",
    "partner": PARTNER_TYPE,
    "key": KEY_TYPE,
    "key_revocation": REVOCATION_TYPE,
    "summary": "goldtrail.summary.v1",
    "service_key": SERVICE_KEY_TYPE,
    "claim": CLAIM_TYPE,
}


def partner_record(
    *, partner: str, name: str, roles: list[str], country: str | None, registered_at: str
) -> dict[str, Any]:
    return {
        "type": PARTNER_TYPE,
        "partner": partner,
        "name": name,
        "roles": sorted(roles),
        "country": country,
        "registered_at": registered_at,
    }


def key_record(*, partner: str, public_key: PublicKey, registered_at: str) -> dict[str, Any]:
    return {
        "type": KEY_TYPE,
        "partner": partner,
        "key": public_key.key_id,
        "public_key": public_key.b64,
        "registered_at": registered_at,
    }


def revocation_record(*, partner: str, key: str, revoked_at: str, reason: str) -> dict[str, Any]:
    return {
        "type": REVOCATION_TYPE,
        "partner": partner,
        "key": key,
        "revoked_at": revoked_at,
        "reason": reason,
    }


# Receipts and leaves are made for every entry appended and checked for every entry
# verified: when every string is plain ASCII that RFC 8785 writes as it is, their
# canonical bytes are written directly, members in JCS order (tested equal to JCS).
_PLAIN = re.compile(r"^[A-Za-z0-9+/=:._-]*$")
_SAFE_SEQ = 2**53 - 1


def _plain(*values: str) -> bool:
    return all(type(v) is str and _PLAIN.fullmatch(v) for v in values)


def receipt_bytes(*, seq: int, kind: str, entry_hash: str, recorded_at: str) -> bytes:
    """The canonical bytes the service signs to place an entry at ``seq``."""
    if type(seq) is int and 0 <= seq <= _SAFE_SEQ and _plain(kind, entry_hash, recorded_at):
        return (
            f'{{"hash":"{entry_hash}","kind":"{kind}","recorded_at":"{recorded_at}",'
            f'"seq":{seq},"type":"{RECEIPT_TYPE}"}}'
        ).encode("ascii")
    return canonical_bytes(
        {
            "type": RECEIPT_TYPE,
            "seq": seq,
            "kind": kind,
            "hash": entry_hash,
            "recorded_at": recorded_at,
        }
    )


def leaf_bytes(
    *, seq: int, kind: str, entry_hash: str, signature: str, signer: str, recorded_at: str
) -> bytes:
    """The bytes of the entry's leaf in the transparency log (docs/PROTOCOL.md §8).

    The body is bound through its hash, so a leaf is small and fixed in shape.
    """
    if (
        type(seq) is int
        and 0 <= seq <= _SAFE_SEQ
        and _plain(kind, entry_hash, signature, signer, recorded_at)
    ):
        return (
            f'{{"hash":"{entry_hash}","kind":"{kind}","recorded_at":"{recorded_at}",'
            f'"seq":{seq},"signature":"{signature}","signer":"{signer}","type":"{LEAF_TYPE}"}}'
        ).encode("ascii")
    return canonical_bytes(
        {
            "type": LEAF_TYPE,
            "seq": seq,
            "kind": kind,
            "hash": entry_hash,
            "signature": signature,
            "signer": signer,
            "recorded_at": recorded_at,
        }
    )


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One appended entry, as stored and as exported."""

    seq: int
    kind: str
    body: dict[str, Any]
    hash: str
    signature: str
    signer: str
    recorded_at: str
    receipt: str
    stored: bytes | None = field(default=None, compare=False, repr=False)
    """The body's bytes exactly as stored, when read from a database: what was signed."""

    @classmethod
    def issue(
        cls,
        *,
        seq: int,
        kind: str,
        body: dict[str, Any],
        signature: bytes,
        signer: str,
        recorded_at: str,
        service_key: SigningKey,
        canonical: bytes | None = None,
    ) -> LedgerEntry:
        """Build an entry and sign its receipt with the service key.

        ``canonical`` may pass ``JCS(body)`` when the caller already has it.
        """
        entry_hash = sha256_hex(canonical if canonical is not None else canonical_bytes(body))
        receipt = service_key.sign(
            receipt_bytes(seq=seq, kind=kind, entry_hash=entry_hash, recorded_at=recorded_at)
        )
        return cls(
            seq=seq,
            kind=kind,
            body=body,
            hash=entry_hash,
            signature=b64encode(signature),
            signer=signer,
            recorded_at=recorded_at,
            receipt=b64encode(receipt),
        )

    @property
    def body_bytes(self) -> bytes:
        """The bytes to hash and verify: as stored if known, else ``JCS(body)``.

        Stored bytes were canonical when written; verifying them as they are makes
        any later edit show, even one that would not change the canonical form.
        """
        return self.stored if self.stored is not None else canonical_bytes(self.body)

    @property
    def leaf(self) -> bytes:
        """This entry's leaf bytes, as stored (the hash is not recomputed from the body)."""
        return leaf_bytes(
            seq=self.seq,
            kind=self.kind,
            entry_hash=self.hash,
            signature=self.signature,
            signer=self.signer,
            recorded_at=self.recorded_at,
        )

    def signature_bytes(self) -> bytes:
        return b64decode_strict(self.signature, field="signature")

    def receipt_signature(self) -> bytes:
        return b64decode_strict(self.receipt, field="receipt")

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "body": self.body,
            "hash": self.hash,
            "signature": self.signature,
            "signer": self.signer,
            "recorded_at": self.recorded_at,
            "receipt": self.receipt,
        }

    @classmethod
    def from_json(cls, obj: object, *, path: str) -> LedgerEntry:
        if not isinstance(obj, dict):
            raise FieldError(path, "must be a JSON object")
        seq = obj.get("seq")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise FieldError(f"{path}.seq", "must be a non-negative integer")
        kind = obj.get("kind")
        if kind not in ENTRY_KINDS:
            raise FieldError(f"{path}.kind", f"must be one of {', '.join(ENTRY_KINDS)}")
        body = obj.get("body")
        if not isinstance(body, dict):
            raise FieldError(f"{path}.body", "must be a JSON object")
        if not is_hash(obj.get("hash")):
            raise FieldError(f"{path}.hash", "must be a lowercase hex SHA-256")
        for name in ("signature", "signer", "recorded_at", "receipt"):
            if not isinstance(obj.get(name), str):
                raise FieldError(f"{path}.{name}", "must be a string")
        return cls(
            seq=seq,
            kind=kind,
            body=body,
            hash=obj["hash"],
            signature=obj["signature"],
            signer=obj["signer"],
            recorded_at=obj["recorded_at"],
            receipt=obj["receipt"],
            stored=canonical_bytes(body),  # an export carries the body as JSON: its JCS form
        )
