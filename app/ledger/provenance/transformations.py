"""Transformations: signed objects that consume input lots and produce output lots
(docs/PROTOCOL.md §13).

A transformation is a JSON object with exactly the members ``type``,
``partner``, ``key``, ``stage``, ``action``, ``occurred_at``, ``inputs``,
``outputs`` and ``data``. Each input names a lot and the hash of its head, so the
signature covers the exact history of every input; an input may state
``fine_g``, the fine gold it gives up, and otherwise gives up all it holds. Each
output names a new lot with its form, mass (g) and fineness (‰). Like an event,
its signing input is its RFC 8785 canonical bytes and its hash is SHA-256 over
them. It is the next link of every input lot's chain and the first link of
every output lot's chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ..canonical import canonical_bytes, check_limits
from ..errors import FieldError
from ..events import (
    KEY_ID,
    LOT_ID,
    PARTNER_ID,
    parse_timestamp,
    require_id,
    require_members,
)
from ..hashing import is_hash, sha256_hex
from .facts import MAX_MASS_G, quantity, read_fineness, read_mass_g

__all__ = [
    "MAX_LOTS",
    "TRANSFORMATION_ACTIONS",
    "TRANSFORMATION_TYPE",
    "Input",
    "Output",
    "Transformation",
]

TRANSFORMATION_TYPE = "goldtrail.transformation.v1"

MAX_LOTS = 1024
"""Inputs, and outputs, a transformation may name: a refinery melt of a thousand lots."""


@dataclass(frozen=True, slots=True)
class _Shape:
    stages: tuple[str, ...]
    min_inputs: int
    max_inputs: int | None


# Which stage each transformation is posted at, and how many inputs it takes.
TRANSFORMATION_ACTIONS: MappingProxyType[str, _Shape] = MappingProxyType(
    {
        "extracted": _Shape(("mining",), 0, None),
        "recycled_intake": _Shape(("smelting",), 0, 0),
        "smelted": _Shape(("smelting",), 1, None),
        "refined": _Shape(("smelting",), 1, None),
        "cast": _Shape(("smelting",), 1, None),
        "merged": _Shape(("smelting", "circulation"), 2, None),
        "split": _Shape(("smelting", "circulation"), 1, 1),
        "fabricated": _Shape(("smelting",), 1, None),
    }
)

_MEMBERS = frozenset(
    {"type", "partner", "key", "stage", "action", "occurred_at", "inputs", "outputs", "data"}
)
_OUTPUT_MEMBERS = frozenset({"lot", "form", "mass_g", "fineness"})


@dataclass(frozen=True, slots=True)
class Input:
    lot: str
    prev: str
    fine_g: Decimal | None
    """Fine gold taken from the lot; None takes all it holds."""


@dataclass(frozen=True, slots=True)
class Output:
    lot: str
    form: str
    mass_g: Decimal
    fineness: Decimal

    @property
    def fine_g(self) -> Decimal:
        return self.mass_g * self.fineness / 1000


def _input(obj: object, path: str) -> Input:
    item = require_members(obj, path, frozenset({"lot", "prev"}), frozenset({"fine_g"}))
    prev = item["prev"]
    if not is_hash(prev):
        raise FieldError(f"{path}.prev", "must be the 64-character hex hash of the lot's head")
    fine = item.get("fine_g")
    return Input(
        lot=require_id(item["lot"], f"{path}.lot", LOT_ID),
        prev=prev,
        fine_g=None
        if fine is None
        else quantity(fine, field=f"{path}.fine_g", upper=MAX_MASS_G, positive=True),
    )


def _output(obj: object, path: str) -> Output:
    item = require_members(obj, path, _OUTPUT_MEMBERS)
    form = item["form"]
    if not isinstance(form, str):
        raise FieldError(f"{path}.form", "must be a string")
    return Output(
        lot=require_id(item["lot"], f"{path}.lot", LOT_ID),
        form=form,
        mass_g=read_mass_g(item["mass_g"], f"{path}.mass_g"),
        fineness=read_fineness(item["fineness"], f"{path}.fineness"),
    )


def _items(obj: dict[str, Any], name: str, path: str) -> list[Any]:
    value = obj[name]
    if not isinstance(value, list):
        raise FieldError(f"{path}.{name}", "must be a JSON array")
    if len(value) > MAX_LOTS:
        raise FieldError(f"{path}.{name}", f"at most {MAX_LOTS} lots, got {len(value)}")
    return value


@dataclass(frozen=True, slots=True)
class Transformation:
    """A validated transformation; ``canonical`` holds the exact bytes signed and hashed."""

    partner: str
    key: str
    stage: str
    action: str
    occurred_at: str
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    data: MappingProxyType[str, Any]
    canonical: bytes
    hash: str

    @property
    def lots(self) -> tuple[str, ...]:
        return tuple(i.lot for i in self.inputs) + tuple(o.lot for o in self.outputs)

    @classmethod
    def from_json(
        cls, obj: object, *, path: str = "transformation", canonical: bytes | None = None
    ) -> Transformation:
        """Validate the shape; raise FieldError naming the field.

        A lot named twice, or named both as input and output (a lot cannot be its
        own ancestor), is refused here.
        """
        body = require_members(obj, path, _MEMBERS)
        if body["type"] != TRANSFORMATION_TYPE:
            raise FieldError(f"{path}.type", f"must be {TRANSFORMATION_TYPE!r}")
        partner = require_id(body["partner"], f"{path}.partner", PARTNER_ID)
        key = require_id(body["key"], f"{path}.key", KEY_ID)
        action = body["action"]
        shape = TRANSFORMATION_ACTIONS.get(action) if isinstance(action, str) else None
        if shape is None:
            raise FieldError(
                f"{path}.action", f"must be one of {', '.join(TRANSFORMATION_ACTIONS)}"
            )
        stage = body["stage"]
        if stage not in shape.stages:
            raise FieldError(f"{path}.stage", f"{action} is a {' or '.join(shape.stages)} step")
        parse_timestamp(body["occurred_at"], field=f"{path}.occurred_at")
        inputs = tuple(
            _input(item, f"{path}.inputs[{i}]")
            for i, item in enumerate(_items(body, "inputs", path))
        )
        outputs = tuple(
            _output(item, f"{path}.outputs[{i}]")
            for i, item in enumerate(_items(body, "outputs", path))
        )
        _check_counts(action, shape, len(inputs), len(outputs), path)
        _check_distinct(inputs, outputs, path)
        data = body["data"]
        if not isinstance(data, dict):
            raise FieldError(f"{path}.data", "must be a JSON object")
        check_limits(data, path=f"{path}.data")
        if canonical is None:
            canonical = canonical_bytes(body)
        return cls(
            partner=partner,
            key=key,
            stage=stage,
            action=action,
            occurred_at=body["occurred_at"],
            inputs=inputs,
            outputs=outputs,
            data=MappingProxyType(dict(data)),
            canonical=canonical,
            hash=sha256_hex(canonical),
        )

    def to_json(self) -> dict[str, Any]:
        """The object as signed (its canonical bytes parse back to it)."""
        body: dict[str, Any] = json.loads(self.canonical)
        return body


def _check_counts(action: str, shape: _Shape, inputs: int, outputs: int, path: str) -> None:
    if inputs < shape.min_inputs or (shape.max_inputs is not None and inputs > shape.max_inputs):
        wanted = (
            f"exactly {shape.min_inputs}"
            if shape.min_inputs == shape.max_inputs
            else f"at least {shape.min_inputs}"
        )
        raise FieldError(f"{path}.inputs", f"{action} takes {wanted} input lots, got {inputs}")
    if outputs < 1:
        raise FieldError(f"{path}.outputs", f"{action} must produce at least one lot")


def _check_distinct(inputs: tuple[Input, ...], outputs: tuple[Output, ...], path: str) -> None:
    seen: dict[str, str] = {}
    for i, item in enumerate(inputs):
        if item.lot in seen:
            raise FieldError(f"{path}.inputs[{i}].lot", f"lot {item.lot} is named twice")
        seen[item.lot] = f"inputs[{i}]"
    for i, out in enumerate(outputs):
        if out.lot in seen:
            where = seen[out.lot]
            reason = (
                f"lot {out.lot} is also {where}: a lot cannot be its own ancestor (a cycle)"
                if where.startswith("inputs")
                else f"lot {out.lot} is named twice"
            )
            raise FieldError(f"{path}.outputs[{i}].lot", reason)
        seen[out.lot] = f"outputs[{i}]"
