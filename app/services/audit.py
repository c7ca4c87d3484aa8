"""The whole-log audit: every entry, tree node, checkpoint and summary (PROTOCOL.md §11, §18).

The log is cut into chunks of ``CHUNK`` entries aligned on the tree (a power of
two, so every perfect subtree of up to ``CHUNK`` leaves lies inside one chunk).
Each chunk is checked on its own — in worker processes that read their rows from
the database themselves, or in this process: every entry's stored bytes against
its hash, its shape, its signature and its receipt, its leaf, the stored perfect
subtrees inside the chunk, and the right edge of the tree at every checkpoint
that ends inside it. What needs order is done once, here, in sequence: each
entry as the next link of the chains it names, the key that signed it valid at
its position, the chunk roots folded into the tree with the nodes above them,
every checkpoint's root and signature, the replay of every entry that changes
what a lot carries, and every logged summary against that replay.

Memory grows with keys and lots, never with entries; a worker holds one chunk.
"""

from __future__ import annotations

import json
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import localcontext
from typing import Any

from sqlalchemy import Engine

from app.db import make_engine, read_transaction
from app.ledger.balance import ARITHMETIC
from app.ledger.errors import FieldError, LedgerError
from app.ledger.events import Event
from app.ledger.facts import read_green_facts
from app.ledger.hashing import sha256_hex
from app.ledger.keys import PublicKey, b64decode_strict, valid_signatures
from app.ledger.merkle import EMPTY_ROOT, CompactRange, NodeId, leaf_hash
from app.ledger.metrics import MetricsError, Replay
from app.ledger.note import NoteVerifier, open_checkpoint
from app.ledger.records import (
    ENTRY_KINDS,
    KEY_TYPE,
    PARTNER_TYPE,
    REVOCATION_TYPE,
    leaf_bytes,
    receipt_bytes,
)
from app.ledger.service_keys import ServiceKeyHistory
from app.ledger.summaries import summary_body
from app.ledger.transformations import Transformation
from app.models import repository
from app.models.repository import CheckpointRow

__all__ = ["CHUNK", "AuditReport", "run"]

MAX_LISTED_FAILURES = 10_000
CHUNK_LEVEL = 12
CHUNK = 1 << CHUNK_LEVEL

# Facts of an event that change what a lot carries; an event with none of them (and not
# opening a lot) only adds its stage, which the audit applies without parsing it again.
_REPLAYED_FACTS = frozenset(
    {
        "form",
        "mass_g",
        "fineness",
        "emissions_kgco2e",
        "scope1_kgco2e",
        "scope2_kgco2e",
        "location",
        "conflict_affected",
        "mercury_used",
        "certifications",
        "recycled",
        "artisanal",
    }
)
_OPENING = frozenset({"site_registered", "extracted", "recycled_intake"})


@dataclass(slots=True)
class AuditReport:
    entries: int = 0
    nodes: int = 0
    checkpoints: int = 0
    lots: int = 0
    summaries: int = 0
    failure_count: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    sequential_seconds: float = 0.0
    """Of ``seconds``, the time the pass in sequence took (the part no core can share)."""

    @property
    def ok(self) -> bool:
        return self.failure_count == 0

    def fail(self, check: str, detail: str, **where: Any) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append({"check": check, "detail": detail, **where})

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "tree_nodes": self.nodes,
            "checkpoints": self.checkpoints,
            "lots": self.lots,
            "summaries": self.summaries,
            "failure_count": self.failure_count,
            "failures": self.failures,
            "seconds": round(self.seconds, 3),
            "sequential_seconds": round(self.sequential_seconds, 3),
        }

    def summary(self) -> str:
        head = (
            f"Audited {self.entries} entries, {self.nodes} tree nodes, {self.checkpoints} "
            f"checkpoints, {self.summaries} summaries and {self.lots} lots in "
            f"{self.seconds:.1f} s: "
        )
        if self.ok:
            return head + "everything verifies."
        lines = [head + f"{self.failure_count} failures."]
        for failure in self.failures[:50]:
            where = ", ".join(
                f"{k} {failure[k]}"
                for k in ("seq", "lot", "lot_seq", "node", "size")
                if k in failure
            )
            lines.append(f"  ✗ {failure['check']} ({where}): {failure['detail']}")
        return "\n".join(lines)


