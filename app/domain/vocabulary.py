"""Roles, lot forms and which roles may post which action (README "Stages and actions")."""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "ACTION_ROLES",
    "FORMS",
    "GENESIS_ACTIONS",
    "PRODUCTION_RANK",
    "ROLES",
]

ROLES: tuple[str, ...] = (
    "explorer",
    "miner",
    "smelter",
    "refiner",
    "trader",
    "transporter",
    "vault",
    "jeweler",
    "auditor",
)

FORMS: tuple[str, ...] = (
    "deposit",
    "ore",
    "concentrate",
    "dore",
    "bar",
    "grain",
    "semi-finished",
    "jewellery",
    "scrap",
)

_HOLDERS = frozenset(ROLES) - {"auditor"}

ACTION_ROLES: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "site_registered": frozenset({"explorer", "miner"}),
        "permit_granted": frozenset({"explorer", "miner"}),
        "impact_assessed": frozenset({"explorer", "miner"}),
        "extracted": frozenset({"miner"}),
        "recycled_intake": frozenset({"smelter", "refiner", "trader"}),
        "smelted": frozenset({"smelter", "refiner"}),
        "refined": frozenset({"refiner"}),
        "assayed": frozenset({"smelter", "refiner"}),
        "cast": frozenset({"smelter", "refiner"}),
        "merged": frozenset({"smelter", "refiner", "trader", "jeweler"}),
        "split": frozenset({"smelter", "refiner", "trader", "jeweler", "vault"}),
        "fabricated": frozenset({"jeweler"}),
        "transferred": _HOLDERS,
        "received": _HOLDERS,
        "shipped": _HOLDERS,
        "vaulted": frozenset({"vault"}),
        "sold": frozenset({"jeweler", "trader"}),
        "bar_identified": frozenset({"smelter", "refiner"}),
        "tag_bound": _HOLDERS,
        "tag_unbound": _HOLDERS,
        "claim_code_set": frozenset({"jeweler", "trader", "refiner"}),
    }
)

# Actions that may open a new lot. Recycled scrap enters at smelting.
GENESIS_ACTIONS = frozenset({"site_registered", "extracted", "recycled_intake"})

# Production stages in the order gold moves through them. Circulation (custody
# moves) happens between any two of them, so it has no rank and moves no stage.
PRODUCTION_RANK: MappingProxyType[str, int] = MappingProxyType(
    {"exploration": 0, "mining": 1, "smelting": 2, "sale": 3}
)
