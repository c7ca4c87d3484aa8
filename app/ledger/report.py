"""The outcome of a verification: every check, located, with what failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Check", "Report"]


@dataclass(frozen=True, slots=True)
class Check:
    """One verification step and its outcome, located as precisely as possible."""

    check: str
    ok: bool
    detail: str
    lot: str | None = None
    lot_seq: int | None = None
    seq: int | None = None
    hash: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "ok": self.ok,
            "detail": self.detail,
            "lot": self.lot,
            "lot_seq": self.lot_seq,
            "seq": self.seq,
            "hash": self.hash,
        }


@dataclass(slots=True)
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, check: str, ok: bool, detail: str, seq: int | None = None) -> None:
        self.checks.append(Check(check, ok, detail, seq=seq))

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def pending(self) -> bool:
        """Failed only because entries are newer than the checkpoint: fetch again."""
        return bool(self.failures) and all(c.check == "not yet in log" for c in self.failures)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": len(self.checks),
            "failures": [check.to_json() for check in self.failures],
            "checks": [check.to_json() for check in self.checks],
        }
