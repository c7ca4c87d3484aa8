"""The passport as a W3C Verifiable Credential 2.0 with an eddsa-jcs-2022 proof (PROTOCOL.md §17).

The Data Integrity proof follows "Data Integrity EdDSA Cryptosuites v1.0",
§3.3 (eddsa-jcs-2022): the proof configuration is the proof without
``proofValue`` (with the credential's ``@context``), both are canonicalised
with RFC 8785, and the service key signs SHA-256(proof configuration) ‖
SHA-256(credential without proof). ``proofValue`` is the signature in
base58-btc multibase (``z…``). The issuer is a ``did:key`` of the service key
by default, or a ``did:web`` whose document the service publishes.
"""

from __future__ import annotations

import hashlib
from typing import Any

import base58

from ..canonical import canonical_bytes
from ..errors import FieldError, LedgerError
from ..keys import PublicKey, SigningKey
from ..report import Check, Report

__all__ = [
    "CREDENTIALS_V2",
    "CRYPTOSUITE",
    "GOLDTRAIL_CREDENTIALS_CONTEXT",
    "GOLDTRAIL_CREDENTIALS_V1",
    "did_key",
    "issue_credential",
    "multikey",
    "public_key_of_did_key",
    "verify_credential",
]

CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
GOLDTRAIL_CREDENTIALS_V1 = "https://w3id.org/goldtrail/credentials/v1"
"""The context defining every term of a passport credential the VC 2.0 context does not
(docs/PROTOCOL.md §17). Its document is ``GOLDTRAIL_CREDENTIALS_CONTEXT``, also served at
``/contexts/credentials/v1``; JSON-LD processors load it from a local copy, as they do the
W3C contexts."""

_VC = "https://w3id.org/goldtrail/vc#"
GOLDTRAIL_CREDENTIALS_CONTEXT: dict[str, Any] = {
    "@context": {
        "@protected": True,
        "GreenGoldPassport": f"{_VC}GreenGoldPassport",
        "GoldLot": f"{_VC}GoldLot",
        "summary": {"@id": f"{_VC}summary", "@type": "@json"},
        "metrics": {"@id": f"{_VC}metrics", "@type": "@json"},
        "passport": {"@id": f"{_VC}passport", "@type": "@json"},
        "checkpoint": {"@id": f"{_VC}checkpoint", "@type": "@json"},
    }
}
CRYPTOSUITE = "eddsa-jcs-2022"
_ED25519_PUB = b"\xed\x01"  # multicodec ed25519-pub, as an unsigned varint


def multikey(public: PublicKey) -> str:
    """The key as a Multikey ``publicKeyMultibase``: ``z`` + base58-btc(0xed01 ‖ key)."""
    return "z" + base58.b58encode(_ED25519_PUB + public.raw).decode("ascii")


def did_key(public: PublicKey) -> str:
    return f"did:key:{multikey(public)}"


def public_key_of_did_key(verification_method: str) -> PublicKey:
    """The Ed25519 key of a ``did:key:z…#z…`` verification method."""
    did, _, fragment = verification_method.partition("#")
    if not did.startswith("did:key:z") or fragment != did.removeprefix("did:key:"):
        raise FieldError("proof.verificationMethod", "must be did:key:z…#z… of one key")
    try:
        decoded = base58.b58decode(did.removeprefix("did:key:z"))
    except ValueError as exc:
        raise FieldError("proof.verificationMethod", "not base58-btc") from exc
    if len(decoded) != 34 or decoded[:2] != _ED25519_PUB:
        raise FieldError("proof.verificationMethod", "not an Ed25519 Multikey")
    return PublicKey(decoded[2:])


def _hash_data(document: dict[str, Any], proof_options: dict[str, Any]) -> bytes:
    config = hashlib.sha256(canonical_bytes(proof_options)).digest()
    return config + hashlib.sha256(canonical_bytes(document)).digest()


def issue_credential(
    document: dict[str, Any], *, key: SigningKey, verification_method: str, created: str
) -> dict[str, Any]:
    """Add an eddsa-jcs-2022 DataIntegrityProof to ``document`` (a credential without proof)."""
    proof: dict[str, Any] = {
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": "assertionMethod",
    }
    if "@context" in document:
        proof["@context"] = document["@context"]
    signature = key.sign(_hash_data(document, proof))
    proof["proofValue"] = "z" + base58.b58encode(signature).decode("ascii")
    return {**document, "proof": proof}


def verify_credential(credential: object, *, public_key: PublicKey | None = None) -> Report:
    """Verify the credential's proof; ``public_key`` is needed for an issuer other than did:key."""
    if not isinstance(credential, dict) or not isinstance(credential.get("proof"), dict):
        raise FieldError("proof", "not a credential with a proof")
    proof = dict(credential["proof"])
    document = {k: v for k, v in credential.items() if k != "proof"}
    checks = [
        Check(
            "context",
            isinstance(document.get("@context"), list)
            and document["@context"][:1] == [CREDENTIALS_V2],
            f"@context begins with {CREDENTIALS_V2}",
        ),
        Check(
            "suite",
            proof.get("type") == "DataIntegrityProof" and proof.get("cryptosuite") == CRYPTOSUITE,
            f"DataIntegrityProof with {CRYPTOSUITE}",
        ),
    ]
    if "@context" in proof and proof["@context"] != document.get("@context"):
        checks.append(Check("context", False, "the proof's @context is not the credential's"))
    value = str(proof.pop("proofValue", ""))
    try:
        key = public_key or public_key_of_did_key(str(proof.get("verificationMethod")))
        if not value.startswith("z"):
            raise FieldError("proof.proofValue", "must be base58-btc multibase (z…)")
        key.verify(
            _hash_data(document, proof),
            base58.b58decode(value[1:]),
            what="the credential's proof",
        )
        checks.append(Check("proof", True, f"signed by {proof.get('verificationMethod')}"))
    except (LedgerError, ValueError) as exc:
        checks.append(Check("proof", False, str(exc)))
    return Report(checks)
