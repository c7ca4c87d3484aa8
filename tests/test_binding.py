"""Every piece its own card (PROTOCOL.md §21): NFC tags whose taps cannot be copied, one-time
claim codes, and bars as the bullion trade identifies them — each binding in the log."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, text

from app.config import Settings
from app.ledger.binding.claims import claim_commitment, new_claim_code
from app.ledger.binding.sun import InvalidSun, TagKeys, make_sun, sdmmac, tag_keys, verify_sun
from app.ledger.keys import SigningKey
from app.services import audit
from tests.support import Actor, Ledger, lot, next_time, problem, sign_transformation, tamper

ZERO = bytes(16)


# The application note's own example values (NXP AN12196, "SUN message" with the default
# all-zero keys), as nfc-developer/sdm-backend's tests also use them.
def test_an12196_sun_message_decrypts_to_its_published_uid_and_counter() -> None:
    found = verify_sun(
        TagKeys(ZERO, ZERO),
        bytes.fromhex("EF963FF7828658A599F3041510671E88"),
        bytes.fromhex("94EED9EE65337086"),
    )
    assert found.uid == bytes.fromhex("04DE5F1EACC040")
    assert found.counter == 61


def test_an12196_plain_sun_mac_is_reproduced() -> None:
    """UID 04 1E 3C 8A 2D 6B 80 and counter 6 in plain, MAC 4B 00 06 40 04 B0 B3 D3."""
    assert sdmmac(ZERO, bytes.fromhex("041E3C8A2D6B80"), 6) == bytes.fromhex("4B00064004B0B3D3")


@pytest.mark.parametrize("part", ["picc_data", "cmac"])
@pytest.mark.parametrize("bit", [0, 7, 63])
def test_one_flipped_bit_is_refused(part: str, bit: int) -> None:
    picc = bytearray.fromhex("EF963FF7828658A599F3041510671E88")
    mac = bytearray.fromhex("94EED9EE65337086")
    target = picc if part == "picc_data" else mac
    target[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(InvalidSun):
        verify_sun(TagKeys(ZERO, ZERO), bytes(picc), bytes(mac))


def test_tag_keys_are_diversified_per_tag() -> None:
    master = bytes(range(16))
    one, two = tag_keys(master, "0011223344556677"), tag_keys(master, "8899aabbccddeeff")
    assert len({one.meta_read, one.file_read, two.meta_read, two.file_read}) == 4
    picc, mac = make_sun(one, bytes.fromhex("04DE5F1EACC040"), 5)
    assert verify_sun(one, picc, mac).counter == 5
    with pytest.raises(InvalidSun):
        verify_sun(two, picc, mac)  # one tag's keys say nothing of another's messages


class Tag:
    """A tag simulator: what an NTAG 424 DNA writes into its URL at each tap."""

    def __init__(self, registration: dict[str, Any], uid: str) -> None:
        self.id = registration["tag"]
        self.keys = TagKeys(
            bytes.fromhex(registration["keys"]["sdm_meta_read"]),
            bytes.fromhex(registration["keys"]["sdm_file_read"]),
        )
        self.uid = bytes.fromhex(uid)
        self.counter = 0
        self.base = registration["url"].split("?")[0]

    def tap(self) -> str:
        self.counter += 1
        picc, mac = make_sun(self.keys, self.uid, self.counter)
        return f"{self.base}?picc_data={picc.hex().upper()}&cmac={mac.hex().upper()}"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _bar_lot(ledger: Ledger, refiner: Actor, lot_id: str, serial: str = "AB123456") -> None:
    ledger.post(
        refiner,
        lot_id,
        "smelting",
        "recycled_intake",
        {"form": "bar", "mass_g": 1000, "fineness": 999.9, "recycled": True},
    )
    bar = {
        "brand": "Ticino Refinery",
        "serial": serial,
        "metal": "gold",
        "gross_mass_g": 1000,
        "fineness": 999.9,
        "year": 2026,
        "assay_certificate_sha256": "a" * 64,
    }
    ledger.post(refiner, lot_id, "smelting", "bar_identified", {"bar": bar})


def _register(ledger: Ledger, actor: Actor, uid: str) -> Tag:
    answer = ledger.client.post("/v1/tags", json={"uid": uid}, headers=actor.auth)
    assert answer.status_code == 201, answer.text
    return Tag(answer.json(), uid)


def _bind(ledger: Ledger, actor: Actor, lot_id: str, tag: Tag, digest: str) -> None:
    data = {"tag": tag.id, "tag_uid_digest": digest}
    ledger.post(actor, lot_id, "circulation", "tag_bound", data)


def _digest(ledger: Ledger, actor: Actor, uid: str) -> tuple[Tag, str]:
    answer = ledger.client.post("/v1/tags", json={"uid": uid}, headers=actor.auth)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return Tag(body, uid), body["uid_digest"]


def test_a_bound_tag_taps_genuine_once_per_counter_and_a_copy_is_caught(ledger: Ledger) -> None:
    refiner = ledger.partner("ticino-refinery", "refiner")
    _bar_lot(ledger, refiner, "BAR-1")
    tag, digest = _digest(ledger, refiner, "04DE5F1EACC040")
    _bind(ledger, refiner, "BAR-1", tag, digest)

    first = tag.tap()
    genuine = ledger.client.get(_path(first) + "&lang=en")
    assert genuine.status_code == 200, genuine.text
    assert "Genuine tag" in genuine.text
    assert "tap number 1" in genuine.text
    assert "Bound to lot BAR-1" in genuine.text

    copied = ledger.client.get(_path(first) + "&lang=en")
    assert copied.status_code == 409
    assert "This link was already used" in copied.text
    assert "First seen on" in copied.text
    assert "Genuine" not in copied.text

    zh = ledger.client.get(_path(first) + "&lang=zh")
    assert "此链接已被使用过" in zh.text

    forged = first[:-1] + ("0" if first[-1] != "0" else "1")
    refused = ledger.client.get(_path(forged) + "&lang=en")
    assert refused.status_code == 409
    assert "Not a genuine tag message" in refused.text

    second = ledger.client.get(
        _path(tag.tap()).replace("/t/", "/v1/tags/", 1).replace("?", "/tap?", 1)
    )
    assert second.json()["outcome"] == "genuine"
    assert second.json()["counter"] == 2
    assert second.json()["binding"] == {
        "state": "bound",
        "lot": "BAR-1",
        "since": second.json()["binding"]["since"],
        "since_seq": second.json()["binding"]["since_seq"],
        "closed_seq": None,
        "consumed_by": None,
    }

    card = ledger.client.get("/p/BAR-1?lang=en").text
    assert "Bar marked Ticino Refinery · AB123456 · 1000 g · 999.9 · 2026." in card
    assert "An NFC tag that cannot be copied is attached" in card
    assert "Assay certificate recorded (SHA-256 aaaaaaaaaaaaaaaa…)." in card

    history = ledger.client.get(f"/v1/tags/{tag.id}/taps", headers=refiner.auth).json()
    assert [(t["counter"], t["outcome"]) for t in history["taps"]] == [
        (1, "genuine"),
        (1, "replay"),
        (1, "replay"),
        (None, "invalid"),
        (2, "genuine"),
    ]
    stranger = ledger.partner("some-trader", "trader")
    assert problem(ledger.client.get(f"/v1/tags/{tag.id}/taps", headers=stranger.auth), 403)


def test_a_tag_binds_to_one_live_lot_and_a_split_closes_it(ledger: Ledger) -> None:
    refiner = ledger.partner("ticino-refinery", "refiner")
    _bar_lot(ledger, refiner, "BAR-1")
    _bar_lot(ledger, refiner, "BAR-2", serial="AB999")
    tag, digest = _digest(ledger, refiner, "04DE5F1EACC041")
    _bind(ledger, refiner, "BAR-1", tag, digest)

    again = ledger.post(
        refiner,
        "BAR-2",
        "circulation",
        "tag_bound",
        {"tag": tag.id, "tag_uid_digest": digest},
        expect=409,
    )
    assert problem(again, 409)["code"] == "tag.bound"
    wrong_uid = ledger.post(
        refiner,
        "BAR-2",
        "circulation",
        "tag_bound",
        {"tag": tag.id, "tag_uid_digest": "b" * 64},
        expect=422,
    )
    assert problem(wrong_uid, 422)["code"] == "tag.uid_differs"

    head = ledger.head("BAR-1")
    split = {
        "type": "goldtrail.transformation.v1",
        "partner": refiner.id,
        "key": refiner.key.public.key_id,
        "stage": "smelting",
        "action": "split",
        "occurred_at": next_time(),
        "inputs": [{"lot": "BAR-1", "prev": head}],
        "outputs": [lot("BAR-1-A", "bar", 500, 999.9), lot("BAR-1-B", "bar", 500, 999.9)],
        "data": {},
    }
    answer = ledger.client.post(
        "/v1/transformations", json=sign_transformation(split, refiner.key), headers=refiner.auth
    )
    assert answer.status_code == 201, answer.text

    closed = ledger.client.get(_path(tag.tap()) + "&lang=en")
    assert closed.status_code == 200  # the tap itself is genuine …
    assert "no longer speaks for a piece" in closed.text  # … but its piece is gone
    assert "See the green ID card" not in closed.text
    _bind(ledger, refiner, "BAR-2", tag, digest)  # a closed binding frees the tag
    assert ledger.client.get(_path(tag.tap())).status_code == 200


def test_bars_are_found_by_brand_and_serial_and_a_second_live_lot_is_refused(
    ledger: Ledger,
) -> None:
    refiner = ledger.partner("ticino-refinery", "refiner")
    _bar_lot(ledger, refiner, "BAR-1", serial="AB 123456")
    found = ledger.client.get("/v1/bars/ticino refinery/ab123456")
    assert found.status_code == 200, found.text
    bar = found.json()
    assert (bar["lot"], bar["state"], bar["bar"]["serial"]) == ("BAR-1", "live", "AB 123456")
    assert bar["bar"]["assay_certificate_sha256"] == "a" * 64
    assert bar["passport"].endswith("/p/BAR-1")

    ledger.post(
        refiner,
        "BAR-2",
        "smelting",
        "recycled_intake",
        {"form": "bar", "mass_g": 1000, "fineness": 999.9},
    )
    twin = {
        "brand": "TICINO REFINERY",
        "serial": "AB123456",
        "metal": "gold",
        "gross_mass_g": 1000,
        "fineness": 999.9,
    }
    refused = ledger.post(refiner, "BAR-2", "smelting", "bar_identified", {"bar": twin}, expect=409)
    assert problem(refused, 409)["code"] == "bar.serial_in_use"
    assert problem(ledger.client.get("/v1/bars/Ticino Refinery/ZZ1"), 404)["code"] == "bar.unknown"

    differs = dict(twin, serial="CD1", fineness=995)
    wrong = ledger.post(
        refiner, "BAR-2", "smelting", "bar_identified", {"bar": differs}, expect=422
    )
    assert problem(wrong, 422)["code"] == "bar.differs"


def _jewellery(ledger: Ledger) -> tuple[Actor, Actor]:
    refiner = ledger.partner("ticino-refinery", "refiner")
    jeweler = ledger.partner("hongkou-jeweler", "jeweler")
    for piece in ("RING-1", "RING-2"):
        ledger.post(
            refiner,
            piece,
            "smelting",
            "recycled_intake",
            {"form": "jewellery", "mass_g": 5, "fineness": 750},
        )
        ledger.post(refiner, piece, "circulation", "transferred", {"to": jeweler.id})
        ledger.post(jeweler, piece, "circulation", "received")
    return refiner, jeweler


def test_a_claim_code_works_once_and_only_on_its_own_piece(ledger: Ledger) -> None:
    _, jeweler = _jewellery(ledger)
    codes = {piece: new_claim_code() for piece in ("RING-1", "RING-2")}
    for piece, code in codes.items():
        commitment = claim_commitment(piece, code)
        ledger.post(
            jeweler, piece, "circulation", "claim_code_set", {"claim_code_sha256": commitment}
        )

    other = ledger.client.post("/v1/lots/RING-1/claim", json={"code": codes["RING-2"]})
    assert problem(other, 403)["code"] == "claim.wrong_code"
    typed = codes["RING-1"].lower().replace("-", " ")  # as a buyer may type it
    first = ledger.client.post("/v1/lots/RING-1/claim", json={"code": typed})
    assert first.status_code == 201, first.text
    again = ledger.client.post("/v1/lots/RING-1/claim", json={"code": codes["RING-1"]})
    assert problem(again, 409)["code"] == "claim.already_claimed"
    status = ledger.client.get("/v1/lots/RING-1/claim").json()
    assert status["claimed"] is True
    assert status["claimed_at"] == first.json()["claimed_at"]
    assert status["refused_claims"] == 2

    entry = ledger.client.get(f"/v1/log/entries/{first.json()['seq']}").json()["entry"]
    assert entry["kind"] == "claim"
    assert entry["body"]["claim_code_sha256"] == claim_commitment("RING-1", codes["RING-1"])
    assert codes["RING-1"].replace("-", "") not in str(entry)

    card = ledger.client.get("/p/RING-1?lang=en").text
    assert f"Claimed by its owner on {status['claimed_at'][:10]}." in card
    assert "2 claims with a wrong or used code were refused." in card
    unclaimed = ledger.client.get("/p/RING-2?lang=zh").text
    assert "尚未认领" in unclaimed


def test_claim_codes_are_stored_only_as_commitments_and_guessing_is_limited(
    ledger: Ledger, engine: Engine
) -> None:
    _, jeweler = _jewellery(ledger)
    code = new_claim_code()
    ledger.post(
        jeweler,
        "RING-1",
        "circulation",
        "claim_code_set",
        {"claim_code_sha256": claim_commitment("RING-1", code)},
    )
    with engine.connect() as conn:
        dump = "\n".join(
            str(row)
            for table in ("ledger_entries", "bindings", "claim_attempts")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        )
    assert code.replace("-", "") not in dump.replace("-", "")
    for _ in range(10):
        wrong = ledger.client.post("/v1/lots/RING-1/claim", json={"code": new_claim_code()})
        assert problem(wrong, 403)["code"] == "claim.wrong_code"
    limited = ledger.client.post("/v1/lots/RING-1/claim", json={"code": code})
    assert problem(limited, 429)["code"] == "claim.too_many"


def test_the_audit_catches_a_tap_accepted_without_a_rising_counter(
    ledger: Ledger, settings: Settings, engine: Engine
) -> None:
    refiner = ledger.partner("ticino-refinery", "refiner")
    _bar_lot(ledger, refiner, "BAR-1")
    tag, digest = _digest(ledger, refiner, "04DE5F1EACC042")
    _bind(ledger, refiner, "BAR-1", tag, digest)
    for _ in range(3):
        assert ledger.client.get(_path(tag.tap())).status_code == 200
    key = SigningKey.load(settings.service_key_path).public
    clean = audit.run(engine, service_key=key, origin=settings.log_origin)
    assert clean.ok, clean.failures
    tamper(
        engine,
        "INSERT INTO tag_taps (tag_id, counter, at, outcome) VALUES (:t, 2, :at, 'genuine')",
        t=tag.id,
        at=next_time(),
    )
    report = audit.run(engine, service_key=key, origin=settings.log_origin)
    assert [f["check"] for f in report.failures] == ["taps"]
    assert tag.id in report.failures[0]["detail"]


def test_registering_a_tag_needs_a_holder_role_and_a_real_uid(ledger: Ledger) -> None:
    auditor = ledger.partner("an-auditor", "auditor")
    jeweler = ledger.partner("hongkou-jeweler", "jeweler")
    refused = ledger.client.post("/v1/tags", json={"uid": "04DE5F1EACC040"}, headers=auditor.auth)
    assert problem(refused, 403)["code"] == "tag.role"
    bad = ledger.client.post("/v1/tags", json={"uid": "04DE5F"}, headers=jeweler.auth)
    assert problem(bad, 422)["errors"][0]["field"] in ("uid", "body.uid")
    ok = ledger.client.post("/v1/tags", json={"uid": "04DE5F1EACC040"}, headers=jeweler.auth)
    assert ok.status_code == 201
    twice = ledger.client.post("/v1/tags", json={"uid": "04de5f1eacc040"}, headers=jeweler.auth)
    assert problem(twice, 409)["code"] == "tag.exists"
    assert parse_qs(urlsplit(ok.json()["url"]).query)["cmac"] == ["0" * 16]


def test_the_tap_route_names_a_bad_tag_id_or_an_overlong_parameter(ledger: Ledger) -> None:
    bad_id = ledger.client.get("/v1/tags/NOT-A-TAG/tap")
    assert problem(bad_id, 422)["errors"][0]["field"] == "path.tag_id"
    long_cmac = ledger.client.get("/v1/tags/0011223344556677/tap", params={"cmac": "A" * 33})
    assert problem(long_cmac, 422)["errors"][0]["field"] == "query.cmac"
