"""Every test vector in docs/PROTOCOL.md (§12, §15.3), recomputed from the file itself."""

from __future__ import annotations

import base64
import json
import re
from decimal import Decimal, localcontext
from pathlib import Path

import pytest

from app.ledger.canonical import canonical_bytes
from app.ledger.errors import InvalidSignature
from app.ledger.events import Event
from app.ledger.hashing import sha256_hex
from app.ledger.keys import PublicKey, SigningKey, b64decode_strict, b64encode
from app.ledger.log.merkle import (
    InvalidProof,
    inclusion_ranges,
    leaf_hash,
    reference_root,
    verify_inclusion,
)
from app.ledger.log.note import (
    Checkpoint,
    NoteVerifier,
    format_checkpoint,
    open_checkpoint,
    sign_note,
)
from app.ledger.log.service_keys import ServiceKeyHistory, service_key_record
from app.ledger.provenance.balance import ARITHMETIC
from app.ledger.provenance.metrics import Replay, lot_metrics
from app.ledger.provenance.summaries import carried_of, summary_body
from app.ledger.provenance.transformations import Transformation
from app.ledger.records import LedgerEntry, leaf_bytes, receipt_bytes

PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md"
BLOCK = re.compile(r"<!-- vector ([a-z0-9-]+) -->\n```[a-z]*\n(.*?)\n```", re.DOTALL)


@pytest.fixture(scope="module")
def vectors() -> dict[str, str]:
    found = dict(BLOCK.findall(PROTOCOL.read_text(encoding="utf-8")))
    assert len(found) == 46, sorted(found)
    return found


def test_keys_match_rfc8032_and_key_ids(vectors: dict[str, str]) -> None:
    for who in ("partner", "service"):
        key = SigningKey.from_seed(bytes.fromhex(vectors[f"{who}-seed"]))
        assert key.public.b64 == vectors[f"{who}-public"]
        assert key.public.key_id == vectors[f"{who}-key-id"]
    # RFC 8032 §7.1 TEST 1 public key, independently of our encoding helpers.
    assert (
        PublicKey.from_b64(vectors["partner-public"]).raw.hex()
        == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )


def test_event_canonical_bytes_hash_and_signature(vectors: dict[str, str]) -> None:
    event = Event.from_json(json.loads(vectors["event-json"]))
    assert event.canonical == vectors["event-canonical"].encode("utf-8")
    assert event.hash == vectors["event-hash"]
    assert sha256_hex(vectors["event-canonical"].encode("utf-8")) == vectors["event-hash"]
    partner = SigningKey.from_seed(bytes.fromhex(vectors["partner-seed"]))
    assert b64encode(partner.sign(event.canonical)) == vectors["event-signature"]
    signature = b64decode_strict(vectors["event-signature"], field="signature")
    PublicKey.from_b64(vectors["partner-public"]).verify(event.canonical, signature, what="vector")


def test_receipt_vector(vectors: dict[str, str]) -> None:
    message = receipt_bytes(
        seq=1,
        kind="event",
        entry_hash=vectors["event-hash"],
        recorded_at="2024-03-04T09:00:01.000000Z",
    )
    assert message == vectors["receipt-canonical"].encode()
    service = PublicKey.from_b64(vectors["service-public"])
    signature = b64decode_strict(vectors["receipt-signature"], field="receipt")
    service.verify(message, signature, what="receipt vector")
    with pytest.raises(InvalidSignature):
        service.verify(message.replace(b'"seq":1', b'"seq":2'), signature, what="moved receipt")


def test_key_record_vector(vectors: dict[str, str]) -> None:
    record = json.loads(vectors["key-record-canonical"])
    assert canonical_bytes(record).decode() == vectors["key-record-canonical"]
    assert sha256_hex(canonical_bytes(record)) == vectors["key-record-hash"]
    service = SigningKey.from_seed(bytes.fromhex(vectors["service-seed"]))
    assert b64encode(service.sign(canonical_bytes(record))) == vectors["key-record-signature"]


def test_a_flipped_bit_in_the_signed_bytes_fails(vectors: dict[str, str]) -> None:
    canonical = bytearray(vectors["event-canonical"].encode())
    canonical[10] ^= 0x01
    signature = b64decode_strict(vectors["event-signature"], field="signature")
    with pytest.raises(InvalidSignature):
        PublicKey.from_b64(vectors["partner-public"]).verify(
            bytes(canonical), signature, what="flipped"
        )


