"""Offline verification of Goldtrail's documents, trusting no server (PROTOCOL.md §5–§19).

For a lot export, a receipt and a version 2 passport it recomputes every entry's RFC 8785
bytes and SHA-256, every partner signature with a key valid at the entry's position, every
service signature and receipt with the service key in force at that position (following
key rotations, §19), every chain link, every RFC 9162 inclusion proof, and the C2SP
checkpoint's signature. The decimal arithmetic of a passport's metrics is the one thing it
leaves to the passport's signature (``goldtrail verify`` recomputes it). A credential's
``eddsa-jcs-2022`` proof is checked against its ``did:key``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from goldtrail_client._core.errors import LedgerError
from goldtrail_client._core.keys import PublicKey as CorePublicKey
from goldtrail_client._core.log.merkle import inclusion_ranges, leaf_hash, verify_inclusion
from goldtrail_client._core.log.note import note_key_id
from goldtrail_client._core.records import leaf_bytes, receipt_bytes
from goldtrail_client._core.report import Check, Report
from goldtrail_client.keys import PublicKey
from goldtrail_client.signing import canonical

__all__ = [
    "Check",
    "LogKey",
    "Report",
    "verify_credential",
    "verify_export",
    "verify_passport",
    "verify_receipt",
]


def _b64(text: object) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        return b""


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# The log: verifier keys, checkpoints, inclusion proofs ----------------------------------------


@dataclass(frozen=True, slots=True)
class LogKey:
    """A C2SP note verifier key, ``<origin>+<key id hex>+<base64(0x01 ‖ key)>``."""

    origin: str
    key: PublicKey

    @classmethod
    def parse(cls, text: str) -> LogKey:
        name, _, rest = text.strip().partition("+")
        key_id, _, material = rest.partition("+")
        raw = _b64(material)
        if not name or len(raw) != 33 or raw[0] != 1:
            raise ValueError("not an Ed25519 note verifier key <origin>+<id>+<key>")
        found = cls(name, PublicKey(raw[1:]))
        if found.note_key_id.hex() != key_id:
            raise ValueError("the verifier key's id does not match its origin and key")
        return found

    @property
    def note_key_id(self) -> bytes:
        return _note_key_id(self.origin, self.key)


def _note_key_id(origin: str, key: PublicKey) -> bytes:
    return note_key_id(origin, CorePublicKey(key.raw))


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    origin: str
    size: int
    root: bytes
    text: str
    signatures: list[bytes]


def _checkpoint(note: str) -> _Checkpoint:
    split = note.rfind("\n\n")
    if split < 0:
        raise ValueError("not a signed note")
    text = note[: split + 1]
    lines = text.split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise ValueError("not a checkpoint: origin, size, root")
    signatures = [_b64(line.rsplit(" ", 1)[-1]) for line in note[split + 2 :].strip().split("\n")]
    return _Checkpoint(lines[0], int(lines[1]), _b64(lines[2]), text, signatures)


def _signed_by(checkpoint: _Checkpoint, key: PublicKey) -> bool:
    wanted = _note_key_id(checkpoint.origin, key)
    return any(
        sig[:4] == wanted and key.verifies(checkpoint.text.encode(), sig[4:])
        for sig in checkpoint.signatures
    )


def _included(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    try:
        verify_inclusion(leaf=leaf, index=index, size=size, proof=proof, root_hash=root)
    except LedgerError:
        return False
    return True


def _leaf_hash(entry: dict[str, Any], entry_hash: str) -> bytes:
    return leaf_hash(
        leaf_bytes(
            seq=entry["seq"],
            kind=entry["kind"],
            entry_hash=entry_hash,
            signature=entry["signature"],
            signer=entry["signer"],
            recorded_at=entry["recorded_at"],
        )
    )


# The service keys (§19) ------------------------------------------------------------------


@dataclass(slots=True)
class _Keys:
    periods: list[tuple[int, PublicKey]]

    def at(self, position: int) -> PublicKey:
        return [key for first, key in self.periods if first <= position][-1]

    def holds(self, key: PublicKey) -> bool:
        return any(k == key for _, k in self.periods)

    @property
    def current(self) -> PublicKey:
        return self.periods[-1][1]


def _service_keys(registry: list[dict[str, Any]], named: PublicKey, report: Report) -> _Keys:
    announcements = [e for e in registry if e.get("kind") == "service_key"]
    if not announcements:
        return _Keys([(0, named)])
    keys = _Keys([(0, PublicKey.from_b64(announcements[0]["body"]["previous_public_key"]))])
    chained = True
    for entry in announcements:
        body = entry["body"]
        new = PublicKey.from_b64(body["public_key"])
        chained &= (
            body.get("previous_public_key") == keys.at(entry["seq"]).b64
            and body.get("key") == new.key_id
            and not keys.holds(new)
            and keys.at(entry["seq"]).verifies(canonical(body), _b64(entry["signature"]))
        )
        keys.periods.append((entry["seq"] + 1, new))
    chained &= keys.current == named
    report.add(
        "service key history",
        chained,
        f"{len(announcements)} key rotation(s), each announced by the key before"
        if chained
        else "the key announcements do not lead to the document's service key",
    )
    return keys


def _trust(report: Report, keys: _Keys, log_key: LogKey | None) -> None:
    if log_key is None:
        report.add("service key", True, "taken from the document itself (no log key given)")
        return
    known = keys.holds(log_key.key)
    report.add(
        "service key",
        known,
        f"reached from the log key {log_key.key.key_id}" if known else "another service key",
    )


# Entries --------------------------------------------------------------------------------


class _Entries:
    """Checks entries one by one against the service keys and the partner keys they teach."""

    def __init__(self, keys: _Keys, checkpoint: _Checkpoint | None, proof_of: Any) -> None:
        self.keys = keys
        self.checkpoint = checkpoint
        self.proof_of = proof_of
        self.partner_keys: dict[str, tuple[str, PublicKey, int, float]] = {}

    def check(
        self, entry: dict[str, Any], signer: PublicKey | None = None, *, signature: bool = True
    ) -> tuple[str, list[str]]:
        """The entry's recomputed hash, and its problems; ``signer`` None: the service's."""
        body_bytes = canonical(entry["body"])
        entry_hash = hashlib.sha256(body_bytes).hexdigest()
        problems = []
        if entry_hash != entry.get("hash"):
            problems.append("hash")
        seq = int(entry["seq"])
        receipt = receipt_bytes(
            seq=seq, kind=entry["kind"], entry_hash=entry_hash, recorded_at=entry["recorded_at"]
        )
        if not self.keys.at(seq).verifies(receipt, _b64(entry.get("receipt"))):
            problems.append("receipt")
        if signature and not (signer or self.keys.at(seq)).verifies(
            body_bytes, _b64(entry.get("signature"))
        ):
            problems.append("signature")
        if self.checkpoint is not None:
            proof = self.proof_of(seq, self.checkpoint.size)
            leaf = _leaf_hash(entry, entry_hash)
            if proof is None or not _included(
                seq, self.checkpoint.size, leaf, proof, self.checkpoint.root
            ):
                problems.append("not in the log")
        return entry_hash, problems

    def registry(self, entry: dict[str, Any]) -> list[str]:
        _, problems = self.check(entry)
        body = entry["body"]
        if not problems and entry["kind"] == "key":
            key = PublicKey.from_b64(body["public_key"])
            self.partner_keys[body["key"]] = (body["partner"], key, entry["seq"], float("inf"))
        if not problems and entry["kind"] == "key_revocation" and body["key"] in self.partner_keys:
            partner, key, since, until = self.partner_keys[body["key"]]
            self.partner_keys[body["key"]] = (partner, key, since, min(until, entry["seq"]))
        return problems

    def signed(self, entry: dict[str, Any]) -> tuple[str, list[str]]:
        body = entry["body"]
        known = self.partner_keys.get(str(body.get("key")))
        if (
            known is None
            or known[0] != body.get("partner")
            or not known[2] < entry["seq"] < known[3]
        ):
            entry_hash, problems = self.check(entry, self.keys.at(entry["seq"]))
            return entry_hash, ["key", *(p for p in problems if p != "signature")]
        return self.check(entry, known[1])


def _registry(report: Report, entries: _Entries, registry: list[dict[str, Any]]) -> None:
    """Check the registry entries (teaching ``entries`` the partner keys), each a check."""
    for entry in registry:
        problems = entries.registry(entry)
        report.add(
            f"registry {entry['kind']}",
            not problems,
            ", ".join(problems) or "signed by the service",
            entry["seq"],
        )


def _prev_for(entry: dict[str, Any], lot: str) -> tuple[bool, str | None]:
    """Whether the entry names ``lot``, and the prev it names for it."""
    body = entry["body"]
    if entry["kind"] == "event":
        return body.get("lot") == lot, body.get("prev")
    for item in body.get("inputs") or []:
        if item.get("lot") == lot:
            return True, item.get("prev")
    return any(o.get("lot") == lot for o in body.get("outputs") or []), None


def _chain(report: Report, entries: _Entries, chain: list[dict[str, Any]], lot: str) -> str | None:
    head = None
    for position, entry in enumerate(chain):
        entry_hash, problems = entries.signed(entry)
        names, prev = _prev_for(entry, lot)
        if not names:
            problems.append(f"does not name {lot}")
        if prev != head:
            problems.append("link")
        head = entry_hash
        report.add(
            f"link #{position}",
            not problems,
            ", ".join(problems)
            or f"{entry['body'].get('action')}: hash, link, key, signature, receipt",
            entry["seq"],
        )
    return head


def _open(report: Report, doc_note: str, keys: _Keys, log_key: LogKey | None) -> _Checkpoint | None:
    try:
        checkpoint = _checkpoint(doc_note)
    except ValueError as exc:
        report.add("checkpoint", False, str(exc))
        return None
    ok = _signed_by(checkpoint, keys.at(checkpoint.size)) and (
        log_key is None or checkpoint.origin == log_key.origin
    )
    report.add("checkpoint", ok, f"{checkpoint.origin}, tree size {checkpoint.size}")
    return checkpoint if ok else None


# Documents ------------------------------------------------------------------------------


def verify_export(doc: dict[str, Any], *, log_key: str | None = None) -> Report:
    """A lot export (``GET /v1/lots/{lot}/export``): registry, chain, head, proofs."""
    report = Report()
    trusted = None if log_key is None else LogKey.parse(log_key)
    registry = doc.get("registry") or []
    keys = _service_keys(registry, PublicKey.from_b64(doc["service_key"]), report)
    _trust(report, keys, trusted)
    log = doc.get("log") or {}
    checkpoint = _open(report, str(log.get("checkpoint", "")), keys, trusted) if log else None
    proofs = log.get("proofs") or {}

    def proof_of(seq: int, size: int) -> list[bytes] | None:
        listed = proofs.get(str(seq))
        return None if listed is None else [_b64(p) for p in listed]

    entries = _Entries(keys, checkpoint, proof_of)
    _registry(report, entries, registry)
    head = _chain(report, entries, doc.get("events") or [], doc["lot"])
    report.add(
        "head",
        head == doc.get("head") and len(doc.get("events") or []) == doc.get("length"),
        "the chain ends at the lot's recorded head",
    )
    return report


def verify_passport(doc: dict[str, Any], *, log_key: str | None = None) -> Report:
    """A version 2 passport (``GET /v1/lots/{lot}/passport``)."""
    report = Report()
    if doc.get("format") != "goldtrail.passport.v2":
        report.add("format", False, "not a goldtrail.passport.v2 (use goldtrail verify for v1)")
        return report
    trusted = None if log_key is None else LogKey.parse(log_key)
    lot, registry = doc["lot"], doc.get("registry") or []
    service = PublicKey.from_b64(doc["service_key"])
    keys = _service_keys(registry, service, report)
    _trust(report, keys, trusted)
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    report.add(
        "passport signature",
        service.verifies(canonical(unsigned), _b64(doc.get("signature"))),
        "the service signed every byte of this passport",
    )
    checkpoint = _open(report, str(doc["log"]["checkpoint"]), keys, trusted)
    nodes = doc["log"].get("nodes") or {}

    def proof_of(seq: int, size: int) -> list[bytes] | None:
        ranges = [nodes.get(f"{low}-{high}") for low, high in inclusion_ranges(seq, size)]
        return None if None in ranges else [_b64(r) for r in ranges]

    entries = _Entries(keys, checkpoint, proof_of)
    _registry(report, entries, registry)
    chain = doc.get("chain") or []
    head = _chain(report, entries, chain, lot)
    summary = doc.get("summary") or {}
    report.add(
        "head",
        head == summary.get("head") and len(chain) == summary.get("length"),
        f"the chain of {len(chain)} links ends at the head the passport states",
    )
    first = chain[0] if chain else None
    named = (
        [[i["lot"], i["prev"]] for i in first["body"]["inputs"]]
        if first and first["kind"] == "transformation"
        else []
    )
    given = [[e["body"]["lot"], e["body"]["head"]] for e in doc.get("inputs") or []]
    report.add(
        "inputs",
        named == given,
        f"{len(named)} inputs, each summarised at the head the transformation names",
    )
    for entry in [
        *(doc.get("inputs") or []),
        *([doc["lot_summary"]] if doc.get("lot_summary") else []),
    ]:
        _, problems = entries.check(entry)
        if entry["kind"] != "summary":
            problems.append("not a summary")
        report.add(
            "summary",
            not problems,
            ", ".join(problems) or f"summary of {entry['body']['lot']}",
            entry["seq"],
        )
    return report


def verify_receipt(doc: dict[str, Any], *, log_key: str) -> Report:
    """A log receipt (``GET /v1/log/receipts/{seq}``): checkpoint, inclusion, service receipt."""
    report = Report()
    trusted = LogKey.parse(log_key)
    announced = doc.get("service_keys") or []
    registry = [item["entry"] for item in announced]
    named = PublicKey.from_b64(registry[-1]["body"]["public_key"]) if registry else trusted.key
    keys = _service_keys(registry, named, report)
    _trust(report, keys, trusted)
    checkpoint = _open(report, str(doc.get("checkpoint", "")), keys, trusted)
    proofs = {item["entry"]["seq"]: item["inclusion_proof"] for item in announced}
    proofs[doc["entry"]["seq"]] = doc.get("inclusion_proof") or []

    def proof_of(seq: int, size: int) -> list[bytes] | None:
        listed = proofs.get(seq)
        return None if listed is None else [_b64(p) for p in listed]

    entries = _Entries(keys, checkpoint, proof_of)
    for entry in registry:
        _, problems = entries.check(entry)
        report.add(
            "key handover",
            not problems,
            ", ".join(problems) or "announced and in the log",
            entry["seq"],
        )
    entry = doc["entry"]
    # A receipt proves where the entry is, not who signed it: an export proves that.
    partner_signed = entry["kind"] in ("event", "transformation")
    _, problems = entries.check(entry, signature=not partner_signed)
    report.add(
        "entry",
        not problems and doc.get("tree_size") == (checkpoint.size if checkpoint else None),
        ", ".join(problems)
        or f"entry {entry['seq']} is in the tree of size {doc.get('tree_size')}",
        entry["seq"],
    )
    return report


# Credentials ----------------------------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + _B58.index(char)
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + body


def verify_credential(credential: dict[str, Any]) -> Report:
    """A W3C VC 2.0 with an ``eddsa-jcs-2022`` proof by a ``did:key`` (as passports have)."""
    report = Report()
    proof = dict(credential.get("proof") or {})
    document = {k: v for k, v in credential.items() if k != "proof"}
    report.add(
        "suite",
        proof.get("type") == "DataIntegrityProof" and proof.get("cryptosuite") == "eddsa-jcs-2022",
        "DataIntegrityProof with eddsa-jcs-2022",
    )
    value = str(proof.pop("proofValue", ""))
    method = str(proof.get("verificationMethod", ""))
    try:
        multikey = method.split("#", 1)[0].removeprefix("did:key:")
        decoded = _b58decode(multikey[1:])
        if not multikey.startswith("z") or decoded[:2] != b"\xed\x01":
            raise ValueError(f"{method} is not an Ed25519 did:key")
        key = PublicKey(decoded[2:])
        signed = _sha256(canonical(proof)) + _sha256(canonical(document))
        report.add("proof", key.verifies(signed, _b58decode(value[1:])), f"signed by {method}")
    except (ValueError, IndexError) as exc:
        report.add("proof", False, str(exc))
    return report
