"""POST /v1/batch: many signed entries in one request, each answered in order.

Items may extend each other's chains; one refused item refuses only itself (and
what depended on it); a repeat of the whole batch changes nothing; a batch that
is not a batch at all is refused whole and writes nothing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import rfc8785
from sqlalchemy import text

from app.ledger.events import Event
from app.ledger.keys import SigningKey
from tests.support import ADMIN, Actor, Ledger, lot, next_time, problem, sign, sign_transformation


def _chain(ledger: Ledger, actor: Actor, lot_id: str, length: int) -> list[dict[str, Any]]:
    """``length`` signed events of a new lot, each over the previous one's hash."""
    envelopes, prev = [], None
    for i in range(length):
        event = ledger.event(
            actor,
            lot_id,
            "smelting",
            "recycled_intake" if i == 0 else "assayed",
            {"form": "scrap", "mass_g": 1000, "fineness": 750}
            if i == 0
            else {"fineness": 750, "note": f"assay {i}"},
            prev=prev,
        )
        envelopes.append(sign(event, actor.key))
        prev = Event.from_json(event).hash
    return envelopes


def _melt(ledger: Ledger, actor: Actor, source: str, head: str, out: str) -> dict[str, Any]:
    body = {
        "type": "goldtrail.transformation.v1",
        "partner": actor.id,
        "key": actor.key.public.key_id,
        "stage": "smelting",
        "action": "refined",
        "occurred_at": next_time(),
        "inputs": [{"lot": source, "prev": head}],
        "outputs": [lot(out, "grain", 750, 999.9)],
        "data": {"declared_loss_fine_g": 0.075},
    }
    return sign_transformation(body, actor.key)


def _head_of(envelope: dict[str, Any]) -> str:
    return Event.from_json(envelope["event"]).hash


def _post(ledger: Ledger, actor: Actor, items: list[Any]) -> Any:
    return ledger.client.post("/v1/batch", json={"items": items}, headers=actor.auth)


def test_a_batch_extends_its_own_chains_in_order(ledger: Ledger) -> None:
    refiner = ledger.partner("ticino-refinery", "refiner")
    chain = _chain(ledger, refiner, "SCRAP-1", 4)
    melt = _melt(ledger, refiner, "SCRAP-1", _head_of(chain[-1]), "GRAIN-1")
    answer = _post(ledger, refiner, [*chain, melt])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["repeated"], body["refused"]) == (5, 0, 0)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["status"] for r in results] == [201] * 5
    assert [r["kind"] for r in results] == ["event"] * 4 + ["transformation"]
    seqs = [r["seq"] for r in results]
    assert seqs == sorted(seqs)  # in the order posted
    between = set(range(seqs[0], seqs[-1] + 1)) - set(seqs)
    kinds = {ledger.client.get(f"/v1/log/entries/{seq}").json()["entry"]["kind"] for seq in between}
    assert kinds == {"summary"}  # only the lots' summaries come between them
    assert [r["lot_seq"] for r in results[:4]] == [0, 1, 2, 3]
    assert results[4]["outputs"][0]["id"] == "GRAIN-1"
    assert results[4]["inputs"][0]["closed"] is True
    assert all(r["receipt"] and r["hash"] for r in results)
    scrap = ledger.client.get("/v1/lots/SCRAP-1").json()
    assert scrap["length"] == 5
    assert scrap["head"] == results[4]["hash"]
    assert ledger.client.post("/v1/lots/GRAIN-1/verify").json()["ok"] is True


def test_a_refused_item_refuses_only_itself_and_what_depended_on_it(ledger: Ledger) -> None:
    refiner = ledger.partner("ticino-refinery", "refiner")
    other = ledger.partner("hk-recycling", "smelter")
    first = _chain(ledger, refiner, "SCRAP-A", 3)
    second = _chain(ledger, refiner, "SCRAP-B", 2)
    forged = json.loads(json.dumps(first[1]))
    forged["signature"] = sign(first[1]["event"], SigningKey.generate())["signature"]
    impersonated = _chain(ledger, other, "SCRAP-C", 1)[0]
    items = [first[0], forged, first[2], second[0], impersonated, second[1]]
    before = ledger.snapshot()
    body = _post(ledger, refiner, items).json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == [201, 422, 409, 201, 403, 201], body
    assert body["results"][1]["problem"]["code"] == "signature.invalid"
    assert body["results"][2]["problem"]["code"] == "chain.stale_prev"  # its prev was refused
    assert body["results"][4]["problem"]["code"] == "partner.impersonation"
    assert (body["accepted"], body["refused"]) == (3, 3)
    after = ledger.snapshot()
    added = after["ledger_entries"][len(before["ledger_entries"]) :]
    kinds = [row[1] for row in added]
    assert kinds.count("event") == 3  # nothing of a refused item was written
    assert set(kinds) == {"event", "summary"}  # with the new lots' summaries
    accepted = {r["hash"] for r in body["results"] if r["status"] == 201}
    assert {row[2] for row in added if row[1] == "event"} == accepted
    assert ledger.client.get("/v1/lots/SCRAP-A").json()["length"] == 1
    assert ledger.client.get("/v1/lots/SCRAP-B").json()["length"] == 2
    assert problem(ledger.client.get("/v1/lots/SCRAP-C"), 404)["code"] == "lot.unknown"


