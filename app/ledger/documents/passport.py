"""The green passport: one self-contained, self-verifying document per lot (PROTOCOL.md §16).

A passport is a genealogy export (§15) that also states the lot's summary and
the partners who signed its journey, proves every entry against one signed
checkpoint, and is signed as a whole by the service key. ``verify_passport``
checks all of it with this package alone: the service's signature over every
byte, the registry and every entry (hash, chain link, key valid at its seq,
partner signature, receipt), every inclusion proof and the checkpoint's
signature, the replay with every balance, and the summary, partners and
metrics against what the entries say.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from ..canonical import canonical_bytes
from ..errors import FieldError, LedgerError
from ..keys import PublicKey
from ..log.merkle import inclusion_ranges
from ..log.note import NoteVerifier
from ..log.service_keys import ServiceKeyHistory
from ..provenance.balance import ARITHMETIC, plain
from ..provenance.metrics import Carried, MetricsError, Replay, lot_metrics, partner_countries
from ..provenance.summaries import carried_of, content_of, summary_body
from ..records import PARTNER_TYPE, LedgerEntry
from ..report import Check, Report
from .checks import (
    ChainChecker,
    log_checks,
    open_logged_checkpoint,
    registry_checks,
    service_key_check,
)
from .genealogy import Bundle, check_bundle

__all__ = [
    "PASSPORT_FORMAT",
    "PASSPORT_V2",
    "OneLevel",
    "node_table_proof",
    "partner_list",
    "passport_signing_bytes",
    "range_key",
    "replay_one_level",
    "summary_of",
    "verify_passport",
]

PASSPORT_FORMAT = "goldtrail.passport.v1"


def passport_signing_bytes(doc: dict[str, Any]) -> bytes:
    """What the service signs: JCS of the passport without its ``signature`` member."""
    return canonical_bytes({k: v for k, v in doc.items() if k != "signature"})


def summary_of(carried: Carried, *, lot: str, head: str, length: int) -> dict[str, Any]:
    """The summary a passport states, from what the replay says of the lot."""
    closed = carried.sold or (carried.mass_g is not None and carried.mass_g == 0)
    fine = carried.fine_g
    return {
        "lot": lot,
        "form": carried.form,
        "mass_g": None if carried.mass_g is None else plain(carried.mass_g),
        "fineness": None if carried.fineness is None else plain(carried.fineness),
        "fine_gold_g": None
        if carried.mass_g is None
        else plain(fine.quantize(Decimal("1e-6"), context=ARITHMETIC)),
        "custodian": carried.holder,
        "stage": carried.stage,
        "closed": closed,
        "head": head,
        "length": length,
    }


def partner_list(registry: list[LedgerEntry]) -> list[dict[str, Any]]:
    """The partners of the registry records, as a passport lists them."""
    return [
        {
            "id": e.body.get("partner"),
            "name": e.body.get("name"),
            "roles": e.body.get("roles"),
            "country": e.body.get("country"),
        }
        for e in registry
        if e.body.get("type") == PARTNER_TYPE
    ]


def _signature_check(doc: dict[str, Any], key: PublicKey, lot: str) -> Check:
    raw = doc.get("signature")
    try:
        signature = base64.b64decode(str(raw), validate=True)
        key.verify(passport_signing_bytes(doc), signature, what="the passport")
    except (binascii.Error, LedgerError) as exc:
        return Check(
            "passport signature", False, f"{exc}: some byte of the passport changed", lot=lot
        )
    return Check(
        "passport signature", True, "the service signed every byte of this passport", lot=lot
    )


def _coverage_check(
    doc: dict[str, Any], log_key: NoteVerifier, history: ServiceKeyHistory, lot: str
) -> Check:
    """Every entry must be proven against the one checkpoint: none may be left out."""
    log = doc.get("log")
    if not isinstance(log, dict):
        return Check("checkpoint", False, "the passport carries no checkpoint", lot=lot)
    try:
        checkpoint = open_logged_checkpoint(str(log.get("checkpoint")), log_key, history)
    except LedgerError as exc:
        return Check("checkpoint", False, str(exc), lot=lot)
    entries = [*(doc.get("registry") or []), *(doc.get("entries") or [])]
    missing = [
        e.get("seq") for e in entries if isinstance(e, dict) and e.get("seq", 0) >= checkpoint.size
    ]
    if missing:
        return Check(
            "checkpoint", False, f"entries {missing[:5]} lie beyond the checkpoint", lot=lot
        )
    return Check(
        "checkpoint",
        True,
        f"every entry lies within checkpoint {checkpoint.origin} size {checkpoint.size}",
        lot=lot,
    )


def _summary_check(doc: dict[str, Any], bundle: Bundle, lot: str) -> Check:
    head = bundle.checker.heads.get(lot)
    carried = None if bundle.replay is None else bundle.replay.lots.get(lot)
    if carried is None or head is None:
        return Check("summary", False, "the entries do not give the lot's state", lot=lot)
    computed = summary_of(carried, lot=lot, head=head.hash, length=head.lot_seq + 1)
    claimed = doc.get("summary")
    if not isinstance(claimed, dict):
        return Check("summary", False, "the passport states no summary", lot=lot)
    differ = sorted(k for k in set(computed) | set(claimed) if claimed.get(k) != computed.get(k))
    detail = "; ".join(
        f"{k}: claimed {claimed.get(k)!r}, recomputed {computed.get(k)!r}" for k in differ
    )
    return Check(
        "summary",
        not differ,
        detail or f"{computed['fine_gold_g']} g fine gold, held by {computed['custodian']}",
        lot=lot,
    )


def verify_passport(
    doc: object, *, log_key: NoteVerifier, service_key: PublicKey | None = None
) -> tuple[Report, dict[str, Any] | None]:
    """Verify a passport with the log's verifier key; return the report and the metrics.

    Raises FieldError only when the document is not a passport at all.
    """
    formats = (PASSPORT_FORMAT, PASSPORT_V2)
    if not isinstance(doc, dict) or doc.get("format") not in formats:
        raise FieldError("format", f"not a {PASSPORT_V2} (or {PASSPORT_FORMAT}) document")
    lot = doc.get("lot")
    if not isinstance(lot, str):
        raise FieldError("lot", "must be a string")
    if doc["format"] == PASSPORT_V2:
        return verify_passport_v2(doc, lot, log_key=log_key, service_key=service_key)
    key = service_key or log_key.public
    bundle = check_bundle(doc, lot, service_key=key, log_key=log_key)
    report = bundle.report
    history = bundle.checker.service_keys
    report.checks.insert(0, _signature_check(doc, history.current, lot))
    report.checks.append(_coverage_check(doc, log_key, history, lot))
    report.checks.append(_summary_check(doc, bundle, lot))
    report.checks.append(_partners_check(doc, bundle.registry, lot))
    return report, bundle.metrics


# Version 2 (PROTOCOL.md §16): the lot's own chain and its inputs' logged summaries. -------

PASSPORT_V2 = "goldtrail.passport.v2"


def range_key(low: int, high: int) -> str:
    """How a node table names the hash of the leaves [low, high): ``"low-high"``."""
    return f"{low}-{high}"


def node_table_proof(table: Mapping[str, str], seq: int, size: int) -> list[bytes] | str:
    """The inclusion proof of leaf ``seq`` read from a node table, or why it cannot be."""
    proof = []
    for low, high in inclusion_ranges(seq, size):
        value = table.get(range_key(low, high))
        try:
            node = base64.b64decode(str(value), validate=True)
        except binascii.Error:
            node = b""
        if value is None or len(node) != 32:
            return f"the node table lacks the hash of leaves {low}-{high}"
        proof.append(node)
    return proof


@dataclass(slots=True)
class OneLevel:
    """A lot replayed from its inputs' logged summaries and its own chain."""

    replay: Replay
    states: list[dict[str, Any]]
    """The lot's summary content (``content_of``) after each entry of its chain."""


