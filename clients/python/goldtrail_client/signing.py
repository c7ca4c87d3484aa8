"""The bodies partners sign, and their envelopes (PROTOCOL.md §3, §13)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import rfc8785

from goldtrail_client.keys import Key

__all__ = [
    "EVENT_TYPE",
    "TRANSFORMATION_TYPE",
    "canonical",
    "event_body",
    "now",
    "sign_event",
    "sign_transformation",
    "transformation_body",
]

EVENT_TYPE = "goldtrail.event.v1"
TRANSFORMATION_TYPE = "goldtrail.transformation.v1"


def canonical(value: Any) -> bytes:
    """RFC 8785 (JCS): the bytes Goldtrail hashes and partners sign."""
    data: bytes = rfc8785.dumps(value)
    return data


def now() -> str:
    """The time now as Goldtrail writes it: RFC 3339, UTC, ``Z``."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def event_body(
    *,
    partner: str,
    key: Key,
    lot: str,
    stage: str,
    action: str,
    prev: str | None,
    data: dict[str, Any] | None = None,
    occurred_at: str | None = None,
) -> dict[str, Any]:
    return {
        "type": EVENT_TYPE,
        "lot": lot,
        "partner": partner,
        "key": key.key_id,
        "stage": stage,
        "action": action,
        "occurred_at": occurred_at or now(),
        "data": data or {},
        "prev": prev,
    }


def transformation_body(
    *,
    partner: str,
    key: Key,
    stage: str,
    action: str,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    data: dict[str, Any] | None = None,
    occurred_at: str | None = None,
) -> dict[str, Any]:
    """``inputs``: ``{"lot", "prev"}`` (and ``"fine_g"`` to take part of a lot)."""
    return {
        "type": TRANSFORMATION_TYPE,
        "partner": partner,
        "key": key.key_id,
        "stage": stage,
        "action": action,
        "occurred_at": occurred_at or now(),
        "inputs": inputs,
        "outputs": outputs,
        "data": data or {},
    }


def _signature(body: dict[str, Any], key: Key) -> str:
    if body.get("key") != key.key_id:
        raise ValueError(f"the body names key {body.get('key')}, not {key.key_id}")
    return base64.b64encode(key.sign(canonical(body))).decode("ascii")


def sign_event(body: dict[str, Any], key: Key) -> dict[str, Any]:
    """The envelope ``POST /v1/lots/{lot}/events`` takes."""
    return {"event": body, "signature": _signature(body, key)}


def sign_transformation(body: dict[str, Any], key: Key) -> dict[str, Any]:
    """The envelope ``POST /v1/transformations`` takes."""
    return {"transformation": body, "signature": _signature(body, key)}
