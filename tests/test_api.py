"""The HTTP API end to end on a real database: lifecycle, custody, keys, idempotency, auth."""

from __future__ import annotations

from typing import Any

from app.ledger.keys import SigningKey
from tests.support import ADMIN, Ledger, deposit, problem, sign


def _walk_one_lot(ledger: Ledger) -> dict[str, Any]:
    geo = ledger.partner("kumasi-geo", "explorer", country="GH")
    mine = ledger.partner("obuasi-ridge", "miner", "smelter", country="GH")
    truck = ledger.partner("volta-secure", "transporter", country="GH")
    refinery = ledger.partner("ticino-refinery", "refiner", country="CH")
    shop = ledger.partner("hk-heritage", "jeweler", country="CN")
    lot = "GH-ASR-DEP-01"
    deposit(ledger, geo, lot)
    ledger.post(geo, lot, "exploration", "permit_granted", {"permit": "GH-EPA-ML-2024-0117"})
    ledger.post(geo, lot, "circulation", "transferred", {"to": mine.id})
    ledger.post(mine, lot, "circulation", "received")
    ledger.post(
        mine, lot, "mining", "extracted", {"form": "ore", "mass_g": 120000000, "fineness": 0.0047}
    )
    ledger.post(
        mine, lot, "smelting", "smelted", {"form": "dore", "mass_g": 640, "fineness": 855.0}
    )
    ledger.post(mine, lot, "circulation", "transferred", {"to": truck.id})
    ledger.post(truck, lot, "circulation", "received")
    ledger.post(truck, lot, "circulation", "shipped", {"from": "ACC", "to": "MXP"})
    ledger.post(truck, lot, "circulation", "transferred", {"to": refinery.id})
    ledger.post(refinery, lot, "circulation", "received")
    ledger.post(
        refinery, lot, "smelting", "refined", {"form": "bar", "mass_g": 547, "fineness": 999.9}
    )
    ledger.post(refinery, lot, "circulation", "transferred", {"to": shop.id})
    ledger.post(shop, lot, "circulation", "received")
    last = ledger.post(shop, lot, "sale", "sold", {"channel": "retail"})
    return {"lot": lot, "last": last.json(), "actors": (geo, mine, truck, refinery, shop)}


def test_a_lot_from_site_registered_to_sold(ledger: Ledger) -> None:
    walked = _walk_one_lot(ledger)
    lot = ledger.client.get(f"/v1/lots/{walked['lot']}").json()
    assert lot["stage"] == "sale"
    assert lot["custodian"] == "hk-heritage"
    assert lot["form"] == "bar"
    assert lot["fine_gold_g"] == "546.9453"
    assert lot["length"] == 15
    assert lot["head"] == walked["last"]["hash"]
    assert walked["last"]["lot_seq"] == 14
    report = ledger.client.post(f"/v1/lots/{walked['lot']}/verify").json()
    assert report["ok"] is True
    assert report["failures"] == []
    assert sum(1 for check in report["checks"] if check["check"].startswith("event #")) == 15


def test_events_are_paginated_in_chain_order(ledger: Ledger) -> None:
    walked = _walk_one_lot(ledger)
    seen: list[dict[str, Any]] = []
    after = -1
    while True:
        page = ledger.client.get(f"/v1/lots/{walked['lot']}/events?after={after}&limit=4").json()
        seen.extend(page["events"])
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert len(seen) == 15
    assert [entry["body"]["prev"] for entry in seen[1:]] == [entry["hash"] for entry in seen[:-1]]
    assert seen[0]["body"]["prev"] is None


