"""GS1 EPCIS 2.0 out (`GET /v1/lots/{id}/epcis`) and in (`goldtrail_client.epcis`): the
document validates against GS1's published JSON Schema, states what the ledger says, keeps
every event verifiable, and maps back to the same Goldtrail events."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from goldtrail_client import epcis as inbound
from jsonschema import Draft7Validator, FormatChecker

from app.domain import epcis as outbound
from app.ledger.canonical import canonical_bytes
from app.ledger.hashing import sha256_hex
from app.ledger.keys import PublicKey
from tests.scenario import RING, run_steps
from tests.support import Actor, Ledger, problem

# GS1's schema, as published at github.com/gs1/EPCIS (EPCIS-JSON-Schema.json, commit
# 2b888befbc071e1c2d388e027b30149b3f51dcef), with format checks on (uri, date-time).
SCHEMA = json.loads(
    (Path(__file__).parent / "data" / "gs1" / "EPCIS-JSON-Schema.json").read_text("utf-8")
)
VALIDATOR = Draft7Validator(SCHEMA, format_checker=FormatChecker())


def _errors(document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:160]}"
        for e in VALIDATOR.iter_errors(document)
    ]


def _epcis(ledger: Ledger, lot: str, scope: str = "chain") -> dict[str, Any]:
    answer = ledger.client.get(f"/v1/lots/{lot}/epcis", params={"scope": scope})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/ld+json")
    document: dict[str, Any] = answer.json()
    return document


def test_the_validator_refuses_what_gs1_refuses() -> None:
    broken = {
        "@context": [outbound.EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "not a time",
        "epcisBody": {"eventList": [{"type": "ObjectEvent", "action": "MOVE"}]},
    }
    found = " ".join(_errors(broken))
    assert "creationDate" in found
    assert "action" in found or "eventTime" in found


def test_a_lots_history_in_epcis_validates_and_states_the_ledger(
    ledger: Ledger, actors: dict[str, Actor]
) -> None:
    run_steps(ledger, actors)
    chain = ledger.client.get(f"/v1/lots/{RING}/events").json()["events"]
    document = _epcis(ledger, RING)
    assert _errors(document) == []
    events = document["epcisBody"]["eventList"]
    assert [e["gt:entry"]["seq"] for e in events] == [e["seq"] for e in chain]
    for event, entry in zip(events, chain, strict=True):
        body = entry["body"]
        step, disposition = outbound.BIZ_STEPS[body["action"]]
        assert (event["bizStep"], event["disposition"]) == (step, disposition)
        assert event["type"] == (
            "ObjectEvent" if entry["kind"] == "event" else "TransformationEvent"
        )
        assert event["eventTime"] == body["occurred_at"]
        assert event["eventID"].endswith(f"/v1/log/entries/{entry['seq']}")
    made = events[0]  # the ring was fabricated from a grain lot
    assert made["type"] == "TransformationEvent"
    ring_uri = outbound.lot_uri("http://127.0.0.1:8000", RING)
    output = next(q for q in made["outputQuantityList"] if q["epcClass"] == ring_uri)
    expected = next(o for o in chain[0]["body"]["outputs"] if o["lot"] == RING)
    assert output["quantity"] == pytest.approx(float(expected["mass_g"]))
    assert output["uom"] == "GRM"
    sold = [e for e in events if e["gt:action"] == "sold"]
    assert [e["disposition"] for e in sold] == ["retail_sold"]


def test_every_epcis_event_stays_verifiable(ledger: Ledger, actors: dict[str, Actor]) -> None:
    run_steps(ledger, actors)
    document = _epcis(ledger, RING, scope="ancestry")
    assert _errors(document) == []
    keys = {
        e["body"]["key"]: PublicKey.from_b64(e["body"]["public_key"])
        for e in ledger.client.get(f"/v1/lots/{RING}/genealogy/export").json()["registry"]
        if e["kind"] == "key"
    }
    events = document["epcisBody"]["eventList"]
    assert len(events) > 10
    for event in events:
        entry = event["gt:entry"]
        body = _rebuilt(event)
        assert sha256_hex(canonical_bytes(body)) == entry["hash"]
        keys[entry["key"]].verify(
            canonical_bytes(body), base64.b64decode(entry["signature"]), what="event"
        )


def _rebuilt(event: dict[str, Any]) -> dict[str, Any]:
    """The signed Goldtrail body, from the EPCIS event's gt: members (docs/EPCIS.md)."""
    common = {
        "partner": event["gt:partner"],
        "key": event["gt:entry"]["key"],
        "stage": event["gt:stage"],
        "action": event["gt:action"],
        "occurred_at": event["gt:occurredAt"],
        "data": event["gt:data"],
    }
    if event["type"] == "ObjectEvent":
        return common | {
            "type": "goldtrail.event.v1",
            "lot": event["gt:lot"],
            "prev": event["gt:prev"],
        }
    return common | {
        "type": "goldtrail.transformation.v1",
        "inputs": event["gt:inputs"],
        "outputs": event["gt:outputs"],
    }


def test_goldtrail_to_epcis_to_goldtrail_gives_the_same_events(
    ledger: Ledger, actors: dict[str, Actor]
) -> None:
    run_steps(ledger, actors)
    exported = ledger.client.get(f"/v1/lots/{RING}/genealogy/export").json()["entries"]
    drafts = inbound.to_goldtrail(_epcis(ledger, RING, scope="ancestry"))
    assert len(drafts) == len(exported)
    for draft, entry in zip(drafts, exported, strict=True):
        original = {k: v for k, v in entry["body"].items() if k not in ("key", "prev")}
        if entry["kind"] == "transformation":
            original["inputs"] = [
                {k: v for k, v in item.items() if k != "prev"} for item in original["inputs"]
            ]
        assert (draft.kind, draft.body) == (entry["kind"], original)


def test_an_unknown_lot_and_a_bad_scope_are_refused(ledger: Ledger) -> None:
    assert problem(ledger.client.get("/v1/lots/NOPE/epcis"), 404)["code"] == "lot.unknown"
    bad = problem(ledger.client.get("/v1/lots/NOPE/epcis", params={"scope": "all"}), 422)
    assert bad["errors"][0]["field"] == "query.scope"


def test_the_cbv_table_names_exactly_the_transformation_actions() -> None:
    from app.ledger.cbv import TRANSFORMATION_EVENT_ACTIONS
    from app.ledger.provenance.transformations import TRANSFORMATION_ACTIONS

    assert set(TRANSFORMATION_ACTIONS) == TRANSFORMATION_EVENT_ACTIONS