def test_posting_the_same_batch_again_changes_nothing(ledger: Ledger) -> None:
    refiner = ledger.partner("ticino-refinery", "refiner")
    chain = _chain(ledger, refiner, "SCRAP-1", 3)
    melt = _melt(ledger, refiner, "SCRAP-1", _head_of(chain[-1]), "GRAIN-1")
    first = _post(ledger, refiner, [*chain, melt]).json()
    snapshot = ledger.snapshot()
    again = _post(ledger, refiner, [*chain, melt]).json()
    assert (again["accepted"], again["repeated"], again["refused"]) == (0, 4, 0)
    assert [r["status"] for r in again["results"]] == [200] * 4
    assert [r["seq"] for r in again["results"]] == [r["seq"] for r in first["results"]]
    assert [r["receipt"] for r in again["results"]] == [r["receipt"] for r in first["results"]]
    assert [r["lot_seq"] for r in again["results"][:3]] == [0, 1, 2]
    assert ledger.snapshot() == snapshot


def test_an_item_twice_in_one_batch_is_appended_once(ledger: Ledger) -> None:
    refiner = ledger.partner("ticino-refinery", "refiner")
    chain = _chain(ledger, refiner, "SCRAP-1", 2)
    body = _post(ledger, refiner, [chain[0], chain[1], chain[1]]).json()
    assert [r["status"] for r in body["results"]] == [201, 201, 200]
    assert body["results"][2]["seq"] == body["results"][1]["seq"]
    assert ledger.client.get("/v1/lots/SCRAP-1").json()["length"] == 2


def test_what_is_not_a_batch_is_refused_whole(ledger: Ledger) -> None:
    refiner = ledger.partner("ticino-refinery", "refiner")
    chain = _chain(ledger, refiner, "SCRAP-1", 1)
    before = ledger.snapshot()
    cases = [
        (b"[]", "body"),
        (b'{"items": []}', "items"),
        (b'{"items": {}}', "items"),
        (json.dumps({"items": chain, "note": 1}).encode(), "note"),
        (json.dumps({"items": chain * 1001}).encode(), "items"),
        # One malformed item refuses the whole request, wherever it stands.
        (json.dumps({"items": [*chain, {"gold": 1}]}).encode(), "items[1]"),
        (
            json.dumps({"items": [{"event": chain[0]["event"]}, *chain]}).encode(),
            "items[0].signature",
        ),
        (
            json.dumps(
                {"items": [*chain, {**chain[0], "event": {**chain[0]["event"], "stage": "x"}}]}
            ).encode(),
            "items[1].event.stage",
        ),
    ]
    for raw, field in cases:
        response = ledger.client.post(
            "/v1/batch", content=raw, headers={**refiner.auth, "Content-Type": "application/json"}
        )
        assert problem(response, 422)["errors"][0]["field"] == field, response.text
    assert problem(ledger.client.post("/v1/batch", json={"items": chain}), 401)
    admin = ledger.client.post("/v1/batch", json={"items": chain}, headers=ADMIN)
    assert problem(admin, 403)["code"] == "auth.partner_only"
    assert ledger.snapshot() == before


def test_a_melt_of_a_thousand_lots_is_one_transformation(ledger: Ledger) -> None:
    """The input limit is 1,024 lots: a refinery melts a thousand doré bars and scrap lots."""
    refiner = ledger.partner("ticino-refinery", "refiner")
    lots = [f"SCRAP-{i:04}" for i in range(1000)]
    for start in range(0, 1000, 250):
        intake = ledger.transformation(
            refiner,
            "smelting",
            "recycled_intake",
            [],
            [lot(name, "scrap", 10, 750) for name in lots[start : start + 250]],
        )
        ledger.client.post(
            "/v1/transformations",
            json=sign_transformation(intake, refiner.key),
            headers=refiner.auth,
        ).raise_for_status()
    melt = {
        "type": "goldtrail.transformation.v1",
        "partner": refiner.id,
        "key": refiner.key.public.key_id,
        "stage": "smelting",
        "action": "refined",
        "occurred_at": next_time(),
        "inputs": [{"lot": name, "prev": ledger.head(name)} for name in lots],
        "outputs": [lot("KB-1", "bar", 7492.5, 1000)],
        "data": {"declared_loss_fine_g": 7.5},
    }
    envelope = sign_transformation(melt, refiner.key)
    assert len(json.dumps(envelope)) > 64 * 1024  # beyond the limit of other bodies
    answer = ledger.client.post("/v1/transformations", json=envelope, headers=refiner.auth)
    assert answer.status_code == 201, answer.text
    assert len(answer.json()["inputs"]) == 1000
    assert ledger.client.get("/v1/lots/KB-1").json()["fine_gold_g"] == "7492.5"
    melt["inputs"] = melt["inputs"] + [{"lot": f"X-{i}", "prev": "0" * 64} for i in range(25)]
    refused = ledger.client.post(
        "/v1/transformations",
        json=sign_transformation_unchecked(melt, refiner.key),
        headers=refiner.auth,
    )
    assert problem(refused, 422)["errors"][0]["field"].endswith("transformation.inputs")


