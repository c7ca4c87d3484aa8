"""Every response shape docs/PROTOCOL.md shows is what the live server answers.

PROTOCOL.md marks each shape with ``<!-- shape METHOD PATH -->`` above a JSON block whose
values name types: ``integer``, ``string``, ``boolean``, ``object``, ``base64``, ``hex64``,
``hex32``, alternatives joined by ``|`` (``string|null``), a one-item list for "a list of
these", a nested object for an object with exactly those members (``"…"`` allows more).
The answers come from a real uvicorn on the suite's database, after the scenario's journey.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from app.ledger.keys import SigningKey
from tests.scenario import RING, partners, run_steps
from tests.support import ADMIN, Actor, Ledger, deposit, sign

PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md"
SHAPE = re.compile(r"<!-- shape (GET|POST) (\S+) -->\n```json\n(.*?)```", re.DOTALL)
OPEN = "…"


def shapes() -> list[tuple[str, str, Any]]:
    found = [
        (method, path, json.loads(body))
        for method, path, body in SHAPE.findall(PROTOCOL.read_text())
    ]
    assert len(found) >= 12, "PROTOCOL.md lost its shape blocks"
    return found


def _is_base64(value: object) -> bool:
    try:
        return isinstance(value, str) and bool(base64.b64decode(value, validate=True))
    except binascii.Error:
        return False


SCALARS: dict[str, Callable[[object], bool]] = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
    "base64": _is_base64,
    "hex64": lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None,
    "hex32": lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{32}", v) is not None,
}


def mismatches(shape: Any, value: Any, where: str = "$") -> Iterator[str]:
    if isinstance(shape, str):
        if not any(SCALARS[kind](value) for kind in shape.split("|")):
            yield f"{where}: expected {shape}, got {value!r:.80}"
    elif isinstance(shape, list):
        if not isinstance(value, list):
            yield f"{where}: expected a list, got {value!r:.80}"
            return
        for index, item in enumerate(value):
            yield from mismatches(shape[0], item, f"{where}[{index}]")
    else:
        if not isinstance(value, dict):
            yield f"{where}: expected an object, got {value!r:.80}"
            return
        declared = {k for k in shape if k != OPEN}
        missing = declared - set(value)
        extra = set() if OPEN in shape else set(value) - declared
        if missing:
            yield f"{where}: members {sorted(missing)} are missing"
        if extra:
            yield f"{where}: members {sorted(extra)} are not in PROTOCOL.md"
        for name in declared & set(value):
            yield from mismatches(shape[name], value[name], f"{where}.{name}")


def test_the_checker_catches_what_differs() -> None:
    shape = {"a": "integer", "b": ["hex32"], "c": {"d": "string|null"}}
    assert not list(mismatches(shape, {"a": 1, "b": ["0" * 32], "c": {"d": None}}))
    assert list(mismatches(shape, {"a": "1", "b": [], "c": {"d": None}}))
    assert list(mismatches(shape, {"a": 1, "b": ["x"], "c": {"d": None}}))
    assert list(mismatches(shape, {"a": 1, "b": [], "c": {"d": None, "e": 1}}))
    assert list(mismatches(shape, {"a": 1, "b": []}))


def _answers(server: str) -> dict[tuple[str, str], Any]:
    """The live answer to every shape's request, after the scenario's journey."""
    found: dict[tuple[str, str], Any] = {}
    with httpx.Client(base_url=server, timeout=60) as client:
        ledger = Ledger(client=client)
        actors = partners(ledger)
        run_steps(ledger, actors)
        for method, path, _ in shapes():
            if method == "GET":
                url = path.replace("{lot}", RING).replace("{ring}", RING)
                response = client.get(url, headers=ADMIN)
                assert response.status_code == 200, (url, response.text)
                found[(method, path)] = response.json()
        found |= _posted(ledger)
    return found


def _posted(ledger: Ledger) -> dict[tuple[str, str], Any]:
    client = ledger.client
    registered = client.post(
        "/v1/admin/partners",
        json={
            "id": "shape-geo",
            "name": "Shape Geoscience",
            "roles": ["explorer", "smelter"],
            "public_keys": [SigningKey.generate().public.b64],
        },
        headers=ADMIN,
    )
    assert registered.status_code == 201, registered.text
    geo: Actor = ledger.partner("shape-refinery", "explorer", "miner", "smelter")
    event = deposit(ledger, geo, "SHAPE-1")
    ledger.post(
        geo, "SHAPE-1", "mining", "extracted", {"form": "ore", "mass_g": 1000, "fineness": 10}
    )
    melt = ledger.transform(
        geo,
        "smelting",
        "smelted",
        ["SHAPE-1"],
        [{"lot": "SHAPE-2", "form": "dore", "mass_g": 11, "fineness": 900}],
        {"declared_loss_fine_g": 0.1},
    )
    item = sign(
        ledger.event(geo, "SHAPE-2", "smelting", "assayed", {"fineness": 900}),
        geo.key,
    )
    batch = client.post("/v1/batch", json={"items": [item]}, headers=geo.auth)
    assert batch.status_code == 200, batch.text
    return {
        ("POST", "/v1/admin/partners"): registered.json(),
        ("POST", "/v1/lots/{lot}/events"): event.json(),
        ("POST", "/v1/transformations"): melt.json(),
        ("POST", "/v1/batch"): batch.json(),
    }


def test_each_shape_is_what_the_server_answers(server: str) -> None:
    answers = _answers(server)
    problems = []
    for method, path, shape in shapes():
        answer = answers[(method, path)]
        problems += [f"{method} {path}: {p}" for p in mismatches(shape, answer)]
        if isinstance(shape, dict):
            problems += [
                f"{method} {path}: {name} is empty, so its items went unchecked"
                for name, member in shape.items()
                if isinstance(member, list) and answer.get(name) == []
            ]
    assert not problems, "\n".join(problems)


def test_a_deposits_metrics_have_exactly_the_members_section_15_2_lists(ledger: Ledger) -> None:
    """§15.2: a lot with no stated gold has lot, fine_gold_g ("0"), as_of, stages_seen,
    grade (null) and note — and its summary writes fine_gold_g null."""
    geo = ledger.partner("kumasi-geo", "explorer")
    event = ledger.event(geo, "DEP-1", "exploration", "site_registered", {"form": "deposit"})
    posted = ledger.client.post(
        "/v1/lots/DEP-1/events", json=sign(event, geo.key), headers=geo.auth
    )
    assert posted.status_code == 201, posted.text
    metrics = ledger.client.get("/v1/lots/DEP-1/metrics").json()
    assert metrics == {
        "lot": "DEP-1",
        "fine_gold_g": "0",
        "as_of": "now",
        "stages_seen": ["exploration"],
        "grade": None,
        "note": "the lot holds no stated gold",
    }
