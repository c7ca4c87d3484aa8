"""The shared scenario (tests/data/ghana-ticino-hongkou.json), run as it is written.

Every step is posted through the API — events on one lot, and transformations
(extraction from the deposit, smelting, the refinery's melt of doré and scrap,
the split, the fabrication) — and the ledger must reach the scenario's
``expect`` block and refuse its ``attacks``.
"""

from __future__ import annotations

from decimal import Decimal

from tests.scenario import RING, SCENARIO, STEPS, own_chains, post_step, run_from, run_steps
from tests.support import ADMIN, Actor, Ledger, problem, sign, tamper


def test_the_journey_reaches_what_the_scenario_expects(
    ledger: Ledger, actors: dict[str, Actor]
) -> None:
    run_steps(ledger, actors)
    client = ledger.client
    expect = SCENARIO["expect"]
    ring = client.get(f"/v1/lots/{RING}").json()
    assert Decimal(ring["fine_gold_g"]) == Decimal(str(expect[RING]["fine_gold_g"]))
    assert ring["closed"] is True  # sold
    metrics = client.get(f"/v1/lots/{RING}/metrics").json()
    assert metrics["stages_seen"] == expect[RING]["stages_seen"]
    assert abs(Decimal(metrics["recycled_share"]) - Decimal("0.864")) < Decimal("0.001")
    assert sorted(metrics["countries_of_origin"]) == sorted(expect[RING]["countries_of_origin"])
    assert metrics["mercury_free"] is expect[RING]["mercury_free"]
    assert metrics["conflict_free"] is expect[RING]["conflict_free"]
    grain = client.get("/v1/lots/HK-GR-0820-A").json()
    remaining = Decimal(grain["fine_gold_g"])
    assert abs(
        remaining - Decimal(str(expect["HK-GR-0820-A"]["remaining_fine_g_approx"]))
    ) < Decimal("0.01")
    assert grain["closed"] is False
    assert client.get("/v1/lots/CH-KB-260520-003").json()["closed"] is True
    assert client.get("/v1/lots/GH-ASR-DEP-01").json()["closed"] is False  # a deposit is a source
    for lot in ("GH-ORE-0501", "GH-DORE-0509", "CN-SCRAP-0420", "CH-KB-260520-003", RING):
        assert client.post(f"/v1/lots/{lot}/verify").json()["ok"] is True, lot


def test_the_rings_metrics_follow_from_the_scenarios_numbers(
    ledger: Ledger, actors: dict[str, Actor]
) -> None:
    """The README's worked example, recomputed here by hand from the scenario's figures."""
    run_steps(ledger, actors)
    metrics = ledger.client.get(f"/v1/lots/{RING}/metrics").json()
    dore_fine = Decimal("1380") * Decimal("855.0") / 1000  # 1179.9
    melt = dore_fine + Decimal(7500)  # 8679.9 g fine into the refinery
    bars_out = 8 * Decimal(1000) * Decimal("999.9") / 1000 + Decimal(660) * Decimal("999.9") / 1000
    mine_and_melt = Decimal(21500) + 2300 + 140 + 35 + 1150  # kg CO2e into the refinery outputs
    per_g_bar = mine_and_melt / bars_out
    bar_fine = Decimal(1000) * Decimal("999.9") / 1000
    split_out = (Decimal(500) + Decimal("499.8")) * Decimal("999.9") / 1000
    per_g_grain = per_g_bar * bar_fine / split_out  # the split's loss leaves its carbon behind
    ring_carbon = per_g_grain * Decimal("3.9") + Decimal("0.4")
    intensity = ring_carbon / Decimal("3.9") * 1000
    assert Decimal(metrics["carbon_intensity_kgco2e_per_kg"]) == intensity.quantize(Decimal("0.1"))
    assert Decimal(metrics["recycled_share"]) == (Decimal(7500) / melt).quantize(Decimal("0.0001"))
    assert metrics["countries_of_origin"] == {
        "CN": str((Decimal(7500) / melt).quantize(Decimal("0.0001"))),
        "GH": str((dore_fine / melt).quantize(Decimal("0.0001"))),
    }
    assert metrics["certified_shares"] == {"LBMA Good Delivery": "1", "RJC Chain-of-Custody": "1"}
    assert metrics["grade"] == "B"  # 3,004 kg/kg: above 1,000, below 5,000


def test_the_scenarios_attacks_on_transformations_are_refused(
    ledger: Ledger, actors: dict[str, Actor]
) -> None:
    run_steps(ledger, actors, until="refined")
    refine = next(s for s in STEPS if s["action"] == "refined")
    greedy = {
        **refine,
        "outputs": [
            *refine["outputs"],
            {"lot": "CH-KB-EXTRA", "form": "bar", "mass_g": 1000, "fineness": 999.9},
        ],
    }
    before = ledger.snapshot()
    body = problem(post_step(ledger, actors, greedy), 422)
    assert body["code"] == "mass.over_claim"
    assert body["numbers"]["inputs_fine_g"] == "8679.9"
    assert body["numbers"]["outputs_fine_g"] == "9659.034"
    assert "8679.9" in body["detail"]
    assert "9659.034" in body["detail"]
    assert body["errors"][0]["field"] == "transformation.outputs"
    assert ledger.snapshot() == before
    run_from(ledger, actors, "refined", until="split")
    # bund-bullion cuts the bar while the jeweler holds it
    cut = next(s for s in STEPS if s["action"] == "split")
    stolen = {**cut, "partner": "bund-bullion"}
    body = problem(post_step(ledger, actors, stolen), 403)
    assert body["code"] == "custody.not_custodian"
    assert body["errors"][0]["field"] == "transformation.inputs[0].lot"
    run_from(ledger, actors, "split", until="fabricated")
    # a second split of the bar after it was fully split
    again = {
        **cut,
        "outputs": [{"lot": "HK-GR-0820-C", "form": "grain", "mass_g": 10, "fineness": 999.9}],
        "data": {},
    }
    before = ledger.snapshot()
    body = problem(post_step(ledger, actors, again), 409)
    assert body["code"] == "lot.closed"
    assert "CH-KB-260520-003" in body["detail"]
    assert ledger.snapshot() == before


def test_a_rewritten_vault_location_is_found_by_verify_and_audit(
    ledger: Ledger, actors: dict[str, Actor]
) -> None:
    run_steps(ledger, actors)
    assert ledger.engine is not None
    vaulted = ledger.client.get("/v1/lots/CH-KB-260520-003/events").json()["events"][3]
    assert vaulted["body"]["action"] == "vaulted"
    tamper(
        ledger.engine,
        "UPDATE ledger_entries SET body = REPLACE(body, 'CN-SH', 'CN-BJ') WHERE seq = :seq",
        seq=vaulted["seq"],
    )
    report = ledger.client.post("/v1/lots/CH-KB-260520-003/verify").json()
    assert report["ok"] is False
    assert {f["seq"] for f in report["failures"] if f["check"] == "event #3"} == {vaulted["seq"]}
    auditor = actors["sh-audit"]
    audit = ledger.client.post("/v1/audit/verify", headers=ADMIN).json()
    assert audit["ok"] is False
    assert vaulted["seq"] in {f.get("seq") for f in audit["failures"]}
    del auditor


def test_a_partner_who_is_not_the_custodian_is_refused(
    ledger: Ledger, actors: dict[str, Actor]
) -> None:
    """The scenario's attack, on the scrap: bund-bullion posts while ticino holds it."""
    own_chains(ledger, actors)
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
    own_chains(ledger, actors)
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
