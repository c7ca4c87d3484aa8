"""Request examples for the OpenAPI document: real envelopes, signed by a published example key.

The key is derived from a fixed seed (32 bytes 0x01..0x20) so the examples verify offline;
it belongs to no partner, so posting them answers 401/403/422 rather than appending.
"""

from __future__ import annotations

from typing import Any

from app.ledger.canonical import canonical_bytes
from app.ledger.keys import SigningKey, b64encode

__all__ = ["BATCH_EXAMPLE", "EVENT_EXAMPLE", "EXAMPLE_KEY", "TRANSFORMATION_EXAMPLE"]

EXAMPLE_KEY = SigningKey.from_seed(bytes(range(1, 33)))


def _signed(member: str, body: dict[str, Any]) -> dict[str, Any]:
    return {member: body, "signature": b64encode(EXAMPLE_KEY.sign(canonical_bytes(body)))}


EVENT_EXAMPLE = _signed(
    "event",
    {
        "type": "goldtrail.event.v1",
        "lot": "GH-ASR-DEP-01",
        "partner": "obuasi-ridge",
        "key": EXAMPLE_KEY.public.key_id,
        "stage": "smelting",
        "action": "smelted",
        "occurred_at": "2026-05-02T14:00:00Z",
        "data": {
            "form": "dore",
            "mass_g": 640,
            "fineness": 855.0,
            "emissions_kgco2e": 1200,
            "location": {"country": "GH", "subdivision": "GH-AH"},
        },
        "prev": "3f1c0a6b2e8d4f5a9c7b1e0d2a4c6e8f0b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a",
    },
)

TRANSFORMATION_EXAMPLE = _signed(
    "transformation",
    {
        "type": "goldtrail.transformation.v1",
        "partner": "ticino-refinery",
        "key": EXAMPLE_KEY.public.key_id,
        "stage": "smelting",
        "action": "refined",
        "occurred_at": "2026-05-20T16:00:00Z",
        "inputs": [
            {
                "lot": "CN-SCRAP-0420",
                "prev": "9a7c5e3b1d9f7a5c3e1b9d7f5a3c1e9b7d5f3a1c9e7b5d3f1a9c7e5b3d1f9a7c",
            }
        ],
        "outputs": [
            {"lot": "CH-GR-0520-A", "form": "grain", "mass_g": 5000, "fineness": 999.9},
            {"lot": "CH-GR-0520-B", "form": "grain", "mass_g": 2499, "fineness": 999.9},
        ],
        "data": {"declared_loss_fine_g": 1.7499, "emissions_kgco2e": 1150},
    },
)

BATCH_EXAMPLE = {"items": [EVENT_EXAMPLE, TRANSFORMATION_EXAMPLE]}