def test_log_vectors(vectors: dict[str, str]) -> None:
    service = SigningKey.from_seed(bytes.fromhex(vectors["service-seed"]))
    leaves = [
        leaf_bytes(
            seq=0,
            kind="key",
            entry_hash=vectors["key-record-hash"],
            signature=vectors["key-record-signature"],
            signer=vectors["service-key-id"],
            recorded_at="2024-03-01T00:00:00.000000Z",
        ),
        leaf_bytes(
            seq=1,
            kind="event",
            entry_hash=vectors["event-hash"],
            signature=vectors["event-signature"],
            signer=vectors["partner-key-id"],
            recorded_at="2024-03-04T09:00:01.000000Z",
        ),
    ]
    for index, leaf in enumerate(leaves):
        assert leaf.decode() == vectors[f"leaf-{index}-bytes"]
        assert leaf_hash(leaf).hex() == vectors[f"leaf-{index}-hash"]
    root = reference_root(leaves)
    assert root.hex() == vectors["tree-2-root"]
    verifier = NoteVerifier.of("goldtrail.example/log", service.public)
    assert str(verifier) == vectors["log-verifier-key"]
    note = vectors["checkpoint-2"] + "\n"
    assert (
        sign_note(
            format_checkpoint(Checkpoint("goldtrail.example/log", 2, root)),
            name="goldtrail.example/log",
            key=service,
        )
        == note
    )
    assert open_checkpoint(note, NoteVerifier.parse(vectors["log-verifier-key"])).root == root
    verify_inclusion(
        leaf=leaf_hash(leaves[1]),
        index=1,
        size=2,
        proof=[base64.b64decode(vectors["inclusion-1-2"])],
        root_hash=root,
    )


def test_transformation_vector(vectors: dict[str, str]) -> None:
    t = Transformation.from_json(json.loads(vectors["transformation-json"]))
    assert t.canonical == vectors["transformation-canonical"].encode("utf-8")
    assert t.hash == vectors["transformation-hash"]
    partner = SigningKey.from_seed(bytes.fromhex(vectors["partner-seed"]))
    assert b64encode(partner.sign(t.canonical)) == vectors["transformation-signature"]


def test_replay_vector(vectors: dict[str, str]) -> None:
    bodies = json.loads(vectors["replay-bodies"])
    entries = [
        LedgerEntry(seq, "transformation", body, "", "", "", "", "")
        for seq, body in enumerate(bodies)
    ]
    assert bodies[2]["inputs"][0]["prev"] == Transformation.from_json(bodies[0]).hash
    replay = Replay(frozenset({"ORE-1", "SCRAP-1", "BAR-1"})).run(entries)
    assert lot_metrics(replay, "BAR-1") == json.loads(vectors["replay-metrics"])


def test_summary_vector(vectors: dict[str, str]) -> None:
    """§18: a summary is the replay's state written out exactly, signed by the service."""
    bodies = json.loads(vectors["replay-bodies"])
    entries = [
        LedgerEntry(seq, "transformation", body, "", "", "", "", "")
        for seq, body in enumerate(bodies)
    ]
    replay = Replay(frozenset({"ORE-1", "SCRAP-1", "BAR-1"})).run(entries)
    with localcontext(ARITHMETIC):
        body = summary_body(
            "BAR-1",
            head=Transformation.from_json(bodies[2]).hash,
            length=1,
            carried=replay.lots["BAR-1"],
        )
    assert body == json.loads(vectors["summary-json"])
    assert canonical_bytes(body).decode() == vectors["summary-canonical"]
    assert sha256_hex(canonical_bytes(body)) == vectors["summary-hash"]
    service = SigningKey.from_seed(bytes.fromhex(vectors["service-seed"]))
    assert b64encode(service.sign(canonical_bytes(body))) == vectors["summary-signature"]
    # What a verifier seeds its one-level replay with gives the same summary back.
    carried = carried_of(json.loads(vectors["summary-json"]))
    with localcontext(ARITHMETIC):
        again = summary_body("BAR-1", head=body["head"], length=1, carried=carried)
    assert again == body


def test_node_table_vector(vectors: dict[str, str]) -> None:
    ranges = [f"{low}-{high}" for low, high in inclusion_ranges(5, 13)]
    assert ranges == json.loads(vectors["node-ranges"])
    # The ranges are exactly the RFC 9162 path: hashing them as a proof verifies the leaf.
    leaves = [bytes([n]) for n in range(13)]

    def mth(low: int, high: int) -> bytes:
        return reference_root(leaves[low:high])

    proof = [mth(low, high) for low, high in inclusion_ranges(5, 13)]
    verify_inclusion(
        leaf=leaf_hash(leaves[5]), index=5, size=13, proof=proof, root_hash=mth(0, 13)
    )  # raises InvalidProof if the ranges were wrong
    with pytest.raises(InvalidProof):
        verify_inclusion(
            leaf=leaf_hash(leaves[5]), index=5, size=13, proof=proof[::-1], root_hash=mth(0, 13)
        )


