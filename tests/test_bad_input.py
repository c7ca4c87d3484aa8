"""Every class of bad input gets a 4xx problem naming the field, and the ledger is untouched."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import ADMIN, Actor, Ledger, deposit, problem, sign


@pytest.fixture
def geo(ledger: Ledger) -> Actor:
    actor = ledger.partner("kumasi-geo", "explorer")
    deposit(ledger, actor, "LOT-1")
    return actor


def _valid(ledger: Ledger, geo: Actor) -> dict[str, Any]:
    return sign(
        ledger.event(geo, "LOT-1", "exploration", "permit_granted", {"note": "n1"}), geo.key
    )


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _with_data(ledger: Ledger, geo: Actor, data: Any) -> bytes:
    envelope = _valid(ledger, geo)
    envelope["event"]["data"] = data
    return json.dumps(envelope).encode()


def _with_event(ledger: Ledger, geo: Actor, **changes: Any) -> bytes:
    envelope = _valid(ledger, geo)
    envelope["event"].update(changes)
    return json.dumps(envelope).encode()


CASES: list[tuple[str, Any, int, str, str]] = [
    # name, body (bytes, or a function of (ledger, geo) giving bytes), status, field, reason
    ("not json", b"gold!", 422, "body", "invalid JSON"),
    ("empty", b"", 422, "body", "invalid JSON"),
    ("not utf-8", b'{"event": "\xff"}', 422, "body", "not UTF-8"),
    ("array", b"[]", 422, "body", "JSON object"),
    ("duplicate keys", b'{"event": {}, "event": {}}', 422, "body", "duplicate object key"),
    ("NaN", lambda lg, g: _with_data(lg, g, {"x": float("nan")}), 422, "body", "NaN"),
    (
        "huge integer",
        lambda lg, g: _with_data(lg, g, {"x": 2**60}),
        422,
        "body.event.data.x",
        "safe range",
    ),
    (
        "integer of 5,000 digits",
        lambda lg, g: _with_data(lg, g, {}).replace(
            b'"data": {}', b'"data": {"x": 1' + b"0" * 5000 + b"}"
        ),
        422,
        "body.event.data.x",
        "safe range",
    ),
    (
        "NUL in a string",
        lambda lg, g: _with_data(lg, g, {"note": "gold\u0000bar"}),
        422,
        "body.event.data.note",
        "U+0000",
    ),
    (
        "NUL in a member name",
        lambda lg, g: _with_data(lg, g, {"no\u0000te": "x"}),
        422,
        "body.event.data.no\u0000te",
        "U+0000",
    ),
    (
        "too deep",
        lambda lg, g: _with_data(lg, g, _nested(12)),
        422,
        "body.event.data" + ".a" * 7,
        "nested deeper",
    ),
    (
        "long string",
        lambda lg, g: _with_data(lg, g, {"note": "x" * 5000}),
        422,
        "body.event.data.note",
        "longer than",
    ),
    (
        "long list",
        lambda lg, g: _with_data(lg, g, {"docs": list(range(300))}),
        422,
        "body.event.data.docs",
        "longer than",
    ),
    (
        "too many keys",
        lambda lg, g: _with_data(lg, g, {f"k{i}": i for i in range(200)}),
        422,
        "body.event.data",
        "more than",
    ),
    (
        "missing signature",
        lambda lg, g: json.dumps({"event": _valid(lg, g)["event"]}).encode(),
        422,
        "signature",
        "base64",
    ),
    (
        "missing event",
        lambda lg, g: json.dumps({"signature": "AAAA"}).encode(),
        422,
        "event",
        "JSON object",
    ),
    (
        "extra member",
        lambda lg, g: json.dumps({**_valid(lg, g), "note": 1}).encode(),
        422,
        "note",
        "unknown member",
    ),
    (
        "signature not base64",
        lambda lg, g: json.dumps({**_valid(lg, g), "signature": "***"}).encode(),
        422,
        "signature",
        "base64",
    ),
    (
        "signature too short",
        lambda lg, g: json.dumps({**_valid(lg, g), "signature": "AAAA"}).encode(),
        422,
        "signature",
        "64 bytes",
    ),
    (
        "lot mismatch",
        lambda lg, g: json.dumps(
            sign(lg.event(g, "LOT-2", "exploration", "permit_granted"), g.key)
        ).encode(),
        422,
        "event.lot",
        "the URL",
    ),
    (
        "bad time",
        lambda lg, g: _with_event(lg, g, occurred_at="yesterday"),
        422,
        "event.occurred_at",
        "RFC 3339",
    ),
    (
        "unknown action",
        lambda lg, g: json.dumps(
            {**_valid(lg, g), "event": {**_valid(lg, g)["event"], "action": "stolen"}}
        ).encode(),
        422,
        "event.action",
        "not a exploration action",
    ),
    (
        "unknown key",
        lambda lg, g: json.dumps(
            {**_valid(lg, g), "event": {**_valid(lg, g)["event"], "key": "f" * 32}}
        ).encode(),
        422,
        "event.key",
        "no registered key",
    ),
    (
        "prev not a hash",
        lambda lg, g: json.dumps(
            {**_valid(lg, g), "event": {**_valid(lg, g)["event"], "prev": "head"}}
        ).encode(),
        422,
        "event.prev",
        "SHA-256",
    ),
    (
        "fineness over 1000",
        lambda lg, g: json.dumps(
            sign(
                lg.event(
                    g,
                    "LOT-9",
                    "exploration",
                    "site_registered",
                    {"form": "deposit", "fineness": 1200},
                ),
                g.key,
            )
        ).encode(),
        422,
        "event.data.fineness",
        "at most 1000",
    ),
]


@pytest.mark.parametrize(
    ("name", "body", "status", "field", "reason"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_event_posts(
    ledger: Ledger, geo: Actor, name: str, body: Any, status: int, field: str, reason: str
) -> None:
    raw = body(ledger, geo) if callable(body) else body
    lot = "LOT-9" if name == "fineness over 1000" else "LOT-1"
    before = ledger.snapshot()
    response = ledger.client.post(
        f"/v1/lots/{lot}/events",
        content=raw,
        headers={**geo.auth, "Content-Type": "application/json"},
    )
    answer = problem(response, status)
    assert answer["errors"][0]["field"] == field
    assert reason in answer["errors"][0]["reason"]
    assert ledger.snapshot() == before


def test_oversized_body_is_refused_before_parsing(ledger: Ledger, geo: Actor) -> None:
    before = ledger.snapshot()
    response = ledger.client.post(
        "/v1/lots/LOT-1/events",
        content=b'{"pad": "' + b"x" * 70000 + b'"}',
        headers={**geo.auth, "Content-Type": "application/json"},
    )
    answer = problem(response, 413)
    assert answer["errors"][0]["field"] == "body"
    assert ledger.snapshot() == before


def test_a_future_event_is_refused(ledger: Ledger, geo: Actor) -> None:
    before = ledger.snapshot()
    response = ledger.post(
        geo,
        "LOT-1",
        "exploration",
        "permit_granted",
        occurred_at="2999-01-01T00:00:00Z",
        expect=None,
    )
    assert problem(response, 422)["rule"] == "time.future"
    assert ledger.snapshot() == before


def test_an_out_of_order_event_is_refused(ledger: Ledger, geo: Actor) -> None:
    before = ledger.snapshot()
    response = ledger.post(
        geo,
        "LOT-1",
        "exploration",
        "permit_granted",
        occurred_at="2001-01-01T00:00:00Z",
        expect=None,
    )
    answer = problem(response, 422)
    assert answer["rule"] == "time.order"
    assert answer["errors"][0]["field"] == "event.occurred_at"
    assert ledger.snapshot() == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mutation=st.sampled_from(["replace", "event", "data", "signature", "raw"]),
    value=json_values,
    raw=st.binary(max_size=200),
)
def test_random_garbage_never_500_and_never_writes(
    ledger: Ledger, geo: Actor, mutation: str, value: Any, raw: bytes
) -> None:
    envelope = _valid(ledger, geo)
    if mutation == "replace":
        envelope = value
    elif mutation == "event":
        envelope["event"] = value
    elif mutation == "data":
        envelope["event"]["data"] = value
    elif mutation == "signature":
        envelope["signature"] = value
    body = raw if mutation == "raw" else json.dumps(envelope).encode()
    before = ledger.snapshot()
    response = ledger.client.post(
        "/v1/lots/LOT-1/events",
        content=body,
        headers={**geo.auth, "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"], response.text
    assert ledger.snapshot() == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/admin/partners", {"id": "nul-name", "name": "Gold\u0000Co", "roles": ["trader"]}),
        ("/v1/admin/partners", {"id": "big", "name": "Big", "roles": ["trader"], "x": 10**5000}),
    ],
    ids=["NUL in a name", "integer of 5,000 digits"],
)
def test_registration_refuses_nul_and_huge_integers(
    ledger: Ledger, path: str, body: dict[str, Any]
) -> None:
    before = ledger.snapshot()
    raw = (
        json.dumps(body).encode()
        if "x" not in body
        else (b'{"id": "big", "name": "Big", "roles": ["trader"], "x": 1' + b"0" * 5000 + b"}")
    )
    response = ledger.client.post(
        path, content=raw, headers={**ADMIN, "Content-Type": "application/json"}
    )
    answer = problem(response, 422)
    assert answer["errors"][0]["reason"], answer
    assert ledger.snapshot() == before


def test_a_nul_in_a_query_is_refused(ledger: Ledger) -> None:
    response = ledger.client.get("/v1/lots", params={"after": "LOT\x00"}, headers=ADMIN)
    answer = problem(response, 422)
    assert answer["errors"][0]["field"] == "query.after"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_a_body_not_declared_json_is_refused_with_415(
    ledger: Ledger, geo: Actor, content_type: str | None
) -> None:
    """A correctly signed envelope sent as text, a form or multipart is refused unread."""
    before = ledger.snapshot()
    raw = json.dumps(_valid(ledger, geo)).encode()
    headers = dict(geo.auth)
    if content_type is not None:
        headers["Content-Type"] = content_type
    for path in ("/v1/lots/LOT-1/events", "/v1/transformations", "/v1/batch"):
        answer = problem(ledger.client.post(path, content=raw, headers=headers), 415)
        assert answer["code"] == "request.media_type"
        assert answer["errors"][0]["field"] == "content-type"
    registration = json.dumps({"id": "x", "name": "X", "roles": ["trader"]}).encode()
    headers = {**ADMIN} | ({} if content_type is None else {"Content-Type": content_type})
    answer = problem(
        ledger.client.post("/v1/admin/partners", content=registration, headers=headers), 415
    )
    assert answer["code"] == "request.media_type"
    assert ledger.snapshot() == before


def test_a_json_media_type_with_parameters_or_suffix_is_accepted(
    ledger: Ledger, geo: Actor
) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.goldtrail+json"):
        raw = json.dumps(_valid(ledger, geo)).encode()
        response = ledger.client.post(
            "/v1/lots/LOT-1/events", content=raw, headers={**geo.auth, "Content-Type": content_type}
        )
        assert response.status_code == 201, response.text


@pytest.mark.parametrize("control", ["\u202e", "\u2066", "\u200f", "\u061c", "\x1b"])
def test_a_partner_name_with_bidi_or_control_characters_is_refused(
    ledger: Ledger, control: str
) -> None:
    before = ledger.snapshot()
    body = {"id": "spoof", "name": f"Heritage{control}gnp.evil", "roles": ["jeweler"]}
    answer = problem(ledger.client.post("/v1/admin/partners", json=body, headers=ADMIN), 422)
    assert answer["errors"][0]["field"] == "name"
    assert "bidirectional" in answer["errors"][0]["reason"]
    assert ledger.snapshot() == before


@pytest.mark.parametrize("when", ["1900-01-01T00:00:00Z", "1999-12-31T23:59:59Z"])
def test_an_event_dated_before_2000_is_refused(ledger: Ledger, when: str) -> None:
    geo = ledger.partner("kumasi-geo", "explorer")
    before = ledger.snapshot()
    event = ledger.event(
        geo, "LOT-OLD", "exploration", "site_registered", {"form": "deposit"}, prev=None
    )
    event["occurred_at"] = when
    response = ledger.client.post(
        "/v1/lots/LOT-OLD/events", json=sign(event, geo.key), headers=geo.auth
    )
    answer = problem(response, 422)
    assert answer["rule"] == "time.too_early"
    assert answer["errors"][0]["field"] == "event.occurred_at"
    assert ledger.snapshot() == before
