"""One chunk of the log, checked on its own — in a worker process or in this one.

The log is cut into chunks of ``CHUNK`` entries aligned on the tree (a power of two, so
every perfect subtree of up to ``CHUNK`` leaves lies inside one chunk). A chunk's check
needs no order: every entry's stored bytes against its hash, its shape, its signature
and its receipt, its leaf, the stored perfect subtrees inside the chunk, and the right
edge of the tree at every checkpoint that ends inside it.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from app.db import make_engine, read_transaction
from app.ledger.errors import FieldError, LedgerError
from app.ledger.events import Event
from app.ledger.hashing import sha256_hex
from app.ledger.keys import b64decode_strict, valid_signatures
from app.ledger.log.merkle import CompactRange, NodeId, leaf_hash
from app.ledger.provenance.facts import read_green_facts
from app.ledger.provenance.transformations import Transformation
from app.ledger.records import (
    ENTRY_KINDS,
    leaf_bytes,
    receipt_bytes,
)
from app.models import repository

__all__ = ["CHUNK", "CHUNK_LEVEL", "Chunk", "KeysAhead", "Row", "check_chunk"]


# Facts of an event that change what a lot carries; an event with none of them (and not
# opening a lot) only adds its stage, which the audit applies without parsing it again.
REPLAYED_FACTS = frozenset(
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


OPENING = frozenset({"site_registered", "extracted", "recycled_intake"})


CHUNK_LEVEL = 12


CHUNK = 1 << CHUNK_LEVEL


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
            if event.action in OPENING or not REPLAYED_FACTS.isdisjoint(event.data):
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


def check_chunk_job(job: tuple[str, int, int, KeysAhead, dict[str, bytes], list[int]]) -> Chunk:
    return check_chunk(*job)