def test_rotation_vectors(vectors: dict[str, str]) -> None:
    service = SigningKey.from_seed(bytes.fromhex(vectors["service-seed"]))
    following = SigningKey.from_seed(bytes.fromhex(vectors["rotation-next-seed"]))
    body = service_key_record(
        previous=service.public, new=following.public, announced_at="2026-11-30T08:00:00Z"
    )
    canonical = vectors["rotation-announcement-canonical"].encode("utf-8")
    assert canonical_bytes(body) == canonical
    assert sha256_hex(canonical) == vectors["rotation-announcement-hash"]
    signature = base64.b64decode(vectors["rotation-announcement-signature"])
    assert service.sign(canonical) == signature
    service.public.verify(canonical, signature, what="announcement")
    origin = "goldtrail.example/log"
    assert str(NoteVerifier.of(origin, following.public)) == vectors["rotation-next-verifier-key"]
    handover = vectors["rotation-handover-checkpoint"] + "\n"
    for key in (vectors["log-verifier-key"], vectors["rotation-next-verifier-key"]):
        assert open_checkpoint(handover, NoteVerifier.parse(key)).size == 2
    text = handover.split("\n\n")[0] + "\n"
    assert sign_note(text, name=origin, key=following, cosigners=(service,)) == handover
    history = ServiceKeyHistory(service.public)
    history.announce(1, body)
    assert history.key_at(1) == service.public
    assert history.key_at(2) == following.public
    assert history.open_checkpoint(handover, origin).root == bytes.fromhex(vectors["tree-2-root"])


def test_binding_vectors_of_section_21(vectors: dict[str, str]) -> None:
    from app.ledger.binding.claims import claim_commitment
    from app.ledger.binding.sun import TagKeys, aes_cmac, make_sun, tag_keys, uid_digest, verify_sun

    keys = json.loads(vectors["tag-keys"])
    master = bytes.fromhex(keys["master"])
    derived = tag_keys(master, keys["tag"])
    assert derived.meta_read.hex().upper() == keys["sdm_meta_read"]
    assert derived.file_read.hex().upper() == keys["sdm_file_read"]
    assert uid_digest(master, bytes.fromhex(keys["uid"])) == keys["uid_digest"]

    nxp = json.loads(vectors["sun-an12196"])
    found = verify_sun(
        TagKeys(bytes.fromhex(nxp["sdm_meta_read"]), bytes.fromhex(nxp["sdm_file_read"])),
        bytes.fromhex(nxp["picc_data"]),
        bytes.fromhex(nxp["cmac"]),
    )
    assert (found.uid.hex().upper(), found.counter) == (nxp["uid"], nxp["counter"])

    tap = json.loads(vectors["sun-tap"])
    tag = TagKeys(bytes.fromhex(tap["sdm_meta_read"]), bytes.fromhex(tap["sdm_file_read"]))
    uid = bytes.fromhex(tap["uid"])
    sv2 = bytes.fromhex("3CC300010080") + uid + tap["counter"].to_bytes(3, "little")
    assert aes_cmac(tag.file_read, sv2).hex().upper() == tap["session_mac_key"]
    picc, mac = make_sun(tag, uid, tap["counter"], padding=bytes.fromhex(tap["padding"]))
    assert (picc.hex().upper(), mac.hex().upper()) == (tap["picc_data"], tap["cmac"])
    assert verify_sun(tag, picc, mac).counter == tap["counter"]

    claim = json.loads(vectors["claim-commitment"])
    assert claim_commitment(claim["lot"], claim["code"]) == claim["claim_code_sha256"]


def test_the_order_of_the_arithmetic_vector(vectors: dict[str, str]) -> None:
    """§15.4: multiply first for an output's carbon, the fraction first for gram attributes;
    a split at circulation keeps its inputs' production stage."""
    bodies = json.loads(vectors["replay-order-bodies"])
    assert bodies[1]["inputs"][0]["prev"] == Transformation.from_json(bodies[0]).hash
    entries = [
        LedgerEntry(seq, "transformation", body, "", "", "", "", "")
        for seq, body in enumerate(bodies)
    ]
    replay = Replay(frozenset({"SCRAP-3", "PART-1", "PART-2"})).run(entries)
    head = Transformation.from_json(bodies[1]).hash
    with localcontext(ARITHMETIC):
        found = [
            summary_body(lot, head=head, length=1, carried=replay.lots[lot])
            for lot in ("PART-1", "PART-2")
        ]
    assert found == json.loads(vectors["replay-order-summaries"])
    with localcontext(ARITHMETIC):
        multiply_first = Decimal(2) * Decimal(1) / Decimal(3)
        fraction_first = Decimal(2) * (Decimal(1) / Decimal(3))
    assert found[0]["carbon_kgco2e"] == str(multiply_first) != str(fraction_first)


def test_grades_are_read_on_the_exact_intensity() -> None:
    """§15.4: 1,000.04 kg per kg is written 1000 but is grade B, not A."""
    from app.ledger.provenance.metrics import grade

    assert grade(Decimal("1000.04"), conflict_free=True, mercury_free=True) == "B"
    assert grade(Decimal("1000"), conflict_free=True, mercury_free=True) == "A"