def test_a_repeated_post_is_idempotent(ledger: Ledger) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    event = ledger.event(geo, "LOT-1", "exploration", "site_registered", {"form": "deposit"})
    envelope = sign(event, geo.key)
    first = ledger.client.post("/v1/lots/LOT-1/events", json=envelope, headers=geo.auth)
    before = ledger.snapshot()
    second = ledger.client.post("/v1/lots/LOT-1/events", json=envelope, headers=geo.auth)
    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json() == {**first.json(), "created": False}
    assert ledger.snapshot() == before
    # Still answered as it was after the chain moved on and the key was revoked.
    ledger.post(geo, "LOT-1", "exploration", "permit_granted")
    ledger.client.post(
        f"/v1/admin/partners/kumasi-geo/keys/{geo.key.public.key_id}/revoke", json={}, headers=ADMIN
    )
    later = ledger.snapshot()
    third = ledger.client.post("/v1/lots/LOT-1/events", json=envelope, headers=geo.auth)
    assert third.status_code == 200
    assert third.json() == second.json()
    assert ledger.snapshot() == later


def test_a_stale_prev_gets_409_with_the_current_head(ledger: Ledger) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    first = deposit(ledger, geo, "LOT-1").json()
    one = ledger.event(geo, "LOT-1", "exploration", "permit_granted", {"note": "n1"})
    two = ledger.event(geo, "LOT-1", "exploration", "impact_assessed", {"note": "n2"})
    assert one["prev"] == two["prev"] == first["hash"]
    assert (
        ledger.client.post(
            "/v1/lots/LOT-1/events", json=sign(one, geo.key), headers=geo.auth
        ).status_code
        == 201
    )
    before = ledger.snapshot()
    fork = ledger.client.post("/v1/lots/LOT-1/events", json=sign(two, geo.key), headers=geo.auth)
    body = problem(fork, 409)
    assert body["code"] == "chain.stale_prev"
    assert body["head"] == ledger.head("LOT-1")
    assert body["length"] == 2
    assert body["errors"][0]["field"] == "event.prev"
    assert ledger.snapshot() == before
    # The client re-signs over the head it was given, and succeeds.
    retry = {**two, "prev": body["head"]}
    assert (
        ledger.client.post(
            "/v1/lots/LOT-1/events", json=sign(retry, geo.key), headers=geo.auth
        ).status_code
        == 201
    )


def test_a_partner_cannot_post_as_another(ledger: Ledger) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    rival = ledger.partner("rival-geo", "explorer")
    event = ledger.event(geo, "LOT-1", "exploration", "site_registered", {"form": "deposit"})
    before = ledger.snapshot()
    # The rival holds a valid signature of geo's (say, replayed) but authenticates as itself.
    response = ledger.client.post(
        "/v1/lots/LOT-1/events", json=sign(event, geo.key), headers=rival.auth
    )
    assert problem(response, 403)["errors"][0]["field"] == "event.partner"
    # Nor can it sign geo's event with its own key.
    forged = {**event, "partner": "rival-geo", "key": geo.key.public.key_id}
    response = ledger.client.post(
        "/v1/lots/LOT-1/events", json=sign(forged, rival.key), headers=rival.auth
    )
    assert problem(response, 403)["code"] == "key.not_owner"
    assert ledger.snapshot() == before


def test_a_bad_signature_is_refused(ledger: Ledger) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    event = ledger.event(geo, "LOT-1", "exploration", "site_registered", {"form": "deposit"})
    envelope = sign(event, geo.key)
    envelope["event"] = {**event, "data": {"form": "deposit", "note": "changed after signing"}}
    before = ledger.snapshot()
    response = ledger.client.post("/v1/lots/LOT-1/events", json=envelope, headers=geo.auth)
    body = problem(response, 422)
    assert body["code"] == "signature.invalid"
    assert body["errors"][0]["field"] == "signature"
    assert ledger.snapshot() == before


def test_revoked_keys_sign_nothing_new_and_old_events_stay_valid(ledger: Ledger) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    deposit(ledger, geo, "LOT-1")
    response = ledger.client.post(
        f"/v1/admin/partners/kumasi-geo/keys/{geo.key.public.key_id}/revoke",
        json={"reason": "laptop stolen"},
        headers=ADMIN,
    )
    assert response.status_code == 200
    assert response.json()["revoked_seq"] is not None
    before = ledger.snapshot()
    refused = ledger.post(geo, "LOT-1", "exploration", "permit_granted", expect=None)
    assert problem(refused, 403)["code"] == "key.revoked"
    assert ledger.snapshot() == before
    assert ledger.client.post("/v1/lots/LOT-1/verify").json()["ok"] is True
    again = ledger.client.post(
        f"/v1/admin/partners/kumasi-geo/keys/{geo.key.public.key_id}/revoke", json={}, headers=ADMIN
    )
    assert problem(again, 409)["code"] == "key.revoked"


