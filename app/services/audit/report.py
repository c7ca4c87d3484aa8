"""What an audit found: the counts it checked and every failure, named (PROTOCOL.md §11)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_LISTED_FAILURES", "AuditReport"]


MAX_LISTED_FAILURES = 10_000


@dataclass(slots=True)
class AuditReport:
    entries: int = 0
    nodes: int = 0
    checkpoints: int = 0
    lots: int = 0
    summaries: int = 0
    failure_count: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    sequential_seconds: float = 0.0
    """Of ``seconds``, the time the pass in sequence took (the part no core can share)."""

    @property
    def ok(self) -> bool:
        return self.failure_count == 0

    def fail(self, check: str, detail: str, **where: Any) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append({"check": check, "detail": detail, **where})

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "tree_nodes": self.nodes,
            "checkpoints": self.checkpoints,
            "lots": self.lots,
            "summaries": self.summaries,
            "failure_count": self.failure_count,
            "failures": self.failures,
            "seconds": round(self.seconds, 3),
            "sequential_seconds": round(self.sequential_seconds, 3),
        }

    def summary(self) -> str:
        head = (
            f"Audited {self.entries} entries, {self.nodes} tree nodes, {self.checkpoints} "
            f"checkpoints, {self.summaries} summaries and {self.lots} lots in "
            f"{self.seconds:.1f} s: "
        )
        if self.ok:
            return head + "everything verifies."
        lines = [head + f"{self.failure_count} failures."]
        for failure in self.failures[:50]:
            where = ", ".join(
                f"{k} {failure[k]}"
                for k in ("seq", "lot", "lot_seq", "node", "size")
                if k in failure
            )
            lines.append(f"  ✗ {failure['check']} ({where}): {failure['detail']}")
        return "\n".join(lines)
