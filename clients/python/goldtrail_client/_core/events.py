# Generated from app/ledger/events.py by tools/client_core.py: do not edit.
"""Custody events: the objects partners sign (see docs/PROTOCOL.md §3).

An event is a JSON object with exactly the members ``type``, ``lot``,
``partner``, ``key``, ``stage``, ``action``, ``occurred_at``, ``data`` and
``prev``. Its signing input is its RFC 8785 canonical bytes; its hash is
SHA-256 over the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from .canonical import canonical_bytes, check_limits
from .errors import FieldError
from .hashing import is_hash, sha256_hex

__all__ = [
    "ACTIONS",
    "EVENT_TYPE",
    "PARTNER_ID",
    "STAGES",
    "Event",
    "parse_timestamp",
    "require_id",
    "require_members",
]

EVENT_TYPE = "goldtrail.event.v1"

STAGES: tuple[str, ...] = ("exploration", "mining", "smelting", "circulation", "sale")

ACTIONS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "exploration": ("site_registered", "permit_granted", "impact_assessed"),
        "mining": ("extracted",),
        "smelting": ("recycled_intake", "smelted", "refined", "assayed", "cast", "bar_identified"),
        "circulation": (
            "transferred",
            "received",
            "shipped",
            "vaulted",
            "tag_bound",
            "tag_unbound",
            "claim_code_set",
        ),
        "sale": ("sold",),
    }
)

LOT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
PARTNER_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
KEY_ID = re.compile(r"^[0-9a-f]{32}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$")

_MEMBERS = frozenset(
    {"type", "lot", "partner", "key", "stage", "action", "occurred_at", "data", "prev"}
)


@lru_cache(maxsize=4096)
def _moment(value: str) -> datetime | str:
    """The time ``value`` states, or why it states none (kept: every check reads times)."""
    if not TIMESTAMP.fullmatch(value):
        return "must be an RFC 3339 UTC time like 2026-05-09T10:00:00Z"
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        return f"not a real date and time: {exc}"


def parse_timestamp(value: object, *, field: str) -> datetime:
    """An RFC 3339 UTC timestamp written with ``Z`` (``2026-05-09T10:00:00Z``)."""
    if not isinstance(value, str):
        raise FieldError(field, "must be an RFC 3339 UTC time like 2026-05-09T10:00:00Z")
    moment = _moment(value)
    if isinstance(moment, str):
        raise FieldError(field, moment)
    return moment


def require_members(
    obj: object, path: str, required: frozenset[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``obj`` as a JSON object with all of ``required`` and nothing beyond ``optional``."""
    if not isinstance(obj, dict):
        raise FieldError(path, "must be a JSON object")
    unknown = sorted(set(obj) - required - optional)
    if unknown:
        raise FieldError(f"{path}.{unknown[0]}", "unknown member")
    missing = sorted(required - set(obj))
    if missing:
        raise FieldError(f"{path}.{missing[0]}", "required member is missing")
    return obj


def require_id(value: object, field: str, pattern: re.Pattern[str]) -> str:
    """A string matching ``pattern`` (a lot, partner or key id)."""
    if not isinstance(value, str):
        raise FieldError(field, "must be a string")
    if not pattern.fullmatch(value):
        raise FieldError(field, f"must match {pattern.pattern}")
    return value


@dataclass(frozen=True, slots=True)
class Event:
    """A validated custody event; ``canonical`` holds the exact bytes signed and hashed."""

    lot: str
    partner: str
    key: str
    stage: str
    action: str
    occurred_at: str
    prev: str | None
    canonical: bytes
    hash: str
    data: MappingProxyType[str, Any]

    @property
    def occurred(self) -> datetime:
        return parse_timestamp(self.occurred_at, field="event.occurred_at")

    @classmethod
    def from_json(
        cls,
        obj: object,
        *,
        path: str = "event",
        canonical: bytes | None = None,
        limits_checked: bool = False,
    ) -> Event:
        """Validate an event's shape and vocabulary; raise FieldError naming the field.

        ``canonical`` may pass ``JCS(obj)`` when the caller has already computed it;
        ``limits_checked`` says ``obj`` came from ``parse_strict``, which checked them.
        """
        obj = require_members(obj, path, _MEMBERS)
        if obj["type"] != EVENT_TYPE:
            raise FieldError(f"{path}.type", f"must be {EVENT_TYPE!r}")
        lot = require_id(obj["lot"], f"{path}.lot", LOT_ID)
        partner = require_id(obj["partner"], f"{path}.partner", PARTNER_ID)
        key = require_id(obj["key"], f"{path}.key", KEY_ID)
        stage = obj["stage"]
        if stage not in STAGES:
            raise FieldError(f"{path}.stage", f"must be one of {', '.join(STAGES)}")
        action = obj["action"]
        if action not in ACTIONS[stage]:
            raise FieldError(
                f"{path}.action",
                f"{action!r} is not a {stage} action; expected one of {', '.join(ACTIONS[stage])}",
            )
        occurred_at = obj["occurred_at"]
        parse_timestamp(occurred_at, field=f"{path}.occurred_at")
        data = obj["data"]
        if not isinstance(data, dict):
            raise FieldError(f"{path}.data", "must be a JSON object")
        if not limits_checked:
            check_limits(data, path=f"{path}.data")
        prev = obj["prev"]
        if prev is not None and not is_hash(prev):
            raise FieldError(f"{path}.prev", "must be null or a 64-character lowercase hex SHA-256")
        if canonical is None:
            canonical = canonical_bytes(obj)
        return cls(
            lot=lot,
            partner=partner,
            key=key,
            stage=stage,
            action=action,
            occurred_at=occurred_at,
            prev=prev,
            canonical=canonical,
            hash=sha256_hex(canonical),
            data=MappingProxyType(dict(data)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": EVENT_TYPE,
            "lot": self.lot,
            "partner": self.partner,
            "key": self.key,
            "stage": self.stage,
            "action": self.action,
            "occurred_at": self.occurred_at,
            "data": dict(self.data),
            "prev": self.prev,
        }
