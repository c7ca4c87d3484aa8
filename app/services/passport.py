"""The green passport of a lot: the signed bundle, its credential, and what the page shows."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import localcontext
from typing import Any

from sqlalchemy import Connection

from app.db import read_transaction
from app.ledger.canonical import canonical_bytes
from app.ledger.documents.credentials import (
    CREDENTIALS_V2,
    GOLDTRAIL_CREDENTIALS_V1,
    did_key,
    issue_credential,
    multikey,
)
from app.ledger.documents.passport import (
    PASSPORT_FORMAT,
    PASSPORT_V2,
    partner_list,
    passport_signing_bytes,
    replay_one_level,
    summary_of,
    verify_passport,
)
from app.ledger.errors import FieldError
from app.ledger.keys import b64encode
from app.ledger.log.service_keys import KeyPeriod, ServiceKeyHistory
from app.ledger.provenance.balance import ARITHMETIC, plain
from app.ledger.provenance.metrics import MetricsError, lot_metrics
from app.ledger.report import Report
from app.models import repository
from app.models.repository import CheckpointRow
from app.services import genealogy, log, service_keys
from app.services.clock import format_time, utc_now
from app.services.context import LedgerContext
from app.services.errors import Conflict, Inconsistent, NotFound

__all__ = [
    "Passport",
    "Served",
    "build",
    "build_v1",
    "build_v2",
    "credential",
    "did_document",
    "issuer",
    "require_lot",
    "serve",
]


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
        service_keys.in_force(conn, ctx)
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


def build_v1(ctx: LedgerContext, lot_id: str) -> Passport:
    """A version 1 passport (the whole genealogy), for a lot logged before summaries were."""
    checkpoint = log.checkpoint_or_latest(ctx)
    doc, last_seq = _bundle(ctx, lot_id, checkpoint)
    if checkpoint is None or last_seq >= checkpoint.size:
        # The lot moved after the last checkpoint: prove it against a new one.
        checkpoint = log.issue_checkpoint(ctx, force=True)
        doc, _ = _bundle(ctx, lot_id, checkpoint)
    doc["signature"] = b64encode(ctx.service_key.sign(passport_signing_bytes(doc)))
    report, _ = verify_passport(doc, log_key=log.verifier(ctx))
    return Passport(doc, report)


def _web_method(did: str, period: KeyPeriod) -> str:
    # The first service key keeps the fragment it always had, so that credentials issued
    # before any rotation still name a method the did:web document lists.
    if period.announced_seq is None:
        return f"{did}#service-key"
    return f"{did}#service-key-{period.key.key_id[:16]}"


def issuer(ctx: LedgerContext, keys: ServiceKeyHistory) -> tuple[str, str]:
    """The issuer's DID and the verification method of the service key in force (``keys``:
    the history the log states, ``service_keys.published``)."""
    did = ctx.settings.issuer_did
    if did is None:
        did = did_key(ctx.service_key.public)
        return did, f"{did}#{multikey(ctx.service_key.public)}"
    return did, _web_method(did, keys.periods[-1])


def did_document(ctx: LedgerContext) -> dict[str, Any]:
    """The did:web document that names every service key the log has used (for a configured
    ``issuer_did``): credentials signed before a rotation still resolve."""
    keys = service_keys.published(ctx)
    did, _ = issuer(ctx, keys)
    periods = keys.periods
    methods = [_web_method(did, period) for period in periods]
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": [
            {
                "id": method,
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": multikey(period.key),
            }
            for method, period in zip(methods, periods, strict=True)
        ],
        "assertionMethod": methods,
    }


def credential(ctx: LedgerContext, passport: Passport) -> dict[str, Any]:
    """The passport as a VC 2.0 credential, its subject the summary, metrics and bundle digest."""
    doc = passport.doc
    keys = service_keys.published(ctx)
    did, method = issuer(ctx, keys)
    checkpoint = keys.open_checkpoint(str(doc["log"]["checkpoint"]), ctx.settings.log_origin)
    base = ctx.settings.public_base_url.rstrip("/")
    unsigned = {
        "@context": [CREDENTIALS_V2, GOLDTRAIL_CREDENTIALS_V1],
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
                "format": doc["format"],
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


# Version 2: the lot's own chain and its inputs' logged summaries, as of a checkpoint. --------


@dataclass(frozen=True, slots=True)
class Served:
    """A passport as the API serves it: its bytes are the same for a lot and a checkpoint."""

    passport: Passport
    body: bytes
    size: int
    """The checkpoint's tree size: ``?checkpoint=`` names this passport for ever."""

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest() + '"'


_CACHE_MAX = 512


def _cached(ctx: LedgerContext, key: tuple[str, int]) -> Served | None:
    served: Served | None = ctx.memory.passports.get(key)
    return served


def _keep(ctx: LedgerContext, key: tuple[str, int], served: Served) -> None:
    cache = ctx.memory.passports
    if len(cache) >= _CACHE_MAX:
        cache.pop(next(iter(cache)))
    cache[key] = served