# One chunk, checked on its own ------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """What the check of a chunk found of one entry, for the pass in sequence."""

    seq: int
    kind: str
    hash: str
    """The hash of the stored bytes (what the next link must name)."""
    problems: list[tuple[str, str]]
    links: list[tuple[str, int, str]]
    """The entry's rows in the events table: (lot, lot_seq, role)."""
    prevs: dict[str, str | None]
    """Each lot the body links to, with the prev it names for it."""
    key: str | None = None
    partner: str | None = None
    signed_with: bytes | None = None
    """The public key the signature verified with (read ahead from the key records)."""
    signature_ok: bool = False
    stage: str | None = None
    replay: bytes | None = None
    record: dict[str, Any] | None = None
    transfer_to: str | None = None
    """The recipient a ``transferred`` event names (its feed item, PROTOCOL.md §20)."""
    inputs: list[str] = field(default_factory=list)
    """A transformation's input lots, in order (the feed items of their signers)."""


@dataclass(slots=True)
class Chunk:
    start: int
    end: int
    rows: list[Row]
    edge: list[tuple[int, bytes]]
    """The chunk's perfect subtrees, left to right: (level, hash)."""
    checkpoint_edges: dict[int, list[tuple[int, bytes]]]
    upper: dict[NodeId, bytes]
    """Stored nodes completed in the chunk but spanning earlier chunks too."""
    node_problems: list[tuple[str, str, dict[str, Any]]]
    nodes: int