def replay_one_level(
    lot: str,
    chain: Sequence[LedgerEntry],
    inputs: Sequence[LedgerEntry],
    registry: Sequence[LedgerEntry],
    tolerance: Decimal,
) -> OneLevel:
    """Replay the lot's chain, its inputs seeded with their summaries (MetricsError,
    FieldError if the entries do not make a lot's history)."""
    replay = Replay(frozenset({lot}), partner_countries(registry), tolerance)
    for entry in inputs:
        body = entry.body
        replay.lots[str(body.get("lot"))] = carried_of(body, path=f"inputs seq {entry.seq}")
    states = []
    for entry in chain:
        replay.run([entry])
        carried = replay.lots.get(lot)
        if carried is None:
            raise MetricsError(f"entry {entry.seq} does not make lot {lot}")
        with localcontext(ARITHMETIC):
            states.append(content_of(summary_body(lot, head="", length=0, carried=carried)))
    return OneLevel(replay, states)


def _inputs_check(chain: list[LedgerEntry], inputs: list[LedgerEntry], lot: str) -> Check:
    """The inputs' summaries are those the transformation that made the lot names, in order."""
    first = chain[0].body if chain else {}
    named = [
        (str(item.get("lot")), item.get("prev"))
        for item in first.get("inputs") or []
        if isinstance(item, dict)
    ]
    if chain and chain[0].kind == "event":
        named = []
    given = [(str(e.body.get("lot")), e.body.get("head")) for e in inputs]
    wrong_kind = [e.seq for e in inputs if e.kind != "summary"]
    ok = given == named and not wrong_kind
    detail = (
        f"{len(named)} inputs, each with its summary at the head the transformation names"
        if ok
        else f"the transformation names {named[:3]}…, the passport gives summaries of "
        f"{given[:3]}…" + (f"; entries {wrong_kind} are not summaries" if wrong_kind else "")
    )
    return Check("inputs", ok, detail, lot=lot)


