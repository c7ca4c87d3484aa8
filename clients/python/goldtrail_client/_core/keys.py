# Generated from app/ledger/keys.py by tools/client_core.py: do not edit.
"""Ed25519 keys, key identifiers and signatures (RFC 8032 via ``cryptography``).

``InvalidSignature`` from ``cryptography`` is wrapped at this boundary into the
ledger's own :class:`~app.ledger.errors.InvalidSignature`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .errors import FieldError, InvalidSignature

__all__ = [
    "PublicKey",
    "SigningKey",
    "b64decode_strict",
    "b64encode",
    "key_id_of",
    "valid_signatures",
]

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def b64encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4)."""
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str, *, field: str, size: int | None = None) -> bytes:
    """Decode canonical standard base64; refuse other alphabets, bad padding or sizes."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise FieldError(field, "not standard base64 (RFC 4648 §4)") from exc
    if b64encode(data) != text:
        raise FieldError(field, "base64 is not in canonical form")
    if size is not None and len(data) != size:
        raise FieldError(field, f"must decode to {size} bytes, got {len(data)}")
    return data


def key_id_of(public_raw: bytes) -> str:
    """A key's id: the first 16 bytes of SHA-256 over its 32 raw bytes, as lowercase hex."""
    return hashlib.sha256(public_raw).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key in its 32-byte raw form."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != PUBLIC_KEY_SIZE:
            raise FieldError("public_key", f"must be {PUBLIC_KEY_SIZE} bytes")
        Ed25519PublicKey.from_public_bytes(self.raw)

    @classmethod
    def from_b64(cls, text: str, *, field: str = "public_key") -> PublicKey:
        return cls(b64decode_strict(text, field=field, size=PUBLIC_KEY_SIZE))

    @property
    def b64(self) -> str:
        return b64encode(self.raw)

    @property
    def key_id(self) -> str:
        return key_id_of(self.raw)

    def verify(self, message: bytes, signature: bytes, *, what: str) -> None:
        """Return if ``signature`` is valid for ``message``; else raise InvalidSignature."""
        if len(signature) != SIGNATURE_SIZE:
            raise InvalidSignature(f"{what}: signature is not {SIGNATURE_SIZE} bytes")
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except _CryptoInvalidSignature as exc:
            raise InvalidSignature(what) from exc


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 private key."""

    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise FieldError("key", "not an Ed25519 private key")
        return cls(key)

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        return cls.from_pem(path.read_bytes())

    def to_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public(self) -> PublicKey:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return PublicKey(raw)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def valid_signatures(tasks: list[tuple[bytes, bytes, bytes]]) -> list[int]:
    """Indexes of the (public key, signature, message) triples whose signature verifies.

    A plain function of bytes, so that an audit can spread it over processes.
    """
    valid = []
    for index, (raw, signature, message) in enumerate(tasks):
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
        except (_CryptoInvalidSignature, ValueError):
            continue
        valid.append(index)
    return valid
