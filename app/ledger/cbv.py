"""The GS1 CBV terms Goldtrail's actions map to in EPCIS 2.0 (docs/EPCIS.md).

Pure data shared by the server's EPCIS output and the partner client's EPCIS input, so
that both read one table.
"""

from __future__ import annotations

__all__ = ["BIZ_STEPS", "GOLDTRAIL_NS", "TRANSFORMATION_EVENT_ACTIONS"]

GOLDTRAIL_NS = "https://w3id.org/goldtrail/epcis#"
"""The extension namespace, prefix ``gt``; Goldtrail's own business steps live under it."""

# Goldtrail action → (CBV bizStep, or a gt: step where CBV has none; CBV disposition).
BIZ_STEPS: dict[str, tuple[str, str]] = {
    "site_registered": ("commissioning", "active"),
    "permit_granted": ("gt:permitting", "active"),
    "impact_assessed": ("inspecting", "active"),
    "extracted": ("gt:extracting", "active"),
    "recycled_intake": ("accepting", "active"),
    "smelted": ("gt:smelting", "active"),
    "refined": ("gt:refining", "active"),
    "assayed": ("sampling", "active"),
    "cast": ("gt:casting", "active"),
    "merged": ("gt:merging", "active"),
    "split": ("gt:splitting", "active"),
    "fabricated": ("gt:fabricating", "active"),
    "transferred": ("consigning", "in_transit"),
    "shipped": ("shipping", "in_transit"),
    "received": ("receiving", "in_progress"),
    "vaulted": ("storing", "sellable_not_accessible"),
    "sold": ("retail_selling", "retail_sold"),
    "bar_identified": ("gt:bar_identifying", "active"),
    "tag_bound": ("gt:tag_binding", "active"),
    "tag_unbound": ("gt:tag_unbinding", "active"),
    "claim_code_set": ("gt:claim_code_setting", "active"),
}

TRANSFORMATION_EVENT_ACTIONS: frozenset[str] = frozenset(
    {"extracted", "recycled_intake", "smelted", "refined", "cast", "merged", "split", "fabricated"}
)
"""The actions a transformation may state (§13): an EPCIS TransformationEvent maps to one of
these, an ObjectEvent to an event (``app.ledger.events.ACTIONS``)."""
