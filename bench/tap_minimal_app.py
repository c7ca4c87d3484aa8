"""The baseline for bench/tap_bench.py: the least a tap route must do.

A FastAPI route that reads the two query parameters, computes one AES-CMAC (cryptography's)
and commits one row — no decryption, no counter rule, no binding. Goldtrail's tap is
measured against it in the same run, with the same wrk settings and the same database.
Served by uvicorn with the factory ``bench.tap_minimal_app:create_app``.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from app.db import make_engine
from app.ledger.binding.sun import aes_cmac

metadata = MetaData()
rows = Table(
    "minimal_taps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tag", String(16), nullable=False),
    Column("mac", String(32), nullable=False),
)


def create_app() -> FastAPI:
    engine = make_engine(os.environ["BENCH_DATABASE_URL"])
    metadata.create_all(engine)
    key = bytes(16)
    statement = insert(rows)
    app = FastAPI()

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/v1/tags/{tag}/tap")
    def tap(tag: str, picc_data: str = Query(), cmac: str = Query()) -> JSONResponse:
        mac = aes_cmac(key, bytes.fromhex(picc_data))[1::2]
        with engine.begin() as conn:
            conn.execute(statement, {"tag": tag, "mac": mac.hex()})
        return JSONResponse({"outcome": "genuine" if mac.hex() == cmac.lower() else "other"})

    return app