def serve(ctx: LedgerContext, lot_id: str, *, checkpoint_size: int | None = None) -> Served:
    """The lot's passport against the checkpoint of ``checkpoint_size``, or against a checkpoint
    covering the lot's latest entries (signed now if none does yet).

    Deterministic for a lot and a checkpoint, so each is built once and kept.
    """
    if checkpoint_size is None:
        with read_transaction(ctx.engine) as conn:
            latest = repository.lot_latest_seq(conn, lot_id)
        if latest is None:
            raise NotFound("lot.unknown", f"no lot {lot_id}", field="lot_id")
        checkpoint = log.checkpoint_covering(ctx, latest)
    else:
        checkpoint = log.stored_checkpoint(ctx, checkpoint_size)
        with read_transaction(ctx.engine) as conn:
            _signable_at(conn, ctx, checkpoint.size)  # kept or not, the same answer
    key = (lot_id, checkpoint.size)
    served = _cached(ctx, key)
    if served is None:
        passport = build_v2(ctx, lot_id, checkpoint)
        body = json.dumps(passport.doc, ensure_ascii=False, separators=(",", ":")).encode()
        served = Served(passport, body, checkpoint.size)
        if passport.report.ok:
            _keep(ctx, key, served)
    return served


def build(ctx: LedgerContext, lot_id: str) -> Passport:
    """The lot's passport against a checkpoint covering its latest entries."""
    return serve(ctx, lot_id).passport


def _signable_at(conn: Connection, ctx: LedgerContext, size: int) -> None:
    """A passport as of the checkpoint of ``size`` is signed by the key in force then: refuse
    one from before the latest rotation (that key is retired; PROTOCOL.md §19)."""
    key, keys = service_keys.keys_in_force(conn, ctx)
    then = keys.key_at(size)
    if then.raw != key.public.raw:
        raise Conflict(
            "passport.before_rotation",
            f"the checkpoint of size {size} was signed by service key {then.key_id}, since "
            f"retired: a passport is issued as of a checkpoint signed by {key.public.key_id} "
            "(ask without ?checkpoint=)",
            field="checkpoint",
        )


def build_v2(ctx: LedgerContext, lot_id: str, checkpoint: CheckpointRow) -> Passport:
    """The lot as of ``checkpoint``: its chain, its inputs' summaries, its latest summary,
    the registry of its signers, the node table of their proofs; signed. A lot whose
    inputs have no summaries (logged before summaries were) gets a version 1 passport."""
    size = checkpoint.size
    tolerance = ctx.settings.assay_tolerance
    with read_transaction(ctx.engine) as conn:
        _signable_at(conn, ctx, size)
        chain = [entry for _, entry in repository.events_of_lot(conn, lot_id) if entry.seq < size]
        if not chain:
            raise NotFound(
                "lot.unknown", f"no lot {lot_id} in the tree of size {size}", field="lot_id"
            )
        first = chain[0].body
        named = [
            (str(item.get("lot")), str(item.get("prev")))
            for item in (first.get("inputs") or [] if chain[0].kind == "transformation" else [])
        ]
        found = repository.summaries_at(conn, named) if named else {}
        if any(pair not in found or found[pair].seq >= size for pair in named):
            return build_v1(ctx, lot_id)
        inputs = [found[pair] for pair in named]
        lot_summary = repository.latest_summary_before(conn, lot_id, size)
        keys = {str(entry.body.get("key")) for entry in chain}
        registry = [e for e in repository.registry_entries(conn, key_ids=keys) if e.seq < size]
        proven = [*registry, *chain, *inputs, *([lot_summary] if lot_summary else [])]
        nodes = log.node_table(conn, [entry.seq for entry in proven], size)
    try:
        level = replay_one_level(lot_id, chain, inputs, registry, tolerance)
        with localcontext(ARITHMETIC):
            metrics = lot_metrics(level.replay, lot_id)
    except (MetricsError, FieldError) as exc:
        raise Inconsistent(
            "ledger.inconsistent", f"the entries of {lot_id} do not replay: {exc}; run an audit"
        ) from exc
    doc: dict[str, Any] = {
        "format": PASSPORT_V2,
        "lot": lot_id,
        "issued_at": checkpoint.issued_at,
        "service_key": ctx.service_key.public.b64,
        "assay_tolerance": plain(tolerance),
        "summary": summary_of(
            level.replay.lots[lot_id], lot=lot_id, head=chain[-1].hash, length=len(chain)
        ),
        "metrics": metrics,
        "partners": partner_list(registry),
        "chain": [entry.to_json() for entry in chain],
        "inputs": [entry.to_json() for entry in inputs],
        "lot_summary": None if lot_summary is None else lot_summary.to_json(),
        "registry": [entry.to_json() for entry in registry],
        "log": {"checkpoint": checkpoint.note, "nodes": nodes},
    }
    doc["signature"] = b64encode(ctx.service_key.sign(passport_signing_bytes(doc)))
    report, _ = verify_passport(doc, log_key=log.verifier(ctx))
    return Passport(doc, report)
