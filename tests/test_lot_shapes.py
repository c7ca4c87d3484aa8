"""Every lot shape gets its figures: a single chain whose gold appears in place, outputs
of transformations, melts, partial takes — read as a user reads them.
"""

from __future__ import annotations

from decimal import Decimal

from tests.invariants import check_every_lot
from tests.readme_lot import LOT, post_readme_lot, readme_events
from tests.scenario import run_steps
from tests.support import Actor, Ledger


def test_the_readme_lot_is_read_from_the_readme() -> None:
    events = readme_events()
    assert len(events) == 12
    assert [e["action"] for _, e in events][4:6] == ["extracted", "smelted"]


def test_the_readme_lots_metrics_state_its_gold_and_the_mines_emissions(ledger: Ledger) -> None:
    post_readme_lot(ledger)
    state = ledger.client.get(f"/v1/lots/{LOT}").json()
    assert state["fine_gold_g"] == "546.9453"
    metrics = ledger.client.get(f"/v1/lots/{LOT}/metrics").json()
    assert metrics["fine_gold_g"] == "546.9453"
    assert metrics["carbon_kgco2e"] == "21500"
    # 21,500 kg over 546.9453 g: 39,309.2 kg per kg, above the mined benchmark: grade E
    intensity = Decimal(21500) * 1000 / Decimal("546.9453")
    assert metrics["carbon_intensity_kgco2e_per_kg"] == str(intensity.quantize(Decimal("0.1")))
    assert metrics["grade"] == "E"
    assert metrics["mined_share"] == "1"
    assert metrics["recycled_share"] == "0"
    assert metrics["countries_of_origin"] == {"GH": "1"}
    assert metrics["conflict_free"] is None  # the deposit never declared it
    assert metrics["stages_seen"] == ["exploration", "mining", "smelting", "circulation", "sale"]
    assert check_every_lot(ledger) == 1


def test_every_lot_of_the_scenario_states_its_gold(
    ledger: Ledger, actors: dict[str, Actor]
) -> None:
    run_steps(ledger, actors)
    assert check_every_lot(ledger) >= 5
