"""The transparency log: signed checkpoints, entries, proofs and receipts.

Every ledger entry is already a leaf of the tree (``writer``). Here the tree is
read: roots and proofs from O(log n) stored perfect subtrees fetched in one
query, and checkpoints issued at most once per ``checkpoint_interval_seconds``
while the tree grows, each one kept.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from app.db import read_transaction, single_read, write_transaction
from app.ledger.keys import SigningKey
from app.ledger.log import merkle
from app.ledger.log.note import Checkpoint, NoteVerifier, format_checkpoint, sign_note
from app.models import repository
from app.models.repository import CheckpointRow
from app.services.clock import format_time, utc_now
from app.services.context import LedgerContext
from app.services.errors import NotFound, NotYet
from app.services.service_keys import in_force

__all__ = [
    "RECEIPT_FORMAT",
    "checkpoint_covering",
    "checkpoint_if_due",
    "checkpoint_in",
    "checkpoint_or_latest",
    "consistency",
    "entry",
    "inclusion",
    "issue_checkpoint",
    "node_table",
    "proofs_against",
    "proven",
    "receipt",
    "sign_checkpoint",
    "stored_checkpoint",
    "tree_checkpoint",
    "verifier",
]

RECEIPT_FORMAT = "goldtrail.log-receipt.v1"

log = logging.getLogger("goldtrail.log")


def verifier(ctx: LedgerContext) -> NoteVerifier:
    return NoteVerifier.of(ctx.settings.log_origin, ctx.service_key.public)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _getter(conn: Connection, ids: set[merkle.NodeId]) -> merkle.NodeGetter:
    nodes = repository.tree_nodes_by_id(conn, ids)

    def get(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise NotFound(
                "log.node_missing", f"tree node ({level}, {index}) is missing from the store"
            ) from None

    return get


def _root(conn: Connection, size: int) -> bytes:
    return merkle.root(size, _getter(conn, merkle.nodes_for_root(size)))


def _is_due(latest: CheckpointRow | None, interval: float, now: datetime) -> bool:
    return latest is None or now - _issued(latest) >= timedelta(seconds=interval)


def sign_checkpoint(
    conn: Connection,
    ctx: LedgerContext,
    *,
    size: int,
    root: bytes,
    now: datetime,
    cosigners: tuple[SigningKey, ...] = (),
) -> CheckpointRow:
    """Sign and keep the checkpoint of ``size`` entries, with the key in force (§19)."""
    key = in_force(conn, ctx)
    text = format_checkpoint(Checkpoint(ctx.settings.log_origin, size, root))
    note = sign_note(text, name=ctx.settings.log_origin, key=key, cosigners=cosigners)
    checkpoint = CheckpointRow(size=size, root=root, note=note, issued_at=format_time(now))
    repository.append_checkpoint(conn, checkpoint)
    ctx.memory.checkpoint_at = now
    log.info(
        "signed checkpoint of size %d",
        size,
        extra={"event": "checkpoint", "size": size, "root": _b64(root)},
    )
    return checkpoint


def checkpoint_if_due(
    conn: Connection, ctx: LedgerContext, *, size: int, root: Callable[[], bytes], now: datetime
) -> CheckpointRow | None:
    """In a batch's write transaction: sign a checkpoint of ``size`` entries if one is due.

    ``root`` gives the tree's root at ``size`` (the batch has it in memory). The
    time of the last checkpoint this process saw spares the query while none is due.
    """
    interval = timedelta(seconds=ctx.settings.checkpoint_interval_seconds)
    seen = ctx.memory.checkpoint_at
    if seen is not None and now - seen < interval:
        return None
    latest = repository.latest_checkpoint(conn)
    if latest is not None:
        issued = _issued(latest)
        if latest.size >= size or now - issued < interval:
            ctx.memory.checkpoint_at = max(issued, seen) if seen else issued
            return None
    return sign_checkpoint(conn, ctx, size=size, root=root(), now=now)


def _issued(checkpoint: CheckpointRow) -> datetime:
    return datetime.fromisoformat(checkpoint.issued_at.replace("Z", "+00:00"))


def checkpoint_in(conn: Connection, ctx: LedgerContext, *, force: bool) -> CheckpointRow | None:
    """In a write transaction: the latest checkpoint, after signing one if the tree grew and
    one is due (or ``force``). None if the log is empty and none is due."""
    size = repository.next_seq(conn)
    latest = repository.latest_checkpoint(conn)
    now = utc_now()
    if latest is not None and (
        latest.size == size
        or not (force or _is_due(latest, ctx.settings.checkpoint_interval_seconds, now))
    ):
        return latest
    known = ctx.memory.tree
    root = known.root() if known is not None and known.size == size else _root(conn, size)
    return sign_checkpoint(conn, ctx, size=size, root=root, now=now)


def issue_checkpoint(ctx: LedgerContext, *, force: bool = False) -> CheckpointRow:
    """The latest checkpoint, after signing a new one if the tree grew and one is due.

    ``force`` signs one whenever the tree grew, due or not. Runs under the
    sequencer lock, so a checkpoint's size is exactly the number of entries
    committed and two workers never sign two roots for one size.
    """
    with read_transaction(ctx.engine) as conn:
        latest = repository.latest_checkpoint(conn)
        if latest is not None and latest.size == repository.next_seq(conn):
            return latest  # nothing new: no need to queue for the sequencer lock
    with write_transaction(ctx.engine) as conn:
        checkpoint = checkpoint_in(conn, ctx, force=force)
    assert checkpoint is not None
    return checkpoint


def checkpoint_covering(ctx: LedgerContext, seq: int) -> CheckpointRow:
    """A checkpoint whose tree holds entry ``seq``: the latest, or one signed now.

    Documents the service serves (exports, receipts, passports) are proven against
    it, so that every entry they carry is provable the moment they are served.
    """
    with read_transaction(ctx.engine) as conn:
        latest = repository.latest_checkpoint(conn)
    if latest is not None and latest.size > seq:
        return latest
    return issue_checkpoint(ctx, force=True)


def proven(
    ctx: LedgerContext, build: Callable[[Connection, CheckpointRow | None], dict[str, Any]]
) -> dict[str, Any]:
    """A document built by ``build`` against a checkpoint that covers every entry in it.

    The checkpoint is signed on demand when the tree grew since the last one, so an
    export fetched right after an append is provable at once (issue: a fresh export
    must never verify as broken). An entry appended between signing and reading is
    caught by comparing sequence numbers, and the document is built again.
    """
    for _ in range(_PROVE_ATTEMPTS):
        checkpoint = tree_checkpoint(ctx)
        with read_transaction(ctx.engine) as conn:
            in_force(conn, ctx)  # the document names the key in force, after a rotation too
            doc = build(conn, checkpoint)
        if checkpoint is None or _newest_seq(doc) < checkpoint.size:
            return doc
    return doc


_PROVE_ATTEMPTS = 3


def _newest_seq(doc: dict[str, Any]) -> int:
    seqs = [
        int(entry["seq"])
        for member in ("registry", "events", "entries")
        for entry in doc.get(member, ())
        if isinstance(entry, dict) and "seq" in entry
    ]
    return max(seqs, default=-1)


def tree_checkpoint(ctx: LedgerContext) -> CheckpointRow | None:
    """A checkpoint of every entry committed now (signed on demand), or the latest kept
    one when the stored tree is incomplete and cannot be signed."""
    try:
        return issue_checkpoint(ctx, force=True)
    except NotFound:
        log.warning("cannot sign a checkpoint: the stored tree is incomplete")
        with read_transaction(ctx.engine) as conn:
            return repository.latest_checkpoint(conn)


def checkpoint_or_latest(ctx: LedgerContext) -> CheckpointRow | None:
    """A fresh checkpoint if one can be signed, else the latest kept one.

    Signing fails when stored tree nodes are missing (someone edited the
    database); exports must still be produced so that verification can say so.
    """
    try:
        return issue_checkpoint(ctx)
    except NotFound:
        log.warning("cannot sign a checkpoint: the stored tree is incomplete")
        with read_transaction(ctx.engine) as conn:
            return repository.latest_checkpoint(conn)


def stored_checkpoint(ctx: LedgerContext, size: int) -> CheckpointRow:
    with read_transaction(ctx.engine) as conn:
        checkpoint = repository.checkpoint_by_size(conn, size)
    if checkpoint is None:
        raise NotFound(
            "log.no_checkpoint", f"no checkpoint was issued at size {size}", field="size"
        )
    return checkpoint


# Proofs read without a transaction: stored tree nodes never change, so once the
# size is checked against the tree every node a proof needs exists and stays.


def _check_size(conn: Connection, size: int, field: str) -> None:
    current = repository.next_seq(conn)
    if size > current:
        raise NotFound(
            "log.beyond_tree",
            f"{field} {size} is beyond the tree, which has {current} entries",
            field=field,
        )


def entry(ctx: LedgerContext, index: int) -> dict[str, Any]:
    with read_transaction(ctx.engine) as conn:
        found = repository.entry_by_seq(conn, index)
    if found is None:
        raise NotFound("log.no_entry", f"the log has no entry {index}", field="index")
    leaf = found.leaf
    return {
        "index": index,
        "entry": found.to_json(),
        "leaf": _b64(leaf),
        "leaf_hash": _b64(merkle.leaf_hash(leaf)),
    }


def inclusion(ctx: LedgerContext, *, index: int, size: int) -> dict[str, Any]:
    """RFC 9162 §2.1.3 inclusion proof of leaf ``index`` in the tree of ``size``."""
    with single_read(ctx.engine) as conn:
        _check_size(conn, size, "size")
        get = _getter(conn, merkle.nodes_for_inclusion(index, size) | merkle.nodes_for_root(size))
        proof = merkle.inclusion_proof(index, size, get)
        root = merkle.root(size, get)
    return {"index": index, "size": size, "root": _b64(root), "proof": [_b64(p) for p in proof]}


def consistency(ctx: LedgerContext, *, old: int, new: int) -> dict[str, Any]:
    """RFC 9162 §2.1.4 consistency proof between two tree sizes."""
    with single_read(ctx.engine) as conn:
        _check_size(conn, new, "to")
        wanted = (
            merkle.nodes_for_consistency(old, new)
            | merkle.nodes_for_root(old)
            | merkle.nodes_for_root(new)
        )
        get = _getter(conn, wanted)
        proof = merkle.consistency_proof(old, new, get)
        old_root, new_root = merkle.root(old, get), merkle.root(new, get)
    return {
        "from": old,
        "to": new,
        "from_root": _b64(old_root),
        "to_root": _b64(new_root),
        "proof": [_b64(p) for p in proof],
    }


def proofs_against(conn: Connection, seqs: list[int], size: int) -> dict[int, list[str]]:
    """Inclusion proofs of several leaves in one tree, fetching their nodes in one query."""
    wanted: set[merkle.NodeId] = set()
    for seq in seqs:
        wanted |= merkle.nodes_for_inclusion(seq, size)
    get = _getter(conn, wanted)
    return {seq: [_b64(p) for p in merkle.inclusion_proof(seq, size, get)] for seq in seqs}


def node_table(conn: Connection, seqs: list[int], size: int) -> dict[str, str]:
    """The hashes every inclusion proof of ``seqs`` in the tree of ``size`` needs, each once,
    named by the range of leaves it covers (``"low-high"``, PROTOCOL.md §16)."""
    ranges = {r for seq in seqs for r in merkle.inclusion_ranges(seq, size)}
    get = _getter(conn, merkle.nodes_for_ranges(ranges))
    return {
        f"{low}-{high}": _b64(merkle.range_hash(low, high, get)) for low, high in sorted(ranges)
    }


def receipt(ctx: LedgerContext, index: int) -> dict[str, Any]:
    """An entry, its inclusion proof and the signed checkpoint it is proven against."""
    with read_transaction(ctx.engine) as conn:
        exists = index < repository.next_seq(conn)
    if not exists:
        raise NotFound("log.no_entry", f"the log has no entry {index}", field="index")
    checkpoint = checkpoint_covering(ctx, index)
    if checkpoint.size <= index:  # only if the stored tree cannot be signed
        raise NotYet(
            "log.not_yet_checkpointed",
            f"entry {index} is not in a checkpoint yet; retry in "
            f"{ctx.settings.checkpoint_interval_seconds:g} s",
            field="index",
            extra={"retry_after": ctx.settings.checkpoint_interval_seconds},
        )
    with read_transaction(ctx.engine) as conn:
        found = repository.entry_by_seq(conn, index)
        assert found is not None
        announcements = [e for e in repository.service_key_entries(conn) if e.seq < checkpoint.size]
        proofs = proofs_against(conn, [index, *(e.seq for e in announcements)], checkpoint.size)
    doc: dict[str, Any] = {
        "format": RECEIPT_FORMAT,
        "origin": ctx.settings.log_origin,
        "index": index,
        "entry": found.to_json(),
        "tree_size": checkpoint.size,
        "inclusion_proof": proofs[index],
        "checkpoint": checkpoint.note,
    }
    if announcements:
        doc["service_keys"] = [
            {"entry": e.to_json(), "inclusion_proof": proofs[e.seq]} for e in announcements
        ]
    return doc
