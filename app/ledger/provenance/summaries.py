"""Logged lot summaries: what a lot's fine gold carries, stated in the log (PROTOCOL.md §18).

The green metrics are mass-weighted sums, so what a lot carries after a step
follows from what its inputs carried before it and the step alone (the replay of
``app.ledger.provenance.metrics``). A summary is that state written out exactly — every
quantity a decimal string of the replay's 34-digit arithmetic — for one lot at
one link of its chain (``head``). The service appends one, signed with its own
key, whenever an entry changes what a lot carries, and one for each input of a
transformation whose last summary is not at the head the transformation names.

A lot's passport then needs, upstream, only the summaries of the inputs of the
transformation that made it: seeded with them, replaying the lot's own chain
gives its state and metrics. Nothing is lost by the composition: an audit
replays the whole ledger and finds every summary equal to the replayed state.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import FieldError
from ..events import LOT_ID, STAGES, require_id, require_members
from ..hashing import is_hash
from .balance import plain
from .metrics import Carried

__all__ = [
    "SUMMARY_TYPE",
    "carried_of",
    "content_of",
    "summary_body",
]

SUMMARY_TYPE = "goldtrail.summary.v1"

_MEMBERS = frozenset(
    {
        "type",
        "lot",
        "head",
        "length",
        "form",
        "mass_g",
        "fineness",
        "fine_gold_g",
        "carbon_kgco2e",
        "grams",
        "stages",
        "stage",
        "origin",
    }
)


def _number(value: Decimal | None) -> str | None:
    return None if value is None else plain(value)


def summary_body(lot: str, *, head: str, length: int, carried: Carried) -> dict[str, Any]:
    """The summary of what ``lot`` carries at its link ``head`` (the ``length``-th)."""
    return {
        "type": SUMMARY_TYPE,
        "lot": lot,
        "head": head,
        "length": length,
        "form": carried.form,
        "mass_g": _number(carried.mass_g),
        "fineness": _number(carried.fineness),
        "fine_gold_g": plain(carried.fine_g),
        "carbon_kgco2e": plain(carried.carbon_kg),
        "grams": {name: plain(grams) for name, grams in sorted(carried.grams.items()) if grams},
        "stages": sorted(carried.stages, key=STAGES.index),
        "stage": carried.stage,
        "origin": {"country": carried.country, "conflict_affected": carried.conflict_affected},
    }


def content_of(body: dict[str, Any]) -> dict[str, Any]:
    """What a summary says of the gold, without where in the chain it says it."""
    return {k: v for k, v in body.items() if k not in ("head", "length")}


def _decimal(value: object, field: str, *, nullable: bool = False) -> Decimal | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise FieldError(field, "must be a decimal string")
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise FieldError(field, f"{value!r} is not a decimal") from exc
    if not number.is_finite() or number < 0:
        raise FieldError(field, f"{value!r} is not a finite, non-negative decimal")
    return number


def carried_of(body: object, *, path: str = "summary") -> Carried:
    """What a logged summary says the lot carries, validated; FieldError naming the member."""
    obj = require_members(body, path, _MEMBERS)
    if obj["type"] != SUMMARY_TYPE:
        raise FieldError(f"{path}.type", f"must be {SUMMARY_TYPE!r}")
    require_id(obj["lot"], f"{path}.lot", LOT_ID)
    if not is_hash(obj["head"]):
        raise FieldError(f"{path}.head", "must be the hash of a link of the lot's chain")
    length = obj["length"]
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise FieldError(f"{path}.length", "must be a positive integer")
    grams = obj["grams"]
    if not isinstance(grams, dict):
        raise FieldError(f"{path}.grams", "must be a JSON object")
    stages = obj["stages"]
    if not isinstance(stages, list) or any(stage not in STAGES for stage in stages):
        raise FieldError(f"{path}.stages", f"must list stages among {', '.join(STAGES)}")
    origin = require_members(
        obj["origin"], f"{path}.origin", frozenset({"country", "conflict_affected"})
    )
    form, stage = obj["form"], obj["stage"]
    if form is not None and not isinstance(form, str):
        raise FieldError(f"{path}.form", "must be a string or null")
    if stage is not None and stage not in STAGES:
        raise FieldError(f"{path}.stage", f"must be one of {', '.join(STAGES)} or null")
    return Carried(
        fine_g=_decimal(obj["fine_gold_g"], f"{path}.fine_gold_g") or Decimal(0),
        carbon_kg=_decimal(obj["carbon_kgco2e"], f"{path}.carbon_kgco2e") or Decimal(0),
        grams={
            str(name): _decimal(value, f"{path}.grams.{name}") or Decimal(0)
            for name, value in grams.items()
        },
        stages=set(stages),
        mass_g=_decimal(obj["mass_g"], f"{path}.mass_g", nullable=True),
        fineness=_decimal(obj["fineness"], f"{path}.fineness", nullable=True),
        country=origin["country"] if isinstance(origin["country"], str) else None,
        conflict_affected=origin["conflict_affected"]
        if isinstance(origin["conflict_affected"], bool)
        else None,
        form=form,
        stage=stage,
    )
