"""Helpers shared by the tests: partners with real keys, signing and posting events."""

from __future__ import annotations

import itertools
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.ledger.events import EVENT_TYPE, Event
from app.ledger.keys import SigningKey, b64encode
from app.ledger.provenance.transformations import TRANSFORMATION_TYPE, Transformation
from app.models.tables import APPEND_ONLY_TABLES

ADMIN_TOKEN = "test-admin-token-0123456789abcdefghijklmnop"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
HEAD = object()  # sentinel: "use the lot's current head"

_clock = itertools.count()
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def next_time() -> str:
    """A strictly increasing occurred_at, so tests never trip the time-order rule by accident."""
    return (_EPOCH + timedelta(minutes=next(_clock))).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Actor:
    id: str
    roles: tuple[str, ...]
    key: SigningKey
    api_key: str
    keys: list[SigningKey] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def sign(event: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    parsed = Event.from_json(event)
    return {"event": event, "signature": b64encode(key.sign(parsed.canonical))}


def sign_transformation(body: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    parsed = Transformation.from_json(body)
    return {"transformation": body, "signature": b64encode(key.sign(parsed.canonical))}


def lot(lot_id: str, form: str, mass_g: float, fineness: float) -> dict[str, Any]:
    """An output of a transformation."""
    return {"lot": lot_id, "form": form, "mass_g": mass_g, "fineness": fineness}


@dataclass
class Ledger:
    client: TestClient | httpx.Client
    engine: Engine | None = None

    def partner(
        self, partner_id: str, *roles: str, country: str | None = None, name: str | None = None
    ) -> Actor:
        key = SigningKey.generate()
        response = self.client.post(
            "/v1/admin/partners",
            json={
                "id": partner_id,
                "name": name or partner_id.replace("-", " ").title(),
                "roles": list(roles),
                "country": country,
                "public_keys": [key.public.b64],
            },
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text
        return Actor(partner_id, roles, key, response.json()["api_key"], [key])

    def head(self, lot: str) -> str | None:
        response = self.client.get(f"/v1/lots/{lot}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        head: str = response.json()["head"]
        return head

    def event(
        self,
        actor: Actor,
        lot: str,
        stage: str,
        action: str,
        data: dict[str, Any] | None = None,
        *,
        occurred_at: str | None = None,
        prev: Any = HEAD,
        key: SigningKey | None = None,
    ) -> dict[str, Any]:
        # The head is read before the time is taken, so that concurrent clients
        # whose prev is still current also hold the latest occurred_at.
        prev = self.head(lot) if prev is HEAD else prev
        return {
            "type": EVENT_TYPE,
            "lot": lot,
            "partner": actor.id,
            "key": (key or actor.key).public.key_id,
            "stage": stage,
            "action": action,
            "occurred_at": occurred_at or next_time(),
            "data": data or {},
            "prev": prev,
        }

    def post(
        self,
        actor: Actor,
        lot: str,
        stage: str,
        action: str,
        data: dict[str, Any] | None = None,
        *,
        expect: int | None = 201,
        occurred_at: str | None = None,
        prev: Any = HEAD,
        key: SigningKey | None = None,
    ) -> httpx.Response:
        event = self.event(
            actor, lot, stage, action, data, occurred_at=occurred_at, prev=prev, key=key
        )
        response = self.client.post(
            f"/v1/lots/{lot}/events", json=sign(event, key or actor.key), headers=actor.auth
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def transformation(
        self,
        actor: Actor,
        stage: str,
        action: str,
        inputs: list[str | tuple[str, float]],
        outputs: list[dict[str, Any]],
        data: dict[str, Any] | None = None,
        *,
        occurred_at: str | None = None,
    ) -> dict[str, Any]:
        """A transformation over the inputs' current heads; ``(lot, fine_g)`` takes a part."""
        named = []
        for item in inputs:
            lot, fine = (item, None) if isinstance(item, str) else item
            named.append(
                {"lot": lot, "prev": self.head(lot)} | ({} if fine is None else {"fine_g": fine})
            )
        return {
            "type": TRANSFORMATION_TYPE,
            "partner": actor.id,
            "key": actor.key.public.key_id,
            "stage": stage,
            "action": action,
            "occurred_at": occurred_at or next_time(),
            "inputs": named,
            "outputs": outputs,
            "data": data or {},
        }

    def transform(
        self,
        actor: Actor,
        stage: str,
        action: str,
        inputs: list[str | tuple[str, float]],
        outputs: list[dict[str, Any]],
        data: dict[str, Any] | None = None,
        *,
        expect: int | None = 201,
        occurred_at: str | None = None,
    ) -> httpx.Response:
        body = self.transformation(
            actor, stage, action, inputs, outputs, data, occurred_at=occurred_at
        )
        response = self.client.post(
            "/v1/transformations", json=sign_transformation(body, actor.key), headers=actor.auth
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of the ledger and its projections, to show a refusal changed nothing."""
        assert self.engine is not None
        tables = ("ledger_entries", "events", "lots", "partners", "partner_keys", "tree_nodes")
        with self.engine.connect() as conn:
            return {
                name: [tuple(row) for row in conn.execute(text(f"SELECT * FROM {name} ORDER BY 1"))]
                for name in tables
            }


def deposit(ledger: Ledger, explorer: Actor, lot: str) -> httpx.Response:
    return ledger.post(
        explorer,
        lot,
        "exploration",
        "site_registered",
        {"form": "deposit", "location": {"country": "GH", "subdivision": "GH-AH"}},
    )


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert ``response`` is an RFC 9457 problem with ``status``; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:goldtrail:problem:")
    assert body["title"]
    assert body["detail"]
    return body


def tamper(engine: Engine, *statements: str, **params: Any) -> None:
    """Run SQL behind the service's back, as an attacker with database access would.

    The append-only triggers are switched off first (an owner of the database can).
    """
    from sqlalchemy import text as sql

    with engine.begin() as conn:
        for table in APPEND_ONLY_TABLES:
            if conn.dialect.name == "sqlite":
                for verb in ("update", "delete"):
                    conn.execute(sql(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
            else:
                conn.execute(sql(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        for statement in statements:
            conn.execute(sql(statement), params)


def decode_qr(image: Path) -> str:
    """What the QR code in ``image`` says, read by zbar (Debian's zbar-tools)."""
    result = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(image)], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()
