"""Transformations over the API: what is accepted, and every refusal names the field and numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.ledger.errors import FieldError
from app.ledger.keys import SigningKey, b64encode
from tests.support import Actor, Ledger, lot, problem, sign_transformation

Body = dict[str, Any]


@pytest.fixture
def refinery(ledger: Ledger) -> dict[str, Actor]:
    """A refiner holding two bars (2 × 999.9 g fine) and a trader holding one."""
    refiner = ledger.partner("ticino-refinery", "refiner")
    trader = ledger.partner("bund-bullion", "trader")
    recycler = ledger.partner("hk-recycling", "smelter")
    ledger.transform(
        refiner,
        "smelting",
        "recycled_intake",
        [],
        [lot("BAR-1", "bar", 1000, 999.9), lot("BAR-2", "bar", 1000, 999.9)],
        {"recycled": True, "location": {"country": "CH", "subdivision": "CH-TI"}},
    )
    ledger.transform(
        recycler, "smelting", "recycled_intake", [], [lot("BAR-T", "bar", 1000, 999.9)]
    )
    return {"refiner": refiner, "trader": trader, "recycler": recycler}


def test_a_split_a_merge_and_a_partial_take_keep_the_gold(
    ledger: Ledger, refinery: dict[str, Actor]
) -> None:
    refiner = refinery["refiner"]
    split = ledger.transform(
        refiner,
        "smelting",
        "split",
        ["BAR-1"],
        [lot("GR-1", "grain", 600, 999.9), lot("GR-2", "grain", 399.9, 999.9)],
        {"declared_loss_fine_g": 0.1},
    ).json()
    assert split["balance"] == {
        "inputs_fine_g": "999.9",
        "outputs_fine_g": "999.80001",
        "declared_loss_fine_g": "0.1",
        "difference_fine_g": "0.00001",
        "tolerance": "0.001",
    }
    assert split["inputs"] == [
        {"lot": "BAR-1", "taken_fine_g": "999.9", "remaining_fine_g": "0", "closed": True}
    ]
    assert [o["id"] for o in split["outputs"]] == ["GR-1", "GR-2"]
    merged = ledger.transform(
        refiner,
        "smelting",
        "merged",
        ["GR-2", ("BAR-2", 100)],
        [lot("MIX-1", "grain", 499.85, 999.9)],
        {"declared_loss_fine_g": 0.05},
    ).json()
    bar = ledger.client.get("/v1/lots/BAR-2").json()
    assert merged["inputs"][1]["taken_fine_g"] == "100"
    assert bar["closed"] is False
    assert bar["mass_g"] == "899.989"  # (999.9 − 100) × 1000 / 999.9, rounded down to the mg
    assert bar["fine_gold_g"] == "899.8990011"
    mix = ledger.client.get("/v1/lots/MIX-1").json()
    assert mix["custodian"] == "ticino-refinery"
    assert mix["length"] == 1
    assert (
        ledger.client.get("/v1/lots/GR-2/events").json()["events"][-1]["kind"] == "transformation"
    )
    assert ledger.client.post("/v1/lots/GR-2/verify").json()["ok"] is True
    # A repeat answers 200 with the same entry; nothing is appended twice.
    body = ledger.transformation(
        refiner, "smelting", "split", ["GR-1"], [lot("GR-1a", "grain", 600, 999.9)]
    )
    first = ledger.client.post(
        "/v1/transformations", json=sign_transformation(body, refiner.key), headers=refiner.auth
    )
    again = ledger.client.post(
        "/v1/transformations", json=sign_transformation(body, refiner.key), headers=refiner.auth
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["hash"] == first.json()["hash"]
    assert again.json()["created"] is False


def _output(body: Body, **changes: Any) -> Body:
    body["outputs"][0].update(changes)
    return body


def _data(**facts: Any) -> Callable[[Body], Body]:
    def change(body: Body) -> Body:
        body["data"].update(facts)
        return body

    return change


def _envelope(body: Body, key: SigningKey) -> Body:
    """Signed if it can be; a body the library refuses is sent with a signature of nothing."""
    try:
        return sign_transformation(body, key)
    except FieldError:
        return {"transformation": body, "signature": b64encode(key.sign(b""))}


Case = tuple[str, Callable[[Body], Body], int, str, str]

CASES: list[Case] = [
    (
        "unknown fact",
        _data(emission_kgco2e=5),
        422,
        "transformation.data.emission_kgco2e",
        "unknown fact",
    ),
    ("mass in kg", _data(mass_kg=1), 422, "transformation.data.mass_kg", "unknown fact"),
    (
        "negative mass",
        lambda b: _output(b, mass_g=-5),
        422,
        "transformation.outputs[0].mass_g",
        "greater than 0",
    ),
    (
        "fineness over 1000",
        lambda b: _output(b, fineness=1000.1),
        422,
        "transformation.outputs[0].fineness",
        "at most 1000",
    ),
    (
        "renewable share over 1",
        _data(renewable_share=1.2),
        422,
        "transformation.data.renewable_share",
        "between 0 and 1",
    ),
    (
        "negative energy",
        _data(energy_kwh=-1),
        422,
        "transformation.data.energy_kwh",
        "must not be negative",
    ),
    (
        "certificate ends before it starts",
        _data(
            certifications=[
                {
                    "scheme": "Fairmined",
                    "id": "F-1",
                    "issuer": "ARM",
                    "valid_from": "2026-02-01",
                    "valid_until": "2026-01-01",
                }
            ]
        ),
        422,
        "transformation.data.certifications[0].valid_until",
        "before valid_from",
    ),
    (
        "unknown scheme",
        _data(
            certifications=[
                {
                    "scheme": "Greenish",
                    "id": "G",
                    "issuer": "X",
                    "valid_from": "2026-01-01",
                    "valid_until": "2027-01-01",
                }
            ]
        ),
        422,
        "transformation.data.certifications[0].scheme",
        "must be one of",
    ),
    (
        "document digest",
        _data(documents=[{"kind": "assay", "sha256": "xyz"}]),
        422,
        "transformation.data.documents[0].sha256",
        "SHA-256",
    ),
    (
        "country",
        _data(location={"country": "XX"}),
        422,
        "transformation.data.location.country",
        "ISO 3166-1",
    ),
    (
        "subdivision of another country",
        _data(location={"country": "GH", "subdivision": "CN-SH"}),
        422,
        "transformation.data.location.subdivision",
        "CN-SH is in CN, not GH",
    ),
    (
        "latitude",
        _data(location={"country": "GH", "lat": 91, "lon": 0}),
        422,
        "transformation.data.location.lat",
        "±90",
    ),
    (
        "emissions that are not the sum of the scopes",
        _data(emissions_kgco2e=10, scope1_kgco2e=3, scope2_kgco2e=4),
        422,
        "transformation.data.emissions_kgco2e",
        "scope 1 + scope 2 = 7",
    ),
    (
        "a cycle",
        lambda b: _output(b, lot="BAR-1"),
        422,
        "transformation.outputs[0].lot",
        "cannot be its own ancestor",
    ),
    (
        "an output that exists",
        lambda b: _output(b, lot="BAR-2"),
        409,
        "transformation.outputs[0].lot",
        "already exists",
    ),
    (
        "a stale input head",
        lambda b: {**b, "inputs": [{"lot": "BAR-1", "prev": "0" * 64}]},
        409,
        "transformation.inputs[0].prev",
        "head is",
    ),
    (
        "an unknown input",
        lambda b: {**b, "inputs": [{"lot": "NO-SUCH", "prev": "0" * 64}]},
        404,
        "transformation.inputs[0].lot",
        "no lot NO-SUCH",
    ),
    (
        "a lot held by another partner",
        lambda b: {**b, "inputs": [{**b["inputs"][0], "lot": "BAR-T"}]},
        403,
        "transformation.inputs[0].lot",
        "custody of hk-recycling",
    ),
    (
        "more fine gold out than in",
        lambda b: _output(b, mass_g=1002),
        422,
        "transformation.outputs",
        "allows at most 1000.8999 g",
    ),
    (
        "gold gone without a declared loss",
        lambda b: _output(b, mass_g=990),
        422,
        "transformation.data.declared_loss_fine_g",
        "9.9 g is unaccounted",
    ),
    (
        "taking more than the lot holds",
        lambda b: {**b, "inputs": [{**b["inputs"][0], "fine_g": 1000}]},
        422,
        "transformation.inputs[0].fine_g",
        "holds 999.9 g",
    ),
    (
        "a merge of one lot",
        lambda b: {**b, "action": "merged"},
        422,
        "transformation.inputs",
        "at least 2",
    ),
    (
        "a split of two lots",
        lambda b: {**b, "inputs": [*b["inputs"], {"lot": "BAR-2", "prev": "0" * 64}]},
        422,
        "transformation.inputs",
        "exactly 1",
    ),
    (
        "a loss where nothing went in",
        lambda b: {
            **b,
            "action": "recycled_intake",
            "inputs": [],
            "data": {"declared_loss_fine_g": 1},
        },
        422,
        "transformation.data.declared_loss_fine_g",
        "no input",
    ),
    (
        "a form the action cannot make",
        lambda b: _output(b, form="deposit"),
        422,
        "transformation.outputs[0].form",
        "split produces",
    ),
    (
        "another partner's name",
        lambda b: {**b, "partner": "bund-bullion"},
        403,
        "transformation.partner",
        "authenticated as",
    ),
    (
        "an unknown member",
        lambda b: {**b, "colour": "gold"},
        422,
        "transformation.colour",
        "unknown member",
    ),
    (
        "a future date",
        lambda b: {**b, "occurred_at": "2999-01-01T00:00:00Z"},
        422,
        "transformation.occurred_at",
        "ahead of the service clock",
    ),
]


@pytest.mark.parametrize(
    ("name", "change", "status", "field", "reason"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_transformations_are_refused_naming_the_field_and_nothing_is_written(
    ledger: Ledger,
    refinery: dict[str, Actor],
    name: str,
    change: Callable[[Body], Body],
    status: int,
    field: str,
    reason: str,
) -> None:
    refiner = refinery["refiner"]
    body = change(
        ledger.transformation(
            refiner, "smelting", "split", ["BAR-1"], [lot("GR-9", "grain", 999.9, 1000)]
        )
    )
    before = ledger.snapshot()
    response = ledger.client.post(
        "/v1/transformations", json=_envelope(body, refiner.key), headers=refiner.auth
    )
    found = problem(response, status)
    assert found["errors"][0]["field"] == field, found
    assert reason in found["detail"], found["detail"]
    assert ledger.snapshot() == before


def test_roles_signatures_and_closed_lots(ledger: Ledger, refinery: dict[str, Actor]) -> None:
    trader, refiner = refinery["trader"], refinery["refiner"]
    before = ledger.snapshot()
    melt = ledger.transformation(
        trader, "smelting", "refined", ["BAR-1"], [lot("X-1", "bar", 999.9, 1000)]
    )
    assert (
        problem(
            ledger.client.post(
                "/v1/transformations",
                json=sign_transformation(melt, trader.key),
                headers=trader.auth,
            ),
            403,
        )["code"]
        == "role.not_permitted"
    )
    forged = ledger.transformation(
        refiner, "smelting", "split", ["BAR-1"], [lot("X-2", "grain", 999.9, 1000)]
    )
    envelope = sign_transformation(forged, SigningKey.generate())
    assert (
        problem(
            ledger.client.post("/v1/transformations", json=envelope, headers=refiner.auth), 422
        )["code"]
        == "signature.invalid"
    )
    assert ledger.snapshot() == before
    ledger.transform(refiner, "smelting", "split", ["BAR-1"], [lot("X-3", "grain", 999.9, 1000)])
    closed = ledger.post(
        refiner, "BAR-1", "circulation", "transferred", {"to": "bund-bullion"}, expect=None
    )
    assert problem(closed, 409)["code"] == "lot.closed"
    again = ledger.transform(
        refiner,
        "smelting",
        "merged",
        ["BAR-1", "BAR-2"],
        [lot("X-4", "bar", 999.9, 1000)],
        expect=None,
    )
    found = problem(again, 409)
    assert found["code"] == "lot.closed"
    assert found["errors"][0]["field"] == "transformation.inputs[0].lot"
    assert ledger.client.get("/v1/lots/BAR-1").json()["consumed_by"] is not None