def test_a_partner_revokes_its_own_key_and_no_one_else_s(ledger: Ledger) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    rival = ledger.partner("rival-geo", "explorer")
    path = f"/v1/partners/me/keys/{geo.key.public.key_id}/revoke"
    response = ledger.client.post(path, json={"reason": "x"}, headers=rival.auth)
    assert problem(response, 404)["code"] == "key.unknown"
    me = ledger.client.get("/v1/partners/me", headers=geo.auth).json()
    assert me["keys"][0]["revoked_seq"] is None
    assert ledger.client.post(path, json={"reason": "rotated"}, headers=geo.auth).status_code == 200
    me = ledger.client.get("/v1/partners/me", headers=geo.auth).json()
    assert me["keys"][0]["revoked_seq"] is not None


def test_a_second_key_signs_after_the_first_is_revoked(ledger: Ledger) -> None:
    from app.ledger.keys import SigningKey

    geo = ledger.partner("kumasi-geo", "explorer")
    deposit(ledger, geo, "LOT-1")
    new_key = SigningKey.generate()
    added = ledger.client.post(
        "/v1/admin/partners/kumasi-geo/keys", json={"public_key": new_key.public.b64}, headers=ADMIN
    )
    assert added.status_code == 201
    ledger.client.post(
        f"/v1/admin/partners/kumasi-geo/keys/{geo.key.public.key_id}/revoke", json={}, headers=ADMIN
    )
    ledger.post(geo, "LOT-1", "exploration", "permit_granted", key=new_key)
    report = ledger.client.post("/v1/lots/LOT-1/verify").json()
    assert report["ok"] is True


def test_authentication_and_roles(ledger: Ledger) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    auditor = ledger.partner("sh-audit", "auditor")
    deposit(ledger, geo, "LOT-1")
    event = ledger.event(geo, "LOT-1", "exploration", "permit_granted")
    envelope = sign(event, geo.key)
    client = ledger.client
    assert (
        problem(client.post("/v1/lots/LOT-1/events", json=envelope), 401)["code"] == "auth.required"
    )
    bad = {"Authorization": "Bearer gt_not-a-key"}
    assert (
        problem(client.post("/v1/lots/LOT-1/events", json=envelope, headers=bad), 401)["code"]
        == "auth.invalid"
    )
    assert problem(
        client.post("/v1/lots/LOT-1/events", json=envelope, headers={"Authorization": "Basic x"}),
        401,
    )
    assert (
        problem(client.post("/v1/lots/LOT-1/events", json=envelope, headers=ADMIN), 403)["code"]
        == "auth.partner_only"
    )
    assert (
        problem(client.post("/v1/admin/partners", json={}, headers=geo.auth), 403)["code"]
        == "auth.admin_only"
    )
    assert problem(client.get("/v1/partners", headers=geo.auth), 403)["code"] == "auth.auditor_only"
    assert problem(client.get("/v1/lots", headers=geo.auth), 403)
    listed = client.get("/v1/partners", headers=auditor.auth).json()
    assert [p["id"] for p in listed["partners"]] == ["kumasi-geo", "sh-audit"]
    assert listed["next_after"] is None
    assert client.get("/v1/lots", headers=auditor.auth).json()["lots"][0]["id"] == "LOT-1"
    assert client.post("/v1/audit/verify", headers=auditor.auth).json()["ok"] is True
    assert problem(client.post("/v1/audit/verify", headers=geo.auth), 403)
    # Reading a lot needs no login: it is what a jeweler's customer checks.
    assert client.get("/v1/lots/LOT-1").status_code == 200
    assert client.get("/v1/lots/LOT-1/export").status_code == 200


