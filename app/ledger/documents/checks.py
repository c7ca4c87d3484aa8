"""The checks every document's verification shares: chains, registry, service keys, log.

``ChainChecker`` checks entries one at a time — hash, signature, chain link,
key validity at that position, the service's receipt (docs/PROTOCOL.md §3–§5, §19) —
keeping only the key registry and each lot's head, so the audit of a whole ledger
runs in memory that grows with keys and lots, not with entries. ``log_checks`` and
``verify_in_checkpoint`` prove entries in a document's signed checkpoint (§8, §9).
Every document verifier (export, genealogy, passport, receipt) and the audit use
them. Nothing stops at the first failure: an auditor wants every broken entry named.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import FieldError, LedgerError
from ..events import Event
from ..hashing import sha256_hex
from ..keys import PublicKey
from ..log.merkle import leaf_hash, verify_inclusion
from ..log.note import Checkpoint, NoteVerifier, open_checkpoint
from ..log.service_keys import ServiceKeyHistory
from ..provenance.transformations import Transformation
from ..records import (
    ENTRY_KINDS,
    KEY_TYPE,
    REVOCATION_TYPE,
    LedgerEntry,
    leaf_bytes,
    receipt_bytes,
)
from ..report import Check, Report

__all__ = [
    "ChainChecker",
    "Check",
    "KeyState",
    "Report",
    "log_checks",
    "open_logged_checkpoint",
    "registry_checks",
    "service_key_check",
    "verify_in_checkpoint",
]


@dataclass(frozen=True, slots=True)
class KeyState:
    """What the registry says of one partner key."""

    partner: str
    public_key: PublicKey
    registered_seq: int
    revoked_seq: int | None

    def valid_at(self, seq: int) -> str | None:
        """None if the key may sign the entry at ``seq``, else the reason it may not."""
        if self.registered_seq >= seq:
            return f"key registered at seq {self.registered_seq}, after the entry"
        if self.revoked_seq is not None and self.revoked_seq < seq:
            return f"key revoked at seq {self.revoked_seq}, before the entry"
        return None


@dataclass(slots=True)
class _Head:
    hash: str
    lot_seq: int
    seq: int


class ChainChecker:
    """Checks ledger entries one by one; each method returns the problems it found."""

    def __init__(self, service_keys: ServiceKeyHistory | PublicKey) -> None:
        self.service_keys = (
            service_keys
            if isinstance(service_keys, ServiceKeyHistory)
            else ServiceKeyHistory(service_keys)
        )
        self.keys: dict[str, KeyState] = {}
        self.heads: dict[str, _Head] = {}
        self.prechecked: set[tuple[bytes, bytes, bytes]] = set()
        """(public key, signature, message) triples already verified elsewhere, for speed."""

    def _verify(self, key: PublicKey, message: bytes, signature: bytes, *, what: str) -> None:
        if (key.raw, signature, message) in self.prechecked:
            return
        key.verify(message, signature, what=what)

    def _receipt(self, entry: LedgerEntry, entry_hash: str) -> list[str]:
        message = receipt_bytes(
            seq=entry.seq, kind=entry.kind, entry_hash=entry_hash, recorded_at=entry.recorded_at
        )
        try:
            self._verify(
                self.service_keys.key_at(entry.seq),
                message,
                entry.receipt_signature(),
                what=f"receipt of seq {entry.seq}",
            )
        except LedgerError as exc:
            return [f"receipt: {exc}"]
        return []

    @staticmethod
    def _hash(entry: LedgerEntry, canonical: bytes) -> tuple[str, list[str]]:
        entry_hash = sha256_hex(canonical)
        if entry_hash == entry.hash:
            return entry_hash, []
        return entry_hash, [f"hash: body hashes to {entry_hash[:16]}…, stored {entry.hash[:16]}…"]

    def registry(self, entry: LedgerEntry) -> list[str]:
        """Check a service record (partner, key, revocation, summary, service key
        announcement), signed by the service key in force at its seq; remember what it says."""
        canonical = entry.body_bytes
        entry_hash, problems = self._hash(entry, canonical)
        if entry.body.get("type") != ENTRY_KINDS[entry.kind]:
            problems.append(f"type: body type does not match kind {entry.kind}")
        try:
            self._verify(
                self.service_keys.key_at(entry.seq),
                canonical,
                entry.signature_bytes(),
                what=f"{entry.kind} record",
            )
        except LedgerError as exc:
            problems.append(f"signature: {exc}")
        problems += self._receipt(entry, entry_hash)
        if not problems and entry.kind == "service_key":
            problems += self._follow(entry)
        if not problems:
            self._remember(entry)
        return problems

    def _follow(self, entry: LedgerEntry) -> list[str]:
        """Follow a key announcement, unless the history already holds it (a document's)."""
        if any(p.announced_seq == entry.seq for p in self.service_keys.periods):
            return []
        try:
            self.service_keys.announce(entry.seq, entry.body)
        except LedgerError as exc:
            return [f"service key: {exc}"]
        return []

    def _remember(self, entry: LedgerEntry) -> None:
        body = entry.body
        if body["type"] == KEY_TYPE:
            self.keys[body["key"]] = KeyState(
                body["partner"], PublicKey.from_b64(body["public_key"]), entry.seq, None
            )
        elif body["type"] == REVOCATION_TYPE and body["key"] in self.keys:
            state = self.keys[body["key"]]
            if state.revoked_seq is None or entry.seq < state.revoked_seq:
                self.keys[body["key"]] = KeyState(
                    state.partner, state.public_key, state.registered_seq, entry.seq
                )

    def _link(
        self, entry: LedgerEntry, entry_hash: str, lot: str, lot_seq: int, prev: str | None
    ) -> list[str]:
        """Check ``entry`` as link ``lot_seq`` of ``lot``, right after the link ``prev``."""
        problems = []
        head = self.heads.get(lot)
        self.heads[lot] = _Head(entry_hash, lot_seq, entry.seq)
        expected_prev = None if head is None else head.hash
        if prev != expected_prev:
            problems.append(
                f"link: {lot}'s prev is {prev and prev[:16]}, expected "
                f"{expected_prev and expected_prev[:16]}"
            )
        if lot_seq != (0 if head is None else head.lot_seq + 1):
            problems.append(f"order: recorded as #{lot_seq} after #{head and head.lot_seq}")
        if head is not None and entry.seq <= head.seq:
            problems.append(f"order: seq {entry.seq} does not follow seq {head.seq}")
        return problems

    def event(self, entry: LedgerEntry, *, lot: str, lot_seq: int) -> list[str]:
        """Check an event as position ``lot_seq`` of ``lot``'s chain."""
        canonical = entry.body_bytes
        entry_hash, problems = self._hash(entry, canonical)
        try:
            event = Event.from_json(entry.body, path="body", canonical=canonical)
        except FieldError as exc:
            self.heads[lot] = _Head(entry_hash, lot_seq, entry.seq)
            return [*problems, f"shape: {exc}"]
        if event.lot != lot:
            problems.append(f"lot: the event names lot {event.lot}")
        problems += self._link(entry, entry_hash, lot, lot_seq, event.prev)
        problems += self._signer(entry, event.partner, event.key, event.canonical)
        problems += self._receipt(entry, entry_hash)
        return problems

    def chain_entry(self, entry: LedgerEntry, *, lot: str, lot_seq: int) -> list[str]:
        """Check an event or transformation as link ``lot_seq`` of ``lot``'s chain."""
        if entry.kind == "transformation":
            return self.transformation(entry, links=[(lot, lot_seq)], complete=False)
        if entry.kind != "event":
            return [f"kind: a {entry.kind} record is not a link of a lot's chain"]
        return self.event(entry, lot=lot, lot_seq=lot_seq)

    def transformation(
        self, entry: LedgerEntry, *, links: list[tuple[str, int]], complete: bool
    ) -> list[str]:
        """Check a transformation as the given links of the chains of the lots it names.

        ``complete`` says ``links`` should hold every lot the transformation names
        (a whole-ledger audit); an export holds only the chains it exports.
        """
        canonical = entry.body_bytes
        entry_hash, problems = self._hash(entry, canonical)
        try:
            t = Transformation.from_json(entry.body, path="body", canonical=canonical)
        except FieldError as exc:
            for lot, lot_seq in links:
                self.heads[lot] = _Head(entry_hash, lot_seq, entry.seq)
            return [*problems, f"shape: {exc}"]
        prevs: dict[str, str | None] = {i.lot: i.prev for i in t.inputs}
        prevs.update({o.lot: None for o in t.outputs})
        for lot, lot_seq in links:
            if lot not in prevs:
                problems.append(f"lot: the transformation does not name lot {lot}")
                continue
            problems += self._link(entry, entry_hash, lot, lot_seq, prevs[lot])
        if complete:
            linked = {lot for lot, _ in links}
            problems += [
                f"index: lot {lot} named by the transformation has no chain link"
                for lot in t.lots
                if lot not in linked
            ]
        problems += self._signer(entry, t.partner, t.key, t.canonical)
        problems += self._receipt(entry, entry_hash)
        return problems

    def _signer(self, entry: LedgerEntry, partner: str, key: str, signed: bytes) -> list[str]:
        state = self.keys.get(key)
        if state is None:
            return [f"key: {key} is not in the registry"]
        problems = []
        if state.partner != partner:
            problems.append(f"key: {key} belongs to {state.partner}, not {partner}")
        invalid = state.valid_at(entry.seq)
        if invalid:
            problems.append(f"key: {invalid}")
        try:
            self._verify(
                state.public_key, signed, entry.signature_bytes(), what=f"{entry.kind} by {partner}"
            )
        except LedgerError as exc:
            problems.append(f"signature: {exc}")
        return problems


def service_key_check(
    doc: dict[str, Any], pinned: PublicKey | None, lot: str, registry: list[LedgerEntry]
) -> tuple[ServiceKeyHistory, Check]:
    """The service keys a document's entries are signed with, and whether ``pinned`` anchors
    them: the document's ``service_key`` (the key in force when it was issued), reached from
    earlier keys through the key announcements among its registry entries (§19)."""
    exported = PublicKey.from_b64(str(doc.get("service_key")), field="service_key")
    announcements = [e for e in registry if e.kind == "service_key"]
    try:
        history = ServiceKeyHistory.from_announcements(announcements, current=exported)
    except LedgerError as exc:
        return ServiceKeyHistory(exported), Check(
            "service key", False, f"the key history does not verify: {exc}", lot=lot
        )
    if history.current.raw != exported.raw:
        return history, Check(
            "service key",
            False,
            f"the document names service key {exported.key_id}, but its key announcements "
            f"end at {history.current.key_id}",
            lot=lot,
        )
    rotations = len(history.periods) - 1
    followed = f", reached through {rotations} key rotation(s) in the log" if rotations else ""
    if pinned is None:
        return history, Check(
            "service key", True, f"taken from the export itself (not pinned){followed}", lot=lot
        )
    if pinned.raw == exported.raw:
        return history, Check("service key", True, f"matches the pinned key{followed}", lot=lot)
    if history.holds(pinned):
        return history, Check(
            "service key",
            True,
            f"the pinned key {pinned.key_id} handed over to {exported.key_id}{followed}",
            lot=lot,
        )
    # Every entry is then checked against the pinned key, and fails as it should.
    return ServiceKeyHistory(pinned), Check(
        "service key", False, "export names a different service key", lot=lot
    )


def registry_checks(checker: ChainChecker, registry: list[LedgerEntry]) -> list[Check]:
    """Check the registry entries of an export, teaching ``checker`` the keys they hold."""
    checks = []
    for entry in registry:
        problems = checker.registry(entry)
        checks.append(
            Check(
                f"registry {entry.kind}",
                not problems,
                "; ".join(problems) or f"{entry.kind} record signed by the service",
                seq=entry.seq,
                hash=entry.hash,
            )
        )
    return checks


def verify_in_checkpoint(
    entry: LedgerEntry, proof: list[bytes], checkpoint: Checkpoint
) -> str | None:
    """None if ``entry`` is the leaf at its ``seq`` in the checkpointed tree, else why not."""
    entry_hash = sha256_hex(entry.body_bytes)
    leaf = leaf_bytes(
        seq=entry.seq,
        kind=entry.kind,
        entry_hash=entry_hash,
        signature=entry.signature,
        signer=entry.signer,
        recorded_at=entry.recorded_at,
    )
    try:
        verify_inclusion(
            leaf=leaf_hash(leaf),
            index=entry.seq,
            size=checkpoint.size,
            proof=proof,
            root_hash=checkpoint.root,
        )
    except LedgerError as exc:
        return f"inclusion: {exc}"
    return None


PENDING_CHECK = "not yet in log"
"""The check an entry fails when it is newer than the document's checkpoint: the
document is not broken, only early (fetch it again)."""


ProofOf = Callable[[dict[str, Any], int, int], list[bytes] | str | None]
"""From a document's ``log`` member, the inclusion proof of leaf ``seq`` in the tree of
``size``: its hashes, why it cannot be read, or None if the document carries none."""


def listed_proof(log: dict[str, Any], seq: int, size: int) -> list[bytes] | None:
    """An export's proof, listed by seq under ``proofs`` (PROTOCOL.md §11)."""
    proofs = log.get("proofs")
    raw = proofs.get(str(seq)) if isinstance(proofs, dict) else None
    try:
        return [base64.b64decode(p, validate=True) for p in raw] if isinstance(raw, list) else None
    except (binascii.Error, TypeError):
        return None


def open_logged_checkpoint(
    note: str, log_key: NoteVerifier, history: ServiceKeyHistory | None
) -> Checkpoint:
    """A document's checkpoint, verified with the key in force at its size."""
    if history is None:
        return open_checkpoint(note, log_key)
    return history.open_checkpoint(note, log_key.name)


def log_checks(
    doc: dict[str, Any],
    lot: str,
    entries: list[LedgerEntry],
    log_key: NoteVerifier,
    history: ServiceKeyHistory | None = None,
    *,
    proof_of: ProofOf = listed_proof,
    missing: tuple[str, str] = ("log", "the export carries no checkpoint and proofs"),
) -> list[Check]:
    """The document's checkpoint, then each entry in its tree by the proof ``proof_of`` reads;
    ``missing`` is the check (name, detail) failed by a document without a ``log``.

    With ``history`` the checkpoint is verified with the service key in force at its size
    (the log's name is ``log_key``'s); without, with ``log_key`` itself.
    """
    log = doc.get("log")
    if not isinstance(log, dict):
        return [Check(missing[0], False, missing[1], lot=lot)]
    try:
        checkpoint = open_logged_checkpoint(str(log.get("checkpoint")), log_key, history)
    except LedgerError as exc:
        return [Check("checkpoint", False, str(exc), lot=lot)]
    checks = [
        Check("checkpoint", True, f"signed by {log_key.name}, size {checkpoint.size}", lot=lot)
    ]
    for entry in entries:
        proof = proof_of(log, entry.seq, checkpoint.size)
        if proof is None and entry.seq >= checkpoint.size:
            checks.append(
                Check(
                    PENDING_CHECK,
                    False,
                    f"seq {entry.seq} is newer than the checkpoint (size {checkpoint.size}): "
                    "not yet in a checkpoint, fetch again",
                    lot=lot,
                    seq=entry.seq,
                    hash=entry.hash,
                )
            )
            continue
        if proof is None:
            problem: str | None = "no inclusion proof"
        elif isinstance(proof, str):
            problem = proof
        else:
            problem = verify_in_checkpoint(entry, proof, checkpoint)
        checks.append(
            Check(
                "in log",
                problem is None,
                problem or f"seq {entry.seq} is in the checkpointed tree",
                lot=lot,
                seq=entry.seq,
                hash=entry.hash,
            )
        )
    return checks
