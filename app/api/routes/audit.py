"""Whole-ledger verification for auditors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import ContextDep, ReaderDep
from app.db import read_transaction
from app.services import chains

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.post("/verify", summary="Verify every lot's chain; lists every broken event")
def verify_all(_: ReaderDep, ctx: ContextDep) -> dict[str, Any]:
    lots = 0
    checked = 0
    failures: list[dict[str, Any]] = []
    with read_transaction(ctx.engine) as conn:
        for _lot, report in chains.verify_ledger(conn, service_key=ctx.service_key.public):
            lots += 1
            checked += len(report.checks)
            failures.extend(check.to_json() for check in report.failures)
    return {"ok": not failures, "lots": lots, "checked": checked, "failures": failures}
