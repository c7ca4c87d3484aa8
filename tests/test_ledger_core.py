"""The pure core: canonical JSON, strict parsing, keys, event validation."""

from __future__ import annotations

import ast
import json
from decimal import Decimal
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ledger.canonical import JsonLimits, canonical_bytes, decimal_of, parse_strict
from app.ledger.errors import CanonicalizationError, FieldError, MalformedInput
from app.ledger.events import Event
from app.ledger.keys import PublicKey, b64decode_strict
from app.ledger.records import LEAF_TYPE, RECEIPT_TYPE, leaf_bytes, receipt_bytes
from tests.support import sign

LEDGER = Path(__file__).resolve().parent.parent / "app" / "ledger"


def test_ledger_core_imports_neither_fastapi_nor_sqlalchemy() -> None:
    forbidden = {"fastapi", "sqlalchemy", "starlette", "pydantic", "app.models", "app.api"}
    for path in LEDGER.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not any(name == f or name.startswith(f + ".") for f in forbidden), (
                    f"{path.name} imports {name}"
                )


def test_rfc8785_example_from_section_3_2_2() -> None:
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_bytes(json.loads(source)).decode("utf-8") == expected


def test_rfc8785_sorts_by_utf16_code_units() -> None:
    value = {"\u20ac": 1, "\r": 2, "\U0001f600": 3, "1": 4, "\u00f6": 5}
    assert canonical_bytes(value).decode() == '{"\\r":2,"1":4,"ö":5,"€":1,"😀":3}'


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"a": 1, "a": 2}', "duplicate object key 'a'"),
        (b'{"a": NaN}', "NaN is not allowed"),
        (b'{"a": Infinity}', "Infinity is not allowed"),
        (b'{"a": 9007199254740992}', "safe range"),
        (b'{"a": "\\ud800"}', "lone surrogate"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"a": [1, 2', "invalid JSON"),
        (b"[" * 20 + b"]" * 20, "nested deeper"),
    ],
)
def test_parse_strict_refuses_ambiguous_json(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        parse_strict(raw)
    assert reason in caught.value.reason


def test_limits_name_the_field() -> None:
    limits = JsonLimits(max_depth=3, max_string=5, max_list=2, max_keys=2)
    with pytest.raises(MalformedInput) as caught:
        parse_strict(b'{"data": {"names": ["ok", "too long"]}}', limits=limits)
    assert caught.value.field == "body.data.names[1]"
    with pytest.raises(MalformedInput) as caught:
        parse_strict(b'{"data": [1, 2, 3]}', limits=limits)
    assert caught.value.field == "body.data"


def test_unsafe_integers_cannot_be_canonicalised() -> None:
    with pytest.raises(CanonicalizationError):
        canonical_bytes({"mass": 2**60})


@pytest.mark.parametrize(
    ("number", "exact"),
    [(499.8, "499.8"), (855.0, "855"), (0.0047, "0.0047"), (1380, "1380"), (999.9, "999.9")],
)
def test_decimal_of_is_the_jcs_text(number: float, exact: str) -> None:
    assert decimal_of(number) == Decimal(exact)
    assert decimal_of(1380) * decimal_of(855.0) / 1000 == Decimal("1179.9")


@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_decimal_of_round_trips_every_double(number: float) -> None:
    assert float(decimal_of(number)) == number


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_canonical_form_is_a_fixed_point(value: object) -> None:
    once = canonical_bytes(value)
    assert canonical_bytes(json.loads(once)) == once


def test_strict_base64() -> None:
    assert b64decode_strict("AAAA", field="x") == b"\x00\x00\x00"
    for bad in ("AAA", "AA=A", "_-__", "AAAA\n"):
        with pytest.raises(FieldError):
            b64decode_strict(bad, field="x")
    with pytest.raises(FieldError) as caught:
        PublicKey.from_b64("AAAA")
    assert "32 bytes" in caught.value.reason


def _event(**changes: object) -> dict[str, object]:
    event: dict[str, object] = {
        "type": "goldtrail.event.v1",
        "lot": "LOT-1",
        "partner": "kumasi-geo",
        "key": "0" * 32,
        "stage": "exploration",
        "action": "site_registered",
        "occurred_at": "2024-03-04T09:00:00Z",
        "data": {"form": "deposit"},
        "prev": None,
    }
    event.update(changes)
    return event


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"type": "other"}, "event.type", "must be"),
        ({"lot": "bad lot id"}, "event.lot", "must match"),
        ({"partner": "Kumasi"}, "event.partner", "must match"),
        ({"key": "xyz"}, "event.key", "must match"),
        ({"stage": "melting"}, "event.stage", "must be one of"),
        ({"action": "sold"}, "event.action", "not a exploration action"),
        ({"occurred_at": "2024-03-04 09:00"}, "event.occurred_at", "RFC 3339"),
        ({"occurred_at": "2024-02-30T09:00:00Z"}, "event.occurred_at", "not a real date"),
        ({"data": []}, "event.data", "JSON object"),
        ({"prev": "ABC"}, "event.prev", "64-character"),
        ({"extra": 1}, "event.extra", "unknown member"),
    ],
)
def test_event_validation_names_the_field(
    changes: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(FieldError) as caught:
        Event.from_json(_event(**changes))
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_event_missing_member() -> None:
    event = _event()
    del event["prev"]
    with pytest.raises(FieldError) as caught:
        Event.from_json(event)
    assert caught.value.field == "event.prev"


def test_event_hash_ignores_member_order_but_not_content() -> None:
    one = Event.from_json(_event())
    two = Event.from_json(dict(reversed(list(_event().items()))))
    three = Event.from_json(_event(data={"form": "deposit", "note": "x"}))
    assert one.hash == two.hash
    assert one.hash != three.hash


def test_sign_helper_signs_canonical_bytes() -> None:
    from app.ledger.keys import SigningKey

    key = SigningKey.generate()
    envelope = sign(_event(key=key.public.key_id), key)
    event = Event.from_json(envelope["event"])
    signature = b64decode_strict(envelope["signature"], field="signature")
    key.public.verify(event.canonical, signature, what="helper")


@settings(max_examples=2000)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_decimal_of_is_the_number_rfc8785_writes(number: float) -> None:
    assert decimal_of(number) == Decimal(canonical_bytes(number).decode("ascii"))
    assert str(decimal_of(number)) == str(Decimal(canonical_bytes(number).decode("ascii")))


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=1500)
@given(_JSON)
def test_canonical_bytes_are_rfc8785_whichever_encoder_writes_them(value: object) -> None:
    import rfc8785

    try:
        expected = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        with pytest.raises(CanonicalizationError):
            canonical_bytes(value)
        return
    assert canonical_bytes(value) == expected