def test_no_response_reveals_credentials(ledger: Ledger) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    texts = [
        ledger.client.get("/v1/partners/me", headers=geo.auth).text,
        ledger.client.get("/v1/partners/kumasi-geo").text,
    ]
    for text in texts:
        assert geo.api_key not in text
        assert "api_key" not in text
    rotated = ledger.client.post("/v1/admin/partners/kumasi-geo/api-key", headers=ADMIN).json()
    assert problem(ledger.client.get("/v1/partners/me", headers=geo.auth), 401)
    fresh = {"Authorization": f"Bearer {rotated['api_key']}"}
    assert (
        ledger.client.get("/v1/partners/me", headers=fresh).json()["partner"]["id"] == "kumasi-geo"
    )


def test_rules_over_http_name_the_rule(ledger: Ledger) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    mine = ledger.partner("obuasi-ridge", "miner")
    truck = ledger.partner("volta-secure", "transporter")
    deposit(ledger, geo, "LOT-1")
    before = ledger.snapshot()
    response = ledger.post(truck, "LOT-1", "exploration", "permit_granted", expect=None)
    assert problem(response, 403)["code"] == "role.not_permitted"
    response = ledger.post(mine, "LOT-1", "exploration", "permit_granted", expect=None)
    assert problem(response, 403)["code"] == "custody.not_custodian"
    response = ledger.post(mine, "LOT-1", "circulation", "received", expect=None)
    assert problem(response, 409)["rule"] == "custody.no_transfer"
    response = ledger.post(geo, "LOT-2", "circulation", "shipped", expect=None)
    assert problem(response, 404)["rule"] == "lot.unknown"
    assert ledger.snapshot() == before


def test_unknown_lot_and_bad_queries(ledger: Ledger) -> None:
    client = ledger.client
    assert problem(client.get("/v1/lots/NOPE"), 404)["code"] == "lot.unknown"
    assert problem(client.get("/v1/lots/NOPE/export"), 404)
    assert problem(client.get("/v1/lots/bad%20id"), 422)["errors"][0]["field"] == "path.lot_id"
    geo = ledger.partner("kumasi-geo", "explorer")
    deposit(ledger, geo, "LOT-1")
    for query, field in [
        ("limit=0", "query.limit"),
        ("limit=abc", "query.limit"),
        ("after=-5", "query.after"),
        ("limit=100000", "query.limit"),
        ("after=99999999999999999999", "query.after"),
    ]:
        body = problem(client.get(f"/v1/lots/LOT-1/events?{query}"), 422)
        assert body["errors"][0]["field"] == field
    assert problem(client.get("/v1/nothing-here"), 404)["code"] == "http.404"
    assert problem(client.delete("/v1/lots/LOT-1"), 405)


def test_partner_registration_validation(ledger: Ledger) -> None:
    from app.ledger.keys import SigningKey

    key = SigningKey.generate().public.b64
    client = ledger.client
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"id": "Bad Id", "name": "x", "roles": ["miner"]}, 422, "id"),
        ({"id": "ok", "name": "x", "roles": ["alchemist"]}, 422, "roles"),
        ({"id": "ok", "name": "x", "roles": []}, 422, "roles"),
        ({"id": "ok", "name": "", "roles": ["miner"]}, 422, "name"),
        ({"id": "ok", "name": "x", "roles": ["miner"], "country": "Ghana"}, 422, "country"),
        (
            {"id": "ok", "name": "x", "roles": ["miner"], "public_keys": ["AAAA"]},
            422,
            "public_keys[0]",
        ),
        (
            {"id": "ok", "name": "x", "roles": ["miner"], "public_keys": ["A" * 44]},
            422,
            "public_keys[0]",
        ),
        (
            {"id": "ok", "name": "x", "roles": ["miner"], "public_keys": [key, key]},
            422,
            "public_keys",
        ),
        ({"id": "ok", "name": "x", "roles": ["miner"], "extra": 1}, 422, "extra"),
    ]
    for body, status, field in cases:
        answer = problem(client.post("/v1/admin/partners", json=body, headers=ADMIN), status)
        assert answer["errors"][0]["field"] == field, (body, answer)
    assert ledger.snapshot()["ledger_entries"] == []
    ledger.partner("kumasi-geo", "explorer")
    again = {"id": "kumasi-geo", "name": "x", "roles": ["explorer"]}
    assert (
        problem(client.post("/v1/admin/partners", json=again, headers=ADMIN), 409)["code"]
        == "partner.exists"
    )
    taken = ledger.client.get("/v1/partners/kumasi-geo").json()["keys"][0]["public_key"]
    dup = {"id": "other", "name": "x", "roles": ["explorer"], "public_keys": [taken]}
    before = ledger.snapshot()
    assert (
        problem(client.post("/v1/admin/partners", json=dup, headers=ADMIN), 409)["code"]
        == "key.exists"
    )
    assert ledger.snapshot() == before