def _levels_check(
    doc: dict[str, Any],
    chain: list[LedgerEntry],
    level: OneLevel,
    metrics: dict[str, Any],
    lot: str,
) -> list[Check]:
    """The stated summary, ``metrics`` (the replay's) and logged summary against the replay."""
    checks = []
    head = chain[-1].hash if chain else None
    computed = summary_of(level.replay.lots[lot], lot=lot, head=str(head), length=len(chain))
    claimed = doc.get("summary")
    checks.append(_compare("summary", claimed, computed, lot))
    checks.append(_compare("metrics", doc.get("metrics"), metrics, lot))
    logged = doc.get("lot_summary")
    if logged is not None:
        entry = LedgerEntry.from_json(logged, path="lot_summary")
        at = next((i for i, e in enumerate(chain) if e.hash == entry.body.get("head")), None)
        ok = (
            at is not None
            and entry.kind == "summary"
            and entry.body.get("lot") == lot
            and entry.body.get("length") == at + 1
            and content_of(entry.body) == level.states[at]
        )
        checks.append(
            Check(
                "lot summary",
                ok,
                f"the lot's logged summary (seq {entry.seq}) is what its chain gives at link #{at}"
                if ok
                else f"the lot's logged summary (seq {entry.seq}) is not what its chain gives",
                lot=lot,
                seq=entry.seq,
            )
        )
    return checks


def _compare(what: str, claimed: object, computed: dict[str, Any], lot: str) -> Check:
    if not isinstance(claimed, dict):
        return Check(what, False, f"the passport states no {what}", lot=lot)
    differ = sorted(k for k in set(computed) | set(claimed) if claimed.get(k) != computed.get(k))
    detail = "; ".join(
        f"{k}: claimed {claimed.get(k)!r}, recomputed {computed.get(k)!r}" for k in differ
    )
    return Check(what, not differ, detail or f"the {what} are what the entries give", lot=lot)


def _node_table_proof_of(log: dict[str, Any], seq: int, size: int) -> list[bytes] | str | None:
    """A passport's proof, read from its node table; None beyond the checkpoint."""
    if seq >= size:
        return None
    table = log.get("nodes")
    return node_table_proof(table if isinstance(table, dict) else {}, seq, size)


def _partners_check(doc: dict[str, Any], registry: list[LedgerEntry], lot: str) -> Check:
    ok = doc.get("partners") == partner_list(registry)
    return Check(
        "partners",
        ok,
        "the partners listed are those of the registry records"
        if ok
        else "the partners listed differ from the registry records",
        lot=lot,
    )


def _v2_entries(doc: dict[str, Any], name: str) -> list[LedgerEntry]:
    items = doc.get(name)
    if not isinstance(items, list):
        raise FieldError(name, "must be a JSON array of ledger entries")
    return [LedgerEntry.from_json(item, path=f"{name}[{i}]") for i, item in enumerate(items)]


def verify_passport_v2(
    doc: dict[str, Any], lot: str, *, log_key: NoteVerifier, service_key: PublicKey | None
) -> tuple[Report, dict[str, Any] | None]:
    """Check a version 2 passport: every byte signed, every entry in the log, the lot's chain,
    its inputs' summaries, the replay of one level, and what the passport states."""
    registry = _v2_entries(doc, "registry")
    chain = _v2_entries(doc, "chain")
    inputs = _v2_entries(doc, "inputs")
    logged = doc.get("lot_summary")
    extra = [] if logged is None else [LedgerEntry.from_json(logged, path="lot_summary")]
    history, key_check = service_key_check(doc, service_key or log_key.public, lot, registry)
    report = Report([_signature_check(doc, history.current, lot), key_check])
    checker = ChainChecker(history)
    report.checks.extend(registry_checks(checker, registry))
    for position, entry in enumerate(chain):
        problems = checker.chain_entry(entry, lot=lot, lot_seq=position)
        report.checks.append(
            Check(
                f"link #{position}",
                not problems,
                "; ".join(problems)
                or f"{entry.body.get('action', '?')}: hash, link, key, signature, receipt",
                lot=lot,
                lot_seq=position,
                seq=entry.seq,
                hash=entry.hash,
            )
        )
    for entry in [*inputs, *extra]:
        problems = checker.registry(entry)
        report.checks.append(
            Check(
                "input summary" if entry.body.get("lot") != lot else "lot summary entry",
                not problems and entry.kind == "summary",
                "; ".join(problems) or f"summary of {entry.body.get('lot')}: signed by the service",
                seq=entry.seq,
                hash=entry.hash,
            )
        )
    report.checks.append(_inputs_check(chain, inputs, lot))
    metrics: dict[str, Any] | None = None
    try:
        tolerance = Decimal(str(doc.get("assay_tolerance")))
        level = replay_one_level(lot, chain, inputs, registry, tolerance)
        with localcontext(ARITHMETIC):
            metrics = lot_metrics(level.replay, lot)
        report.checks.extend(_levels_check(doc, chain, level, metrics, lot))
    except (MetricsError, FieldError, InvalidOperation) as exc:
        report.checks.append(Check("replay", False, str(exc), lot=lot))
    report.checks.extend(
        log_checks(
            doc,
            lot,
            [*registry, *chain, *inputs, *extra],
            log_key,
            history,
            proof_of=_node_table_proof_of,
            missing=("checkpoint", "the passport carries no checkpoint"),
        )
    )
    report.checks.append(_partners_check(doc, registry, lot))
    return report, metrics