def test_the_fast_canonical_path_is_taken_for_ledger_json_and_not_for_the_rest() -> None:
    from app.ledger.canonical import _json_agrees

    assert _json_agrees({"mass_g": 499.8, "fineness": 999.9, "lot": "GH-1", "data": [1, "x"]})
    for odd in ({"fineness": 750.0}, {"x": 1e-7}, {"\U0001f600": 1, "\uffff": 2}):
        assert not _json_agrees(odd)
        assert canonical_bytes(odd) == __import__("rfc8785").dumps(odd)
    assert not _json_agrees({"x": 2**60})
    with pytest.raises(CanonicalizationError):
        canonical_bytes({"x": 2**60})


_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["event", "2026-11-29T01:20:00.123456Z", "a" * 64, "AAAA+/==", 'quote"', "back\\slash"]
)


@settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(-5, 2**60),
    kind=_TEXT,
    entry_hash=_TEXT,
    signature=_TEXT,
    signer=_TEXT,
    at=_TEXT,
)
def test_receipt_and_leaf_bytes_are_their_rfc8785_bytes(
    seq: int, kind: str, entry_hash: str, signature: str, signer: str, at: str
) -> None:
    """The fast writers of receipts and leaves give exactly the rfc8785 package's bytes."""
    receipt = {
        "type": RECEIPT_TYPE,
        "seq": seq,
        "kind": kind,
        "hash": entry_hash,
        "recorded_at": at,
    }
    leaf = {**receipt, "type": LEAF_TYPE, "signature": signature, "signer": signer}
    for expected, made in (
        (receipt, lambda: receipt_bytes(seq=seq, kind=kind, entry_hash=entry_hash, recorded_at=at)),
        (
            leaf,
            lambda: leaf_bytes(
                seq=seq,
                kind=kind,
                entry_hash=entry_hash,
                signature=signature,
                signer=signer,
                recorded_at=at,
            ),
        ),
    ):
        try:
            reference = bytes(rfc8785.dumps(expected))
        except (rfc8785.CanonicalizationError, UnicodeEncodeError):
            continue  # unsafe integers and lone surrogates: the JCS encoder refuses them too
        assert made() == reference