def sign_transformation_unchecked(body: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """Sign a transformation the schema refuses (to show the service refuses it too)."""
    from app.ledger.canonical import canonical_bytes
    from app.ledger.keys import b64encode

    return {"transformation": body, "signature": b64encode(key.sign(canonical_bytes(body)))}


def test_the_batch_is_written_in_one_transaction(ledger: Ledger) -> None:
    """Items of one batch share their recorded_at: one group commit, not one per item."""
    refiner = ledger.partner("ticino-refinery", "refiner")
    body = _post(ledger, refiner, _chain(ledger, refiner, "SCRAP-1", 20)).json()
    assert len({r["recorded_at"] for r in body["results"]}) == 1
    assert ledger.engine is not None
    with ledger.engine.connect() as conn:
        count = conn.execute(text("SELECT COUNT(*) FROM ledger_entries")).scalar_one()
    assert count == body["results"][-1]["seq"] + 1


def _certifications(count: int) -> list[dict[str, str]]:
    return [
        {
            "scheme": "ISO 14001",
            "id": f"{i:04}-" + "c" * 120,
            "issuer": "i" * 200,
            "valid_from": "2026-01-01",
            "valid_until": "2027-01-01",
        }
        for i in range(count)
    ]


def test_a_batch_item_is_held_to_the_size_limit_of_its_route(ledger: Ledger) -> None:
    """An event refused 413 on its own route is refused 413 inside a batch too, naming the
    item, with nothing written; one just under the limit goes through both ways."""
    from app.services.batches import envelope_size

    refinery = ledger.partner("zurich-refinery", "refiner")
    big = ledger.event(
        refinery,
        "SCRAP-BIG",
        "smelting",
        "recycled_intake",
        {"form": "scrap", "mass_g": 1000, "fineness": 750}
        | {"certifications": _certifications(256)},
    )
    envelope = sign(big, refinery.key)
    size = len(rfc8785.dumps(envelope))
    parsed = Event.from_json(big)
    assert envelope_size("event", parsed.canonical, base64.b64decode(envelope["signature"])) == size
    assert size > 100_000

    alone = ledger.client.post("/v1/lots/SCRAP-BIG/events", json=envelope, headers=refinery.auth)
    assert problem(alone, 413)["code"] == "body.too_large"
    small = _chain(ledger, refinery, "SCRAP-OK", 1)
    batched = _post(ledger, refinery, [*small, envelope])
    found = problem(batched, 413)
    assert found["code"] == "body.too_large"
    assert found["errors"] == [
        {
            "field": "items[1]",
            "reason": f"item 1 is {size} bytes (RFC 8785); "
            "POST /v1/lots/{lot}/events takes at most 65536",
        }
    ]
    assert ledger.client.get("/v1/lots/SCRAP-OK").status_code == 404  # nothing written

    # Just under the limit: accepted alone and in a batch alike.
    fits = ledger.event(
        refinery,
        "SCRAP-FITS",
        "smelting",
        "recycled_intake",
        {"form": "scrap", "mass_g": 1000, "fineness": 750}
        | {"certifications": _certifications(150)},
    )
    fitting = sign(fits, refinery.key)
    assert 60_000 < len(rfc8785.dumps(fitting)) <= 65536
    assert _post(ledger, refinery, [*small, fitting]).status_code == 200
    assert ledger.client.get("/v1/lots/SCRAP-FITS").status_code == 200


def test_the_envelope_size_of_a_transformation_is_its_rfc8785_length(ledger: Ledger) -> None:
    from app.ledger.provenance.transformations import Transformation
    from app.services.batches import envelope_size

    refinery = ledger.partner("zurich-refinery", "refiner")
    envelope = _melt(ledger, refinery, "SCRAP-1", "a" * 64, "GRAIN-1")
    parsed = Transformation.from_json(envelope["transformation"])
    signature = base64.b64decode(envelope["signature"])
    size = envelope_size("transformation", parsed.canonical, signature)
    assert size == len(rfc8785.dumps(envelope))
