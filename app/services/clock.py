"""The service clock, in the one timestamp format the ledger records."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_time", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, e.g. ``2026-11-29T01:20:00.123456Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
