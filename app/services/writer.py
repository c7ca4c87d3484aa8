"""The ledger's one writer: numbers entries, signs their receipts, grows the Merkle tree
and writes a whole batch in the caller's transaction.

An ``Appender`` is opened inside ``app.db.write_transaction`` (which holds the
sequencer lock, so ``seq`` is gap-free and unique). It reads the next ``seq``
and the right edge of the tree once, then every ``append`` is pure computation —
receipt, leaf, completed perfect subtrees — and ``flush`` writes all the rows of
the batch with one multi-row statement per table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from app.domain.binding import Binding, binding_of
from app.domain.rules import LotState
from app.ledger.canonical import canonical_bytes
from app.ledger.keys import SigningKey
from app.ledger.log.merkle import CompactRange, leaf_hash, nodes_for_root
from app.ledger.records import LedgerEntry
from app.models import repository
from app.services.clock import format_time
from app.services.errors import Inconsistent

__all__ = ["Appender", "ChainLink", "Signed"]


class Signed(Protocol):
    """What a partner signs: an event or a transformation."""

    @property
    def partner(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def occurred_at(self) -> str: ...
    @property
    def canonical(self) -> bytes: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ChainLink:
    """An entry's place in one lot's chain: an event's own, a transformation's input or output."""

    lot: str
    lot_seq: int
    prev: str | None
    role: str = "event"


@dataclass(slots=True)
class _Rows:
    entries: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    lots: dict[str, tuple[LotState, int]] = field(default_factory=dict)
    """Each lot moved in this batch: its latest state and the seq that moved it."""
    created: dict[str, int] = field(default_factory=dict)
    """Lots the batch created, with the seq that created them."""
    summaries: list[dict[str, Any]] = field(default_factory=list)
    feed: list[dict[str, Any]] = field(default_factory=list)
    """Feed items named by the entry itself (transfers, key records)."""
    consumed: list[tuple[int, str, list[str]]] = field(default_factory=list)
    """(seq, the transformer, input lots): the feed of whoever signed for those lots."""
    bindings: list[dict[str, Any]] = field(default_factory=list)
    """What binding entries bound (PROTOCOL.md §21)."""
    ended: list[tuple[int, str, str]] = field(default_factory=list)
    """(seq, kind, key): bindings of earlier batches that an entry of this one ended."""


_TRANSFERS = frozenset({"transferred"})  # a shipment names a place, not a partner
_KEY_RECORDS = frozenset({"key", "key_revocation"})


class Appender:
    """Appends entries at the next positions of the log; ``flush`` writes them."""

    def __init__(
        self,
        conn: Connection,
        *,
        service_key: SigningKey,
        now: datetime,
        size: int | None = None,
        known: CompactRange | None = None,
    ) -> None:
        """``size`` is the log's size if the caller read it in this transaction; ``known`` is
        the tree as this process last committed it, used if the log still has its size."""
        self.conn = conn
        self.service_key = service_key
        self.now = now
        self.recorded_at = format_time(now)
        self._rows = _Rows()
        self.appended: list[LedgerEntry] = []
        self.summary_seq: dict[str, int | None] = {}
        """Each lot's latest summary (the caller says what it was before the batch)."""
        if size is None:
            size = repository.next_seq(conn)
        if known is not None and known.size == size:
            self.tree = known.copy()
            return
        edge = repository.tree_nodes_by_id(conn, nodes_for_root(size))
        try:
            self.tree = CompactRange.from_edge(size, edge)
        except KeyError as exc:
            raise Inconsistent(
                "ledger.inconsistent",
                f"tree node {exc.args[0]} is missing from the store; run an audit",
            ) from exc

    @property
    def size(self) -> int:
        """The tree's size once the batch is written: the next seq to give."""
        return self.tree.size

    def append(
        self,
        *,
        kind: str,
        body: dict[str, Any],
        signature: bytes,
        signer: str,
        canonical: bytes | None = None,
    ) -> LedgerEntry:
        """Number ``body``, sign its receipt and add its leaf; ``canonical`` is JCS(body)."""
        canonical = canonical if canonical is not None else canonical_bytes(body)
        entry = LedgerEntry.issue(
            seq=self.tree.size,
            kind=kind,
            body=body,
            signature=signature,
            signer=signer,
            recorded_at=self.recorded_at,
            service_key=self.service_key,
            canonical=canonical,
        )
        self._rows.entries.append(repository.entry_row(entry, canonical.decode("utf-8")))
        for (level, index), value in self.tree.append(leaf_hash(entry.leaf)):
            self._rows.nodes.append(
                {"level": level, "idx": index, "hash": value, "completed_at": entry.seq}
            )
        self.appended.append(entry)
        return entry

    def append_service_record(self, *, kind: str, body: dict[str, Any]) -> LedgerEntry:
        """A registry record (or summary) that the service itself signs."""
        canonical = canonical_bytes(body)
        if kind in _KEY_RECORDS:
            self._rows.feed.append(
                {
                    "seq": self.tree.size,
                    "partner_id": body["partner"],
                    "topic": "key",
                    "lot_id": None,
                }
            )
        entry = self.append(
            kind=kind,
            body=body,
            signature=self.service_key.sign(canonical),
            signer=self.service_key.public.key_id,
            canonical=canonical,
        )
        binding = binding_of(kind, body)
        if binding is not None:
            self._bind(entry.seq, binding)
        return entry

    def append_signed(
        self,
        *,
        kind: str,
        signed: Signed,
        signature: bytes,
        links: list[ChainLink],
        states: list[LotState],
    ) -> LedgerEntry:
        """A partner's signed event or transformation, its chain links and the lots it moves."""
        entry = self.append(
            kind=kind,
            body=signed.to_json(),
            signature=signature,
            signer=signed.key,
            canonical=signed.canonical,
        )
        for link in links:
            self._rows.links.append(
                {
                    "role": link.role,
                    "seq": entry.seq,
                    "lot_id": link.lot,
                    "lot_seq": link.lot_seq,
                    "prev": link.prev,
                    "partner_id": signed.partner,
                    "key_id": signed.key,
                    "stage": signed.stage,
                    "action": signed.action,
                    "occurred_at": signed.occurred_at,
                }
            )
        self._feed(entry.seq, signed.partner, signed.action, entry.body)
        binding = binding_of(signed.action, entry.body)
        if binding is not None:
            self._bind(entry.seq, binding)
        for state in states:
            if state.length == 1:
                self._rows.created[state.lot] = entry.seq
            self._rows.lots[state.lot] = (state, entry.seq)
        return entry

    def _feed(self, seq: int, partner: str, action: str, body: dict[str, Any]) -> None:
        if "inputs" in body:
            lots = [str(item["lot"]) for item in body["inputs"]]
            self._rows.consumed.append((seq, partner, lots))
            return
        recipient = body["data"].get("to")
        if action in _TRANSFERS and isinstance(recipient, str):
            self._rows.feed.append(
                {"seq": seq, "partner_id": recipient, "topic": "transfer", "lot_id": body["lot"]}
            )

    def _bind(self, seq: int, binding: Binding) -> None:
        """Keep the bindings projection: end what the entry ends (earlier in this batch too),
        then record what it binds."""
        kind, key = binding.kind, binding.key
        if binding.ends_previous:
            for row in self._rows.bindings:
                if (row["kind"], row["key"]) == (kind, key) and row["ended_seq"] is None:
                    row["ended_seq"] = seq
            self._rows.ended.append((seq, kind, key))
        if binding.lot is not None:
            self._rows.bindings.append(
                {"seq": seq, "kind": kind, "key": key, "lot_id": binding.lot, "ended_seq": None}
            )

    def _holders(self, lots: list[str], seq: int, by: str) -> list[tuple[str, str]]:
        """(lot, partner) for each partner but ``by`` that signed for a lot before ``seq``: in
        the order the transformation names its inputs, then by partner id."""
        signed = repository.signers_before(self.conn, lots, seq=seq, but=by)
        return [(lot, holder) for lot in lots for holder, of in signed if of == lot]

    def append_summary(self, body: dict[str, Any]) -> LedgerEntry:
        """A lot's summary (``ledger/provenance/summaries.py``), signed, and its index."""
        entry = self.append_service_record(kind="summary", body=body)
        lot = body["lot"]
        self._rows.summaries.append(
            {"seq": entry.seq, "lot_id": lot, "head": body["head"], "length": body["length"]}
        )
        self.summary_seq[lot] = entry.seq
        return entry

    def checkpoint_root(self) -> bytes:
        """The root of the tree with every entry appended so far."""
        return self.tree.root()

    def flush(self) -> None:
        """Write every row of the batch: one multi-row statement per table."""
        rows = self._rows
        with repository.pipeline(self.conn):
            repository.append_entries(self.conn, rows.entries)
            repository.append_event_rows(self.conn, rows.links)
            repository.append_tree_nodes(self.conn, rows.nodes)
            repository.append_summary_rows(self.conn, rows.summaries)
            repository.save_lots(
                self.conn,
                [
                    (state, seq, rows.created.get(lot), self.summary_seq.get(lot))
                    for lot, (state, seq) in rows.lots.items()
                ],
            )
        if rows.feed or rows.consumed:
            feed = rows.feed + [
                {"seq": seq, "partner_id": holder, "topic": "consumed", "lot_id": lot}
                for seq, by, lots in rows.consumed
                for lot, holder in self._holders(lots, seq, by)
            ]
            repository.append_feed_rows(self.conn, sorted(feed, key=lambda row: row["seq"]))
        if rows.ended:
            repository.end_bindings(self.conn, rows.ended)
        if rows.bindings:
            repository.append_binding_rows(self.conn, rows.bindings)
        self._rows = _Rows()
