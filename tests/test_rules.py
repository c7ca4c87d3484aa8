"""The stage machine, custody and lot facts, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from app.domain.rules import LotState, RuleViolation, apply_event
from app.ledger.errors import FieldError
from app.ledger.events import Event

NOW = datetime(2026, 11, 29, tzinfo=UTC)
ROLES = {
    "geo": {"explorer"},
    "mine": {"miner", "smelter"},
    "truck": {"transporter"},
    "refinery": {"refiner"},
    "vault": {"vault"},
    "shop": {"jeweler"},
    "recycler": {"trader", "smelter"},
    "audit": {"auditor"},
}


class Chain:
    """Applies events to one lot, as the service would."""

    def __init__(self, lot: str = "LOT-1") -> None:
        self.lot = lot
        self.state: LotState | None = None
        self.day = 0

    def event(self, partner: str, stage: str, action: str, **data: Any) -> Event:
        self.day += 1
        return Event.from_json(
            {
                "type": "goldtrail.event.v1",
                "lot": self.lot,
                "partner": partner,
                "key": "0" * 32,
                "stage": stage,
                "action": action,
                "occurred_at": f"2026-01-{self.day:02d}T00:00:00Z",
                "data": data,
                "prev": None if self.state is None else self.state.head,
            }
        )

    def apply(self, partner: str, stage: str, action: str, **data: Any) -> LotState:
        event = self.event(partner, stage, action, **data)
        self.state = apply_event(
            self.state, event, roles=ROLES[partner], partner_exists=ROLES.__contains__, now=NOW
        )
        return self.state

    def refuse(self, partner: str, stage: str, action: str, **data: Any) -> RuleViolation:
        before = self.state
        with pytest.raises(RuleViolation) as caught:
            self.apply(partner, stage, action, **data)
        assert self.state is before
        return caught.value


def mined_lot() -> Chain:
    chain = Chain()
    chain.apply("geo", "exploration", "site_registered", form="deposit")
    chain.apply("geo", "exploration", "permit_granted", permit="GH-EPA-1")
    chain.apply("geo", "circulation", "transferred", to="mine")
    chain.apply("mine", "circulation", "received")
    chain.apply("mine", "mining", "extracted", form="ore", mass_g=120000000, fineness=0.0047)
    return chain


def test_one_lot_from_exploration_to_sale() -> None:
    chain = mined_lot()
    assert chain.state is not None
    assert chain.state.custodian == "mine"
    assert chain.state.fine_gold_g == Decimal("564")
    chain.apply("mine", "smelting", "smelted", form="dore", mass_g=640, fineness=855.0)
    chain.apply("mine", "circulation", "transferred", to="truck")
    chain.apply("truck", "circulation", "received")
    chain.apply("truck", "circulation", "shipped", **{"from": "ACC", "to": "MXP"})
    chain.apply("truck", "circulation", "transferred", to="refinery")
    chain.apply("refinery", "circulation", "received")
    chain.apply("refinery", "smelting", "refined", form="bar", mass_g=547, fineness=999.9)
    chain.apply("refinery", "circulation", "transferred", to="shop")
    state = chain.apply("shop", "circulation", "received")
    assert state.stage == "smelting"
    assert state.custodian == "shop"
    state = chain.apply("shop", "sale", "sold", channel="retail")
    assert state.stage == "sale"
    assert state.closed
    assert state.length == 15
    assert state.fine_gold_g == Decimal("546.9453")


def test_recycled_scrap_starts_at_smelting() -> None:
    chain = Chain("SCRAP-1")
    state = chain.apply(
        "recycler", "smelting", "recycled_intake", form="scrap", mass_g=10000, fineness=750.0
    )
    assert state.stage == "smelting"
    assert state.fine_gold_g == Decimal("7500")


def test_no_mining_event_after_a_sale_or_anything_else() -> None:
    chain = Chain("SCRAP-2")
    chain.apply("recycler", "smelting", "recycled_intake", form="scrap", mass_g=10, fineness=750)
    chain.apply("recycler", "circulation", "transferred", to="shop")
    chain.apply("shop", "circulation", "received")
    chain.apply("shop", "sale", "sold")
    assert chain.refuse("shop", "circulation", "transferred", to="vault").rule == "stage.closed"
    assert chain.refuse("shop", "sale", "sold").rule == "stage.closed"


def test_stage_never_goes_backwards() -> None:
    chain = mined_lot()
    chain.apply("mine", "smelting", "smelted", form="dore", mass_g=640, fineness=855.0)
    refused = chain.refuse("mine", "mining", "extracted", form="ore", mass_g=10, fineness=1)
    assert refused.rule == "stage.backwards"
    assert "smelting" in refused.reason
    assert chain.refuse("mine", "exploration", "impact_assessed").rule == "stage.backwards"


def test_role_decides_who_may_post_what() -> None:
    chain = Chain()
    refused = chain.refuse("truck", "exploration", "site_registered", form="deposit")
    assert refused.rule == "role.not_permitted"
    assert refused.status == 403
    chain = mined_lot()
    assert chain.refuse("mine", "circulation", "vaulted").rule == "role.not_permitted"
    assert (
        chain.refuse("audit", "circulation", "transferred", to="shop").rule == "role.not_permitted"
    )


def test_custody_hand_over_needs_the_recipient() -> None:
    chain = mined_lot()
    assert chain.refuse("refinery", "circulation", "received").rule == "custody.no_transfer"
    chain.apply("mine", "circulation", "transferred", to="truck")
    assert chain.state is not None
    assert chain.state.custodian == "mine"
    assert chain.state.pending_to == "truck"
    assert chain.refuse("refinery", "circulation", "received").rule == "custody.not_recipient"
    refused = chain.refuse("mine", "circulation", "shipped")
    assert refused.rule == "custody.transfer_pending"
    refused = chain.refuse("truck", "circulation", "shipped")
    assert refused.rule == "custody.not_custodian"
    assert "in the custody of mine" in refused.reason
    chain.apply("mine", "circulation", "transferred", to="refinery")
    state = chain.apply("refinery", "circulation", "received")
    assert state.custodian == "refinery"
    assert state.pending_to is None


def test_transfer_must_name_a_real_other_partner() -> None:
    chain = mined_lot()
    assert (
        chain.refuse("mine", "circulation", "transferred", to="mine").rule
        == "custody.self_transfer"
    )
    assert (
        chain.refuse("mine", "circulation", "transferred", to="nobody").rule
        == "custody.unknown_recipient"
    )
    with pytest.raises(FieldError) as caught:
        chain.apply("mine", "circulation", "transferred")
    assert caught.value.field == "event.data.to"


def test_lots_start_only_with_a_genesis_action() -> None:
    chain = Chain()
    refused = chain.refuse("mine", "smelting", "smelted", form="dore", mass_g=1, fineness=1)
    assert refused.rule == "lot.unknown"
    chain.apply("geo", "exploration", "site_registered", form="deposit")
    assert (
        chain.refuse("geo", "exploration", "site_registered", form="deposit").rule == "lot.exists"
    )


def test_time_order_and_future() -> None:
    chain = mined_lot()
    event = chain.event("mine", "smelting", "smelted", form="dore", mass_g=1, fineness=1)
    late = Event.from_json({**_json(event), "occurred_at": "2025-12-01T00:00:00Z"})
    with pytest.raises(RuleViolation) as caught:
        apply_event(
            chain.state, late, roles=ROLES["mine"], partner_exists=ROLES.__contains__, now=NOW
        )
    assert caught.value.rule == "time.order"
    future = Event.from_json({**_json(event), "occurred_at": "2026-11-29T00:06:00Z"})
    with pytest.raises(RuleViolation) as caught:
        apply_event(
            chain.state, future, roles=ROLES["mine"], partner_exists=ROLES.__contains__, now=NOW
        )
    assert caught.value.rule == "time.future"


def _json(event: Event) -> dict[str, Any]:
    return event.to_json()


def test_fine_gold_cannot_grow_in_one_lot() -> None:
    chain = mined_lot()
    chain.apply("mine", "smelting", "smelted", form="dore", mass_g=640, fineness=855.0)
    refused = chain.refuse("mine", "smelting", "assayed", fineness=900)
    assert refused.rule == "mass.fine_gold_increase"
    assert "547.2" in refused.reason
    assert "576" in refused.reason
    # Within the assay tolerance (0.1 %) a re-assay may come out slightly higher.
    state = chain.apply("mine", "smelting", "assayed", fineness=855.5)
    assert state.fineness == Decimal("855.5")


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"form": "ore", "mass_g": -5, "fineness": 1}, "event.data.mass_g", "greater than 0"),
        ({"form": "ore", "mass_g": 5, "fineness": 1000.5}, "event.data.fineness", "at most 1000"),
        ({"form": "ore", "mass_g": 5.0001, "fineness": 1}, "event.data.mass_g", "3 decimal places"),
        ({"form": "ore", "mass_g": "5", "fineness": 1}, "event.data.mass_g", "JSON number"),
        ({"form": "ore", "fineness": 1}, "event.data.mass_g", "must state"),
        ({"form": "bar", "mass_g": 5, "fineness": 1}, "event.data.form", "produces"),
        ({"form": "gold dust", "mass_g": 5, "fineness": 1}, "event.data.form", "must be one of"),
    ],
)
def test_lot_facts_are_validated(data: dict[str, Any], field: str, reason: str) -> None:
    chain = Chain()
    chain.apply("geo", "exploration", "site_registered", form="deposit")
    chain.apply("geo", "circulation", "transferred", to="mine")
    chain.apply("mine", "circulation", "received")
    with pytest.raises(FieldError) as caught:
        chain.apply("mine", "mining", "extracted", **data)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_custody_events_cannot_change_lot_facts() -> None:
    chain = mined_lot()
    with pytest.raises(FieldError) as caught:
        chain.apply("mine", "circulation", "transferred", to="truck", mass_g=1)
    assert caught.value.field == "event.data.mass_g"
