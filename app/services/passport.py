"""The green passport of a lot: the signed bundle, its credential, and what the page shows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from app.db import read_transaction
from app.ledger.canonical import canonical_bytes
from app.ledger.credentials import (
    CREDENTIALS_V2,
    did_key,
    issue_credential,
    multikey,
)
from app.ledger.keys import b64encode
from app.ledger.note import open_checkpoint
from app.ledger.passport import (
    PASSPORT_FORMAT,
    partner_list,
    passport_signing_bytes,
    summary_of,
    verify_passport,
)
from app.ledger.report import Report
from app.models import repository
from app.models.repository import CheckpointRow
from app.services import genealogy, log
from app.services.clock import format_time, utc_now
from app.services.context import LedgerContext
from app.services.errors import NotFound

__all__ = ["Passport", "build", "credential", "did_document", "issuer", "require_lot"]


@dataclass(frozen=True, slots=True)
class Passport:
    doc: dict[str, Any]
    report: Report
    """What the service's own offline verification of the bundle found."""

    @property
    def digest(self) -> str:
        return hashlib.sha256(canonical_bytes(self.doc)).hexdigest()


def _bundle(
    ctx: LedgerContext, lot_id: str, checkpoint: CheckpointRow | None
) -> tuple[dict[str, Any], int]:
    tolerance = ctx.settings.assay_tolerance
    with read_transaction(ctx.engine) as conn:
        state = repository.lot_state(conn, lot_id)
        if state is None:
            raise NotFound("lot.unknown", f"no lot {lot_id}", field="lot_id")
        found = genealogy.replay_of(conn, lot_id, tolerance)
        doc = genealogy.export_genealogy(
            conn,
            lot_id,
            service_key=ctx.service_key.public,
            tolerance=tolerance,
            checkpoint=checkpoint,
            replayed=found,
        )
    carried = found.replay.lots[lot_id]
    last_seq = max(e.seq for e in [*found.entries, *found.registry])
    passport = {
        "format": PASSPORT_FORMAT,
        "lot": lot_id,
        # The checkpoint's time: the same lot proven against the same checkpoint is the
        # same passport, byte for byte (Ed25519 signatures are deterministic).
        "issued_at": checkpoint.issued_at if checkpoint is not None else format_time(utc_now()),
        "service_key": doc["service_key"],
        "assay_tolerance": doc["assay_tolerance"],
        "summary": summary_of(carried, lot=lot_id, head=state.head, length=state.length),
        "metrics": doc["metrics"],
        "partners": partner_list(found.registry),
        "lots": found.lots,
        "registry": doc["registry"],
        "entries": doc["entries"],
        "log": doc.get("log"),
    }
    return passport, last_seq


def require_lot(ctx: LedgerContext, lot_id: str) -> None:
    """Raise NotFound unless the lot exists."""
    with read_transaction(ctx.engine) as conn:
        if repository.lot_state(conn, lot_id) is None:
            raise NotFound("lot.unknown", f"no lot {lot_id}", field="lot_id")


def build(ctx: LedgerContext, lot_id: str) -> Passport:
    """The lot's passport, proven against one checkpoint that covers every entry, signed."""
    checkpoint = log.checkpoint_or_latest(ctx)
    doc, last_seq = _bundle(ctx, lot_id, checkpoint)
    if checkpoint is None or last_seq >= checkpoint.size:
        # The lot moved after the last checkpoint: prove it against a new one.
        checkpoint = log.issue_checkpoint(ctx, force=True)
        doc, _ = _bundle(ctx, lot_id, checkpoint)
    doc["signature"] = b64encode(ctx.service_key.sign(passport_signing_bytes(doc)))
    report, _ = verify_passport(doc, log_key=log.verifier(ctx))
    return Passport(doc, report)


def issuer(ctx: LedgerContext) -> tuple[str, str]:
    """The issuer's DID and the verification method of the service key."""
    did = ctx.settings.issuer_did
    if did is None:
        did = did_key(ctx.service_key.public)
        return did, f"{did}#{multikey(ctx.service_key.public)}"
    return did, f"{did}#service-key"


def did_document(ctx: LedgerContext) -> dict[str, Any]:
    """The did:web document that names the service key (for a configured ``issuer_did``)."""
    did, method = issuer(ctx)
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": [
            {
                "id": method,
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": multikey(ctx.service_key.public),
            }
        ],
        "assertionMethod": [method],
    }


def credential(ctx: LedgerContext, passport: Passport) -> dict[str, Any]:
    """The passport as a VC 2.0 credential, its subject the summary, metrics and bundle digest."""
    doc = passport.doc
    did, method = issuer(ctx)
    checkpoint = open_checkpoint(str(doc["log"]["checkpoint"]), log.verifier(ctx))
    base = ctx.settings.public_base_url.rstrip("/")
    unsigned = {
        "@context": [CREDENTIALS_V2],
        "id": f"urn:goldtrail:passport:{passport.digest}",
        "type": ["VerifiableCredential", "GreenGoldPassport"],
        "name": f"Green gold passport of {doc['lot']}",
        "issuer": {"id": did, "name": "Goldtrail"},
        "validFrom": doc["issued_at"],
        "credentialSubject": {
            "id": f"urn:goldtrail:lot:{doc['lot']}",
            "type": "GoldLot",
            "summary": doc["summary"],
            "metrics": doc["metrics"],
            "passport": {
                "format": PASSPORT_FORMAT,
                "digestSHA256": passport.digest,
                "url": f"{base}/v1/lots/{doc['lot']}/passport",
            },
            "checkpoint": {
                "origin": checkpoint.origin,
                "size": checkpoint.size,
                "rootBase64": b64encode(checkpoint.root),
                "verifierKey": str(log.verifier(ctx)),
            },
        },
    }
    return issue_credential(
        unsigned, key=ctx.service_key, verification_method=method, created=doc["issued_at"]
    )
