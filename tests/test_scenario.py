"""The shared scenario (tests/data/ghana-ticino-hongkou.json), as far as single-lot events go.

Transformations (extracted from a deposit into ore lots, merges at the smelter and
refinery, splits, fabrication) are issue 4's; here the deposit's and the scrap's own
chains run exactly as the scenario writes them, and its attacks are refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import ADMIN, Actor, Ledger, problem, sign

SCENARIO = json.loads(
    (Path(__file__).parent / "data" / "ghana-ticino-hongkou.json").read_text(encoding="utf-8")
)


@pytest.fixture
def actors(ledger: Ledger) -> dict[str, Actor]:
    return {
        p["id"]: ledger.partner(p["id"], *p["roles"], country=p["country"])
        for p in SCENARIO["partners"]
    }


def _as_single_lot(step: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The step's lot and data, if it is an event on one lot that this service takes now."""
    if "lot" in step and "inputs" not in step:
        return step["lot"], step["data"]
    if step["action"] == "recycled_intake" and len(step["outputs"]) == 1:
        output = step["outputs"][0]
        facts = {"form": output["form"], "mass_g": output["mass_g"], "fineness": output["fineness"]}
        return output["lot"], {**step["data"], **facts}
    return None


def _post(ledger: Ledger, actors: dict[str, Actor], step: dict[str, Any]) -> Any:
    single = _as_single_lot(step)
    assert single is not None
    lot, data = single
    return ledger.post(
        actors[step["partner"]],
        lot,
        step["stage"],
        step["action"],
        data,
        occurred_at=step["occurred_at"],
        expect=None,
    )


def _chains(ledger: Ledger, actors: dict[str, Actor]) -> None:
    for step in SCENARIO["steps"]:
        single = _as_single_lot(step)
        if single is None or single[0] not in ("GH-ASR-DEP-01", "CN-SCRAP-0420"):
            continue
        response = _post(ledger, actors, step)
        assert response.status_code == 201, (step, response.text)


def test_the_deposit_and_the_scrap_run_as_written(ledger: Ledger, actors: dict[str, Actor]) -> None:
    _chains(ledger, actors)
    deposit = ledger.client.get("/v1/lots/GH-ASR-DEP-01").json()
    assert deposit["custodian"] == "obuasi-ridge"
    assert deposit["stage"] == "exploration"
    assert deposit["length"] == 5
    scrap = ledger.client.get("/v1/lots/CN-SCRAP-0420").json()
    assert scrap["custodian"] == "ticino-refinery"
    assert scrap["fine_gold_g"] == "7500"
    assert scrap["form"] == "scrap"
    for lot in ("GH-ASR-DEP-01", "CN-SCRAP-0420"):
        assert ledger.client.post(f"/v1/lots/{lot}/verify").json()["ok"] is True


def test_a_partner_who_is_not_the_custodian_is_refused(
    ledger: Ledger, actors: dict[str, Actor]
) -> None:
    """The scenario's attack, on the scrap: bund-bullion posts while ticino holds it."""
    _chains(ledger, actors)
    before = ledger.snapshot()
    response = ledger.post(
        actors["bund-bullion"],
        "CN-SCRAP-0420",
        "circulation",
        "transferred",
        {"to": "hk-heritage"},
        expect=None,
    )
    body = problem(response, 403)
    assert body["code"] == "custody.not_custodian"
    assert "ticino-refinery" in body["detail"]
    assert ledger.snapshot() == before


def test_an_event_signed_with_a_revoked_key_is_refused(
    ledger: Ledger, actors: dict[str, Actor]
) -> None:
    """The scenario's attack, on the deposit: obuasi-ridge's key is revoked, then used."""
    _chains(ledger, actors)
    miner = actors["obuasi-ridge"]
    revoke = ledger.client.post(
        f"/v1/admin/partners/obuasi-ridge/keys/{miner.key.public.key_id}/revoke",
        json={"reason": "key compromised"},
        headers=ADMIN,
    )
    assert revoke.status_code == 200
    event = ledger.event(miner, "GH-ASR-DEP-01", "exploration", "impact_assessed", {"note": "late"})
    before = ledger.snapshot()
    response = ledger.client.post(
        "/v1/lots/GH-ASR-DEP-01/events", json=sign(event, miner.key), headers=miner.auth
    )
    assert problem(response, 403)["code"] == "key.revoked"
    assert ledger.snapshot() == before
    assert ledger.client.post("/v1/lots/GH-ASR-DEP-01/verify").json()["ok"] is True
