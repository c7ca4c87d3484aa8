"""The baseline for bench/post_events.py: the least an ingest route must do.

A FastAPI route that parses the posted envelope with Pydantic, canonicalises the
event (RFC 8785, the same encoder Goldtrail uses), verifies its Ed25519
signature and commits one row — nothing else: no rules, no chain, no receipt, no
log. Goldtrail's POST is measured against it in the same run, on the same wrk
settings and the same database, so that the ratio means something on a noisy
machine. Served by uvicorn with the factory ``bench.minimal_app:create_app``;
``BENCH_PUBLIC_KEY`` (base64) is the key every event is signed with.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert

from app.db import make_engine
from app.ledger.canonical import canonical_bytes
from app.ledger.hashing import sha256_hex
from app.ledger.keys import PublicKey, b64decode_strict

metadata = MetaData()
rows = Table(
    "minimal_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("hash", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("signature", String(88), nullable=False),
)


class Envelope(BaseModel):
    event: dict[str, Any]
    signature: str


def create_app() -> FastAPI:
    engine = make_engine(os.environ["BENCH_DATABASE_URL"])
    metadata.create_all(engine)
    key = PublicKey.from_b64(os.environ["BENCH_PUBLIC_KEY"])
    statement = insert(rows)
    app = FastAPI()

    @app.get("/readyz")
    def ready() -> dict[str, str]:
        return {"status": "ready"}

    def handle(lot: str, envelope: Envelope) -> JSONResponse:
        canonical = canonical_bytes(envelope.event)
        signature = b64decode_strict(envelope.signature, field="signature", size=64)
        key.verify(canonical, signature, what="event")
        digest = sha256_hex(canonical)
        with engine.begin() as conn:
            conn.execute(
                statement,
                {"hash": digest, "body": canonical.decode(), "signature": envelope.signature},
            )
        return JSONResponse({"hash": digest, "lot": lot}, status_code=201)

    # As Goldtrail does: SQLite on the event loop, a network database on the thread pool.
    if engine.dialect.name == "sqlite":

        @app.post("/v1/lots/{lot}/events", status_code=201)
        async def post_inline(lot: str, envelope: Envelope) -> JSONResponse:
            return handle(lot, envelope)

    else:

        @app.post("/v1/lots/{lot}/events", status_code=201)
        def post_threaded(lot: str, envelope: Envelope) -> JSONResponse:
            return handle(lot, envelope)

    return app
