"""Offline verification of a lot's genealogy and its green metrics (docs/PROTOCOL.md §15).

``GET /v1/lots/{id}/genealogy/export`` returns every signed entry of the lot
and of all its ancestors, the registry entries of every key that signed them,
the metrics the service computed and, when a checkpoint exists, an inclusion
proof of every entry. ``verify_genealogy`` checks each entry as a link of the
chains it belongs to, replays the entries (``app.ledger.provenance.metrics``) — which
re-checks every transformation's balance — and compares the metrics it gets
with those claimed, field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import FieldError
from ..keys import PublicKey
from ..log.note import NoteVerifier
from ..provenance.metrics import MetricsError, Replay, lot_metrics, partner_countries
from ..records import LedgerEntry
from ..report import Check, Report
from .checks import ChainChecker, log_checks, registry_checks, service_key_check

__all__ = ["GENEALOGY_FORMAT", "Bundle", "chain_links", "check_bundle", "verify_genealogy"]

GENEALOGY_FORMAT = "goldtrail.genealogy.v1"


def chain_links(entry: LedgerEntry, closure: set[str]) -> list[str]:
    """The lots of ``closure`` whose chains ``entry`` is a link of (read from its body)."""
    body = entry.body
    if entry.kind == "event":
        lot = body.get("lot")
        return [lot] if isinstance(lot, str) and lot in closure else []
    lots = [i.get("lot") for i in body.get("inputs") or [] if isinstance(i, dict)]
    lots += [o.get("lot") for o in body.get("outputs") or [] if isinstance(o, dict)]
    return [lot for lot in lots if isinstance(lot, str) and lot in closure]


def _entries(doc: dict[str, Any], name: str) -> list[LedgerEntry]:
    items = doc.get(name)
    if not isinstance(items, list):
        raise FieldError(name, "must be a JSON array of ledger entries")
    return [LedgerEntry.from_json(item, path=f"{name}[{i}]") for i, item in enumerate(items)]


def _chain_checks(
    checker: ChainChecker, entries: list[LedgerEntry], closure: set[str], lot: str
) -> list[Check]:
    checks = []
    positions: dict[str, int] = {}
    for entry in entries:
        links = chain_links(entry, closure)
        if not links:
            checks.append(
                Check("entry", False, "belongs to no lot of the genealogy", seq=entry.seq)
            )
            continue
        numbered = [(name, positions.get(name, 0)) for name in links]
        for name, position in numbered:
            positions[name] = position + 1
        if entry.kind == "transformation":
            problems = checker.transformation(entry, links=numbered, complete=False)
        else:
            problems = checker.event(entry, lot=numbered[0][0], lot_seq=numbered[0][1])
        checks.append(
            Check(
                f"{entry.kind} {entry.body.get('action', '?')}",
                not problems,
                "; ".join(problems) or f"links {', '.join(links)}: hash, key, signature, receipt",
                lot=links[0] if len(links) == 1 else None,
                seq=entry.seq,
                hash=entry.hash,
            )
        )
    if lot not in positions:
        checks.append(Check("lot", False, f"the genealogy holds no entry of {lot}", lot=lot))
    return checks


def _claimed(claimed: object, computed: dict[str, Any], what: str, lot: str) -> Check:
    """Compare a claimed document with the recomputed one, member by member."""
    if not isinstance(claimed, dict):
        return Check(what, False, f"no {what} are claimed", lot=lot)
    differ = sorted(
        name for name in set(claimed) | set(computed) if claimed.get(name) != computed.get(name)
    )
    detail = "; ".join(
        f"{name}: claimed {claimed.get(name)!r}, recomputed {computed.get(name)!r}"
        for name in differ
    )
    return Check(what, not differ, detail or f"the claimed {what} are the recomputed ones", lot=lot)


@dataclass(slots=True)
class Bundle:
    """What checking a genealogy-shaped document found."""

    report: Report
    checker: ChainChecker
    registry: list[LedgerEntry]
    replay: Replay | None
    metrics: dict[str, Any] | None


def _replay(
    doc: dict[str, Any], lot: str, entries: list[LedgerEntry], registry: list[LedgerEntry]
) -> tuple[Check, Replay | None, dict[str, Any] | None]:
    closure = frozenset(str(x) for x in doc.get("lots") or [])
    try:
        tolerance = Decimal(str(doc.get("assay_tolerance")))
    except InvalidOperation:
        return Check("metrics", False, "assay_tolerance is not a decimal", lot=lot), None, None
    try:
        replay = Replay(closure, partner_countries(registry), tolerance).run(entries)
        computed = lot_metrics(replay, lot)
    except (MetricsError, FieldError) as exc:
        return Check("mass balance", False, str(exc), lot=lot), None, None
    check = _claimed(doc.get("metrics"), computed, "metrics", lot)
    if check.ok:
        check = Check(
            "metrics",
            True,
            f"recomputed from {len(entries)} entries of {len(closure)} lots: grade "
            f"{computed.get('grade')}, every transformation balances",
            lot=lot,
        )
    return check, replay, computed


def check_bundle(
    doc: dict[str, Any], lot: str, *, service_key: PublicKey | None, log_key: NoteVerifier | None
) -> Bundle:
    """Check the registry, every entry as links of the lots' chains, the replay and the proofs."""
    if service_key is None and log_key is not None:
        service_key = log_key.public
    registry = _entries(doc, "registry")
    entries = _entries(doc, "entries")
    history, key_check = service_key_check(doc, service_key, lot, registry)
    closure = {str(x) for x in doc.get("lots") or []}
    report = Report([key_check])
    checker = ChainChecker(history)
    report.checks.extend(registry_checks(checker, registry))
    report.checks.extend(_chain_checks(checker, entries, closure, lot))
    metrics_check, replay, computed = _replay(doc, lot, entries, registry)
    report.checks.append(metrics_check)
    if log_key is not None:
        report.checks.extend(log_checks(doc, lot, [*registry, *entries], log_key, history))
    return Bundle(report, checker, registry, replay, computed)


def verify_genealogy(
    doc: object, *, service_key: PublicKey | None = None, log_key: NoteVerifier | None = None
) -> tuple[Report, dict[str, Any] | None]:
    """Verify a genealogy export; return the report and the recomputed metrics.

    Raises FieldError only when the document is not a genealogy export at all.
    """
    if not isinstance(doc, dict) or doc.get("format") != GENEALOGY_FORMAT:
        raise FieldError("format", f"not a {GENEALOGY_FORMAT} document")
    lot = doc.get("lot")
    if not isinstance(lot, str):
        raise FieldError("lot", "must be a string")
    bundle = check_bundle(doc, lot, service_key=service_key, log_key=log_key)
    return bundle.report, bundle.metrics