def test_health_readiness_and_openapi(ledger: Ledger) -> None:
    assert ledger.client.get("/healthz").json() == {"status": "ok"}
    ready = ledger.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["migrations"] == "ok"
    spec = ledger.client.get("/openapi.json").json()
    assert "/v1/lots/{lot_id}/events" in spec["paths"]
    post = spec["paths"]["/v1/lots/{lot_id}/events"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "event",
        "signature",
    ]
    key = ledger.client.get("/v1/service/key").json()
    assert len(key["key_id"]) == 32


def test_a_key_is_revoked_with_no_body_as_the_openapi_declares(ledger: Ledger) -> None:
    miner = ledger.partner("obuasi-ridge", "miner")
    second = SigningKey.generate()
    added = ledger.client.post(
        f"/v1/admin/partners/{miner.id}/keys", json={"public_key": second.public.b64}, headers=ADMIN
    )
    assert added.status_code == 201, added.text
    own = ledger.client.post(
        f"/v1/partners/me/keys/{miner.key.public.key_id}/revoke", headers=miner.auth
    )
    assert own.status_code == 200, own.text
    assert own.json()["revoked_seq"] is not None
    admin = ledger.client.post(
        f"/v1/admin/partners/{miner.id}/keys/{second.public.key_id}/revoke", headers=ADMIN
    )
    assert admin.status_code == 200, admin.text
    registry = ledger.client.get(f"/v1/partners/{miner.id}").json()["keys"]
    assert all(key["revoked_seq"] is not None for key in registry)


def test_partners_page_by_id(ledger: Ledger) -> None:
    for n in range(5):
        ledger.partner(f"trader-{n}", "trader")
    seen: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({} if after is None else {"after": after})
        page = ledger.client.get("/v1/partners", params=params, headers=ADMIN).json()
        assert len(page["partners"]) <= 2
        seen += [p["id"] for p in page["partners"]]
        after = page["next_after"]
        if after is None:
            break
    assert seen == [f"trader-{n}" for n in range(5)]


def test_a_partner_lists_the_lots_it_holds_and_held(ledger: Ledger) -> None:
    walked = _walk_one_lot(ledger)
    geo, mine, truck, _refinery, shop = walked["actors"]
    deposit(ledger, geo, "GH-OTHER")
    ledger.post(geo, "GH-OTHER", "circulation", "transferred", {"to": mine.id})

    def lots(actor: Any, held: str) -> list[str]:
        response = ledger.client.get(
            "/v1/partners/me/lots", params={"held": held}, headers=actor.auth
        )
        assert response.status_code == 200, response.text
        return [lot["id"] for lot in response.json()["lots"]]

    assert lots(shop, "now") == ["GH-ASR-DEP-01"]
    assert lots(truck, "now") == []
    assert lots(truck, "ever") == ["GH-ASR-DEP-01"]
    assert lots(mine, "now") == ["GH-OTHER"]  # sent to it, not yet received
    assert lots(geo, "now") == ["GH-OTHER"]  # still its custodian until received
    assert lots(geo, "ever") == ["GH-ASR-DEP-01", "GH-OTHER"]
    assert problem(ledger.client.get("/v1/partners/me/lots"), 401)
    assert problem(
        ledger.client.get("/v1/partners/me/lots", params={"held": "x"}, headers=geo.auth), 422
    )
