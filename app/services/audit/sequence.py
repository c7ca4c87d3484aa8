"""The audit's pass in sequence: what needs order, done once.

Each entry as the next link of the chains it names, the key that signed it valid at its
position, the chunk roots folded into the tree with the nodes above them, every
checkpoint's root and signature, the replay of every entry that changes what a lot
carries, and every logged summary against that replay.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import localcontext
from typing import Any

from app.ledger.errors import FieldError, LedgerError
from app.ledger.events import Event
from app.ledger.keys import PublicKey
from app.ledger.log.merkle import CompactRange
from app.ledger.log.note import NoteVerifier, open_checkpoint
from app.ledger.log.service_keys import ServiceKeyHistory
from app.ledger.provenance.balance import ARITHMETIC
from app.ledger.provenance.facts import read_green_facts
from app.ledger.provenance.metrics import MetricsError, Replay
from app.ledger.provenance.summaries import summary_body
from app.ledger.provenance.transformations import Transformation
from app.ledger.records import (
    KEY_TYPE,
    PARTNER_TYPE,
    REVOCATION_TYPE,
)
from app.models.repository import CheckpointRow
from app.services.audit.chunks import CHUNK_LEVEL, Chunk, Row
from app.services.audit.report import AuditReport

__all__ = []


@dataclass(slots=True)
class _Key:
    partner: str
    raw: bytes
    registered: int
    revoked: int | None = None


@dataclass(slots=True)
class _Head:
    hash: str
    lot_seq: int
    seq: int


@dataclass(slots=True)
class Sequence:
    """The state of the pass in sequence."""

    report: AuditReport
    origin: str
    history: ServiceKeyHistory
    keys: dict[str, _Key] = field(default_factory=dict)
    claimed: set[str] = field(default_factory=set)
    """The claim codes claimed so far (each once)."""
    heads: dict[str, _Head] = field(default_factory=dict)
    countries: dict[str, str | None] = field(default_factory=dict)
    tree: CompactRange = field(default_factory=CompactRange)
    replay: Replay = field(init=False)
    checkpoint_sizes: set[int] = field(default_factory=set)
    feed: list[tuple[int, str, str, str | None]] = field(default_factory=list)
    """The feed the entries give (seq, partner, topic, lot), in order (PROTOCOL.md §20)."""
    signers: dict[str, set[str]] = field(default_factory=dict)
    """Who signed a link of each lot so far."""

    def __post_init__(self) -> None:
        self.replay = Replay(None, self.countries)

    def entry(self, row: Row) -> None:
        report = self.report
        report.entries += 1
        lots = ", ".join(sorted(row.prevs)) or None
        for check, detail in row.problems:
            report.fail(check, detail, seq=row.seq, lot=lots)
        if row.kind in ("event", "transformation"):
            self._links(row)
            self._signer(row)
            self._replay(row)
            self._feed(row)
        elif row.kind == "summary":
            self._summary(row)
        elif row.kind == "service_key":
            self._announcement(row)
        elif row.kind == "claim":
            self._claim(row)
        elif not row.problems and row.signature_ok and row.record is not None:
            self._remember(row.seq, row.record)
        if row.kind in ("key", "key_revocation") and row.record is not None:
            self.feed.append((row.seq, str(row.record.get("partner")), "key", None))

    def _feed(self, row: Row) -> None:
        """The feed items the entry gives, as the writer keeps them."""
        partner = str(row.partner)
        if row.transfer_to is not None:
            (lot,) = row.prevs
            self.feed.append((row.seq, row.transfer_to, "transfer", lot))
        for lot in row.inputs:
            for holder in sorted(self.signers.get(lot, set()) - {partner}):
                self.feed.append((row.seq, holder, "consumed", lot))
        for lot in row.prevs:
            self.signers.setdefault(lot, set()).add(partner)

    def _claim(self, row: Row) -> None:
        """A claim record names a lot with a history, and claims its code once."""
        if row.problems or not row.signature_ok or row.record is None:
            return
        lot = str(row.record.get("lot"))
        code = str(row.record.get("claim_code_sha256"))
        if lot not in self.heads:
            self.report.fail("claim", f"a claim of {lot}, which has no history", seq=row.seq)
        elif code in self.claimed:
            self.report.fail("claim", f"{lot}'s code claimed a second time", seq=row.seq, lot=lot)
        self.claimed.add(code)

    def _announcement(self, row: Row) -> None:
        """Follow a service key rotation: from the next position on, the new key signs."""
        if row.problems or not row.signature_ok or row.record is None:
            return  # already a failure; the keys after it are not followed
        try:
            self.history.announce(row.seq, row.record)
        except LedgerError as exc:
            self.report.fail("service key", str(exc), seq=row.seq)

    def _links(self, row: Row) -> None:
        report = self.report
        lots = ", ".join(sorted(row.prevs)) or None
        if row.kind == "event" and len(row.links) != 1:
            report.fail(
                "events",
                f"an event entry has {len(row.links)} rows in the events table, not 1",
                seq=row.seq,
            )
            return
        linked = set()
        for lot, lot_seq, _role in row.links:
            linked.add(lot)
            if lot not in row.prevs:
                report.fail("lot", f"the body does not name lot {lot}", seq=row.seq, lot=lot)
                continue
            head = self.heads.get(lot)
            self.heads[lot] = _Head(row.hash, lot_seq, row.seq)
            expected = None if head is None else head.hash
            if row.prevs[lot] != expected:
                report.fail(
                    "link",
                    f"{lot}'s prev is {str(row.prevs[lot])[:16]}, expected {str(expected)[:16]}",
                    seq=row.seq,
                    lot=lots,
                )
            if lot_seq != (0 if head is None else head.lot_seq + 1):
                report.fail(
                    "order",
                    f"recorded as #{lot_seq} after #{head and head.lot_seq}",
                    seq=row.seq,
                    lot=lots,
                )
        for lot in row.prevs:
            if lot not in linked and not row.problems:
                report.fail("index", f"lot {lot} named by the entry has no chain link", seq=row.seq)

    def _signer(self, row: Row) -> None:
        report = self.report
        lots = ", ".join(sorted(row.prevs)) or None
        key = self.keys.get(str(row.key))
        if key is None:
            report.fail("key", f"{row.key} is not in the registry", seq=row.seq, lot=lots)
            return
        if key.partner != row.partner:
            report.fail(
                "key", f"{row.key} belongs to {key.partner}, not {row.partner}", seq=row.seq
            )
        if key.registered >= row.seq:
            report.fail(
                "key", f"key registered at seq {key.registered}, after the entry", seq=row.seq
            )
        if key.revoked is not None and key.revoked < row.seq:
            report.fail("key", f"key revoked at seq {key.revoked}, before the entry", seq=row.seq)
        if row.signed_with != key.raw or not row.signature_ok:
            report.fail(
                "signature",
                f"signature does not verify: {row.kind} by {row.partner}",
                seq=row.seq,
                lot=lots,
            )

    def _remember(self, seq: int, body: dict[str, Any]) -> None:
        kind = body.get("type")
        if kind == PARTNER_TYPE:
            self.countries[str(body.get("partner"))] = body.get("country")
        elif kind == KEY_TYPE:
            try:
                raw = PublicKey.from_b64(str(body.get("public_key"))).raw
            except LedgerError:
                return
            self.keys[str(body.get("key"))] = _Key(str(body.get("partner")), raw, seq)
        elif kind == REVOCATION_TYPE:
            key = self.keys.get(str(body.get("key")))
            if key is not None and (key.revoked is None or seq < key.revoked):
                key.revoked = seq

    def _replay(self, row: Row) -> None:
        if row.problems:
            return
        try:
            with localcontext(ARITHMETIC):
                if row.replay is not None:
                    body = json.loads(row.replay)
                    if row.kind == "event":
                        item: Event | Transformation = Event.from_json(body, canonical=row.replay)
                    else:
                        item = Transformation.from_json(body, canonical=row.replay)
                    facts = read_green_facts(item.data)
                    self.replay.apply(item, facts, seq=row.seq)
                elif row.stage is not None:
                    (lot,) = row.prevs
                    self.replay.touch(lot, row.stage)
        except (MetricsError, FieldError) as exc:
            self.report.fail("replay", str(exc), seq=row.seq)

    def _summary(self, row: Row) -> None:
        report = self.report
        report.summaries += 1
        body = row.record
        if body is None or row.problems or not row.signature_ok:
            return
        lot = str(body.get("lot"))
        head = self.heads.get(lot)
        carried = self.replay.lots.get(lot)
        if head is None or carried is None:
            report.fail(
                "summary", f"a summary of {lot}, which has no history", seq=row.seq, lot=lot
            )
            return
        with localcontext(ARITHMETIC):
            expected = summary_body(lot, head=head.hash, length=head.lot_seq + 1, carried=carried)
        if body != expected:
            differ = sorted(k for k in set(body) | set(expected) if body.get(k) != expected.get(k))
            report.fail(
                "summary",
                "the summary is not what the entries give: "
                + "; ".join(
                    f"{k}: says {body.get(k)!r}, entries give {expected.get(k)!r}" for k in differ
                ),
                seq=row.seq,
                lot=lot,
            )

    def chunk(self, chunk: Chunk, checkpoints: list[CheckpointRow]) -> None:
        for row in chunk.rows:
            self.entry(row)
        report = self.report
        report.nodes += chunk.nodes
        for check, detail, where in chunk.node_problems:
            report.fail(check, detail, **where)
        for checkpoint in checkpoints:
            edge = chunk.checkpoint_edges.get(checkpoint.size)
            tree = self.tree.copy()
            for level, value in edge or []:
                tree.append_subtree(level, value)
            self._checkpoint(checkpoint, tree.root() if edge is not None else b"")
        upper = dict(chunk.upper)
        for level, value in chunk.edge:
            for node, computed in self.tree.append_subtree(level, value):
                if node[0] <= CHUNK_LEVEL:
                    continue
                stored = upper.pop(node, None)
                if stored is None:
                    report.fail("tree", f"node {node} is missing", node=list(node))
                elif stored != computed:
                    report.fail(
                        "tree", f"node {node} does not match the leaves below it", node=list(node)
                    )
        for node in upper:
            report.fail("tree", f"node {node} should not exist", node=list(node))

    def _checkpoint(self, checkpoint: CheckpointRow, root: bytes) -> None:
        report = self.report
        report.checkpoints += 1
        size = checkpoint.size
        if checkpoint.root != root:
            report.fail("checkpoint", "its root is not the root of the entries", size=size)
        self.checkpoint_sizes.add(size)
        try:
            signed = self.history.open_checkpoint(checkpoint.note, self.origin)
            handover = [p for p in self.history.periods[1:] if p.first == size]
            if handover:  # the key handing over co-signs the checkpoint that holds it
                open_checkpoint(
                    checkpoint.note, NoteVerifier.of(self.origin, self.history.key_at(size - 1))
                )
        except LedgerError as exc:
            report.fail("checkpoint", f"signature: {exc}", size=size)
            return
        if signed.size != size or signed.root != root:
            report.fail(
                "checkpoint", "the signed note does not state this size and root", size=size
            )
