"""The shared scenario (tests/data/ghana-ticino-hongkou.json), posted step by step through the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.support import Actor, Ledger, sign, sign_transformation

SCENARIO = json.loads(
    (Path(__file__).parent / "data" / "ghana-ticino-hongkou.json").read_text(encoding="utf-8")
)
STEPS: list[dict[str, Any]] = SCENARIO["steps"]
RING = "HK-RING-0901-0001"


def step_body(ledger: Ledger, actor: Actor, step: dict[str, Any]) -> dict[str, Any]:
    if "outputs" not in step:
        return ledger.event(
            actor,
            step["lot"],
            step["stage"],
            step["action"],
            step["data"],
            occurred_at=step["occurred_at"],
        )
    consumes = step.get("consumes_fine_g", {})
    inputs: list[str | tuple[str, float]] = [
        (lot, consumes[lot]) if lot in consumes else lot for lot in step.get("inputs", [])
    ]
    return ledger.transformation(
        actor,
        step["stage"],
        step["action"],
        inputs,
        step["outputs"],
        step["data"],
        occurred_at=step["occurred_at"],
    )


def post_step(ledger: Ledger, actors: dict[str, Actor], step: dict[str, Any]) -> httpx.Response:
    actor = actors[step["partner"]]
    body = step_body(ledger, actor, step)
    if "outputs" in step:
        return ledger.client.post(
            "/v1/transformations", json=sign_transformation(body, actor.key), headers=actor.auth
        )
    return ledger.client.post(
        f"/v1/lots/{step['lot']}/events", json=sign(body, actor.key), headers=actor.auth
    )


def run_steps(ledger: Ledger, actors: dict[str, Actor], *, until: str | None = None) -> None:
    """Post the steps in order, up to (not including) the first step with action ``until``."""
    for step in STEPS:
        if step["action"] == until:
            return
        response = post_step(ledger, actors, step)
        assert response.status_code == 201, (step, response.text)


def own_chains(ledger: Ledger, actors: dict[str, Actor]) -> None:
    """The deposit's and the scrap's own chains (the first steps of each)."""
    run_steps(ledger, actors, until="extracted")
    scrap = next(s for s in STEPS if s["action"] == "recycled_intake")
    assert post_step(ledger, actors, scrap).status_code == 201
    for step in STEPS:
        if step.get("lot") == "CN-SCRAP-0420":
            assert post_step(ledger, actors, step).status_code == 201


def run_from(ledger: Ledger, actors: dict[str, Actor], start: str, *, until: str) -> None:
    begun = False
    for step in STEPS:
        begun = begun or step["action"] == start
        if step["action"] == until and begun:
            return
        if begun:
            response = post_step(ledger, actors, step)
            assert response.status_code == 201, (step, response.text)


def partners(ledger: Ledger) -> dict[str, Actor]:
    return {
        p["id"]: ledger.partner(p["id"], *p["roles"], country=p["country"], name=p["name"])
        for p in SCENARIO["partners"]
    }