def _body(text: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        body = json.loads(text)
    except ValueError as exc:
        return None, f"the stored body is not JSON: {exc}"
    if not isinstance(body, dict):
        return None, "the stored body is not a JSON object"
    return body, None


def _signed(row: Row, body: dict[str, Any], stored: bytes, hints: dict[str, bytes]) -> None:
    """Read a partner-signed entry: its links, signer, what the pass in sequence replays."""
    try:
        if row.kind == "event":
            event = Event.from_json(body, path="body", canonical=stored)
            row.prevs = {event.lot: event.prev}
            row.key, row.partner, row.stage = event.key, event.partner, event.stage
            recipient = event.data.get("to")
            if event.action == "transferred" and isinstance(recipient, str):
                row.transfer_to = recipient
            if event.action in _OPENING or not _REPLAYED_FACTS.isdisjoint(event.data):
                read_green_facts(event.data, path="body.data")
                row.replay = stored
        else:
            t = Transformation.from_json(body, path="body", canonical=stored)
            row.prevs = {i.lot: i.prev for i in t.inputs} | {o.lot: None for o in t.outputs}
            row.key, row.partner = t.key, t.partner
            row.inputs = [i.lot for i in t.inputs]
            read_green_facts(t.data, path="body.data")
            row.replay = stored
    except FieldError as exc:
        row.problems.append(("shape", str(exc)))
        row.key = str(body.get("key"))
        row.partner = str(body.get("partner"))
    row.signed_with = hints.get(str(row.key))


KeysAhead = list[tuple[int, bytes]]
"""The service keys read ahead, unverified: (first position it signs, raw public key)."""


def _key_at(keys: KeysAhead, position: int) -> bytes:
    index = bisect_right([first for first, _ in keys], position) - 1
    return keys[max(index, 0)][1]


def check_chunk(
    url: str,
    start: int,
    end: int,
    service_keys: KeysAhead,
    hints: dict[str, bytes],
    checkpoint_sizes: list[int],
) -> Chunk:
    """Check the entries [start, end) and their tree (in a worker process, or this one)."""
    engine = _engine(url)
    with read_transaction(engine) as conn:
        stored = repository.entry_rows(conn, start, end)
        links = repository.link_rows(conn, start, end)
        nodes = repository.node_rows(conn, start, end)
    rows: list[Row] = []
    signatures = _Signatures(service_keys)
    leaves: dict[int, bytes] = {}
    expected = start
    for seq, kind, stored_hash, text, signature, signer, recorded_at, receipt in stored:
        row = Row(seq, kind, "", [], links.get(seq, []), {})
        if seq != expected:
            row.problems.append(("sequence", f"entries {expected} to {seq - 1} are missing"))
        expected = seq + 1
        data = text.encode("utf-8")
        _read(row, stored_hash, text, data, _key_at(service_keys, seq), hints)
        signatures.add(row, data, signature, receipt, recorded_at)
        leaves[seq] = leaf_hash(
            leaf_bytes(
                seq=seq,
                kind=kind,
                entry_hash=stored_hash,
                signature=signature,
                signer=signer,
                recorded_at=recorded_at,
            )
        )
        rows.append(row)
    signatures.verify()
    return _tree(start, end, leaves, nodes, rows, checkpoint_sizes)


def _read(
    row: Row, stored_hash: str, text: str, data: bytes, service_key: bytes, hints: dict[str, bytes]
) -> None:
    """The entry's hash, kind and body: what it links, who signed it, what to replay."""
    row.hash = sha256_hex(data)
    if row.hash != stored_hash:
        row.problems.append(
            ("hash", f"body hashes to {row.hash[:16]}…, stored {stored_hash[:16]}…")
        )
    if row.kind not in ENTRY_KINDS:
        row.problems.append(("kind", f"unknown kind {row.kind!r}"))
    body, unreadable = _body(text)
    if body is None:
        row.problems.append(("shape", str(unreadable)))
    elif row.kind in ("event", "transformation"):
        _signed(row, body, data, hints)
    else:
        if body.get("type") != ENTRY_KINDS.get(row.kind):
            row.problems.append(("type", f"body type does not match kind {row.kind}"))
        row.record = body
        row.signed_with = service_key


@dataclass(slots=True)
class _Signatures:
    """A chunk's receipts and signatures, verified together."""

    service_keys: KeysAhead
    tasks: list[tuple[bytes, bytes, bytes]] = field(default_factory=list)
    owners: list[tuple[Row, str]] = field(default_factory=list)

    def add(self, row: Row, data: bytes, signature: str, receipt: str, recorded_at: str) -> None:
        try:
            message = receipt_bytes(
                seq=row.seq, kind=row.kind, entry_hash=row.hash, recorded_at=recorded_at
            )
            self.tasks.append(
                (
                    _key_at(self.service_keys, row.seq),
                    b64decode_strict(receipt, field="receipt"),
                    message,
                )
            )
            self.owners.append((row, "receipt"))
        except LedgerError as exc:
            row.problems.append(("receipt", str(exc)))
        if row.signed_with is None:
            return
        try:
            self.tasks.append(
                (row.signed_with, b64decode_strict(signature, field="signature"), data)
            )
            self.owners.append((row, "signature"))
        except LedgerError as exc:
            row.problems.append(("signature", str(exc)))

    def verify(self) -> None:
        valid = set(valid_signatures(self.tasks))
        for index, (row, what) in enumerate(self.owners):
            if what == "signature":
                row.signature_ok = index in valid
                if not row.signature_ok and row.kind not in ("event", "transformation"):
                    row.problems.append(("signature", "the service's signature does not verify"))
            elif index not in valid:
                row.problems.append(("receipt", f"the receipt of seq {row.seq} does not verify"))


def _tree(
    start: int,
    end: int,
    leaves: dict[int, bytes],
    stored: list[tuple[int, int, int, bytes]],
    rows: list[Row],
    checkpoint_sizes: list[int],
) -> Chunk:
    """The chunk's subtrees from its leaves, against the nodes stored for it."""
    computed: dict[NodeId, tuple[bytes, int]] = {}
    due = set(checkpoint_sizes)
    local = CompactRange()
    edges: dict[int, list[tuple[int, bytes]]] = {}
    for seq in range(start, end):
        leaf = leaves.get(seq, b"\0" * 32)  # a missing entry: nothing above it can match
        for (level, index), value in local.append(leaf):
            computed[(level, (start >> level) + index)] = (value, seq)
        if seq + 1 in due:
            edges[seq + 1] = local.edge()
    problems: list[tuple[str, str, dict[str, Any]]] = []
    upper: dict[NodeId, bytes] = {}
    seen: set[NodeId] = set()
    for completed_at, level, index, value in stored:
        node = (level, index)
        mine = computed.get(node)
        if mine is None:
            if level > CHUNK_LEVEL or (index << level) < start:
                upper[node] = value
            else:
                problems.append(
                    (
                        "tree",
                        f"node {node} should not exist at entry {completed_at}",
                        {"seq": completed_at, "node": list(node)},
                    )
                )
            continue
        seen.add(node)
        expected, at = mine
        if at != completed_at:
            problems.append(
                ("tree", f"node {node} is recorded for entry {completed_at}, not {at}", {"seq": at})
            )
        elif expected != value:
            problems.append(
                (
                    "tree",
                    f"node {node} does not match the leaves below it",
                    {"seq": at, "node": list(node)},
                )
            )
    for node, (_, at) in computed.items():
        if node not in seen:
            problems.append(
                ("tree", f"node {node} completed by entry {at} is missing", {"seq": at})
            )
    return Chunk(start, end, rows, local.edge(), edges, upper, problems, len(stored))


_ENGINES: dict[str, Engine] = {}


def _engine(url: str) -> Engine:
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = make_engine(url)
    return engine


# In sequence -------------------------------------------------------------------------------


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
class _Sequence:
    """The state of the pass in sequence."""

    report: AuditReport
    origin: str
    history: ServiceKeyHistory
    keys: dict[str, _Key] = field(default_factory=dict)
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


def _hints(engine: Engine) -> dict[str, bytes]:
    """Every key record's public key, read ahead (unverified: the pass in sequence checks
    each record and that the key an entry verified with is the one registered)."""
    hints: dict[str, bytes] = {}
    with read_transaction(engine) as conn:
        for body in repository.key_record_bodies(conn):
            try:
                hints[str(body.get("key"))] = PublicKey.from_b64(str(body.get("public_key"))).raw
            except (LedgerError, TypeError):
                continue
    return hints


def run(
    engine: Engine,
    *,
    service_key: PublicKey,
    origin: str,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 0,
) -> AuditReport:
    """Audit everything; ``progress(done, total)`` is called after every chunk.

    With ``workers`` > 0 the chunks are checked in that many processes, ahead of the
    pass in sequence (the findings are the same either way).
    """
    started = time.perf_counter()
    report = AuditReport()
    url = engine.url.render_as_string(hide_password=False)
    with read_transaction(engine) as conn:
        total = repository.next_seq(conn)
        checkpoints = list(repository.iter_checkpoints(conn))
    hints = _hints(engine)
    ahead = _service_keys_ahead(engine, service_key)
    state = _Sequence(report, origin, ServiceKeyHistory(PublicKey(ahead[0][1])))
    for checkpoint in [c for c in checkpoints if c.size == 0]:
        state._checkpoint(checkpoint, EMPTY_ROOT)
    ranges = [(start, min(start + CHUNK, total)) for start in range(0, total, CHUNK)]
    due = {r: [c for c in checkpoints if r[0] < c.size <= r[1]] for r in ranges}
    jobs = (
        (url, start, end, ahead, hints, [c.size for c in due[(start, end)]])
        for start, end in ranges
    )
    pool = ProcessPoolExecutor(workers) if workers > 0 else None
    try:
        chunks: Iterator[Chunk] = (
            pool.map(_check_chunk_job, jobs) if pool is not None else map(_check_chunk_job, jobs)
        )
        for chunk in chunks:
            at = time.perf_counter()
            state.chunk(chunk, due[(chunk.start, chunk.end)])
            report.sequential_seconds += time.perf_counter() - at
            if progress is not None:
                progress(chunk.end, total)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    _finish(state, checkpoints, total, engine)
    _keys_check(state, ahead, service_key)
    _feed_check(state, engine)
    report.seconds = time.perf_counter() - started
    return report


def _service_keys_ahead(engine: Engine, configured: PublicKey) -> KeysAhead:
    """The service keys the announcements name, read ahead and unverified (the pass in
    sequence follows each announcement and ``_keys_check`` compares): the first is the key
    the first announcement hands over from, or the configured key if there is none."""
    with read_transaction(engine) as conn:
        announced = [(e.seq, e.body) for e in repository.service_key_entries(conn)]
    keys: KeysAhead = []
    for seq, body in announced:
        try:
            if not keys:
                keys.append((0, PublicKey.from_b64(str(body.get("previous_public_key"))).raw))
            keys.append((seq + 1, PublicKey.from_b64(str(body.get("public_key"))).raw))
        except LedgerError:
            break  # the pass in sequence reports the announcement
    return keys or [(0, configured.raw)]


def _keys_check(state: _Sequence, ahead: KeysAhead, configured: PublicKey) -> None:
    """The keys followed in sequence are those the chunks verified with, the last of them is
    the configured service key, and each handover checkpoint exists."""
    report, history = state.report, state.history
    followed = [(p.first, p.key.raw) for p in history.periods]
    if followed != ahead:
        report.fail(
            "service key",
            f"the log's key announcements do not chain: {len(ahead) - 1} announced, "
            f"{len(followed) - 1} followed",
        )
    if history.current.raw != configured.raw:
        report.fail(
            "service key",
            f"the key in force per the log is {history.current.key_id}, but the configured "
            f"service key is {configured.key_id}",
        )
    for period in history.periods[1:]:
        if period.first not in state.checkpoint_sizes:
            report.fail(
                "checkpoint",
                f"no handover checkpoint of size {period.first} for the rotation at seq "
                f"{period.announced_seq}",
                seq=period.announced_seq,
            )


def _feed_check(state: _Sequence, engine: Engine) -> None:
    """The partners' feed (a projection the writer keeps) is exactly what the entries give:
    nothing dropped, added or reordered behind the service's back."""
    with read_transaction(engine) as conn:
        stored = repository.feed_rows(conn)
    expected = state.feed
    if stored == expected:
        return
    at = next(
        (i for i, (a, b) in enumerate(zip(stored, expected, strict=False)) if a != b),
        min(len(stored), len(expected)),
    )
    found = stored[at] if at < len(stored) else None
    wanted = expected[at] if at < len(expected) else None
    state.report.fail(
        "feed",
        f"the feed holds {len(stored)} items, the entries give {len(expected)}; item {at + 1} "
        f"is {found}, the entries give {wanted}",
        seq=(wanted or found or (None,))[0],
    )


def _check_chunk_job(job: tuple[str, int, int, KeysAhead, dict[str, bytes], list[int]]) -> Chunk:
    return check_chunk(*job)


def _finish(state: _Sequence, checkpoints: list[CheckpointRow], total: int, engine: Engine) -> None:
    report = state.report
    with read_transaction(engine) as conn:
        beyond = repository.nodes_beyond(conn, total)
        for _, level, index in beyond:
            report.nodes += 1
            report.fail(
                "tree", f"node {(level, index)} lies beyond the last entry", node=[level, index]
            )
        for checkpoint in checkpoints:
            if checkpoint.size > total:
                report.checkpoints += 1
                report.fail(
                    "checkpoint",
                    f"signed for {checkpoint.size} entries, but the log holds {total}: "
                    "entries were removed",
                    size=checkpoint.size,
                )
        for lot in repository.iter_lots(conn):
            report.lots += 1
            head = state.heads.get(lot.lot)
            if head is None or head.hash != lot.head or head.lot_seq + 1 != lot.length:
                report.fail(
                    "head",
                    f"lot records head {lot.head[:16]} after {lot.length} events; the "
                    f"ledger's chain ends at {head.hash[:16] if head else None}",
                    lot=lot.lot,
                )
