"""EPCIS in is total and exact: every input maps to a body the service takes with all it
says, or is refused with an EpcisError naming the event and member — never a crash."""

from __future__ import annotations

from typing import Any

import pytest
from goldtrail_client.epcis import EpcisError, gs1_lot_id, to_goldtrail
from hypothesis import given, settings
from hypothesis import strategies as st

CARD = "https://gold.example.org/p/"
PARTNERS = "https://gold.example.org/v1/partners/"


def _event(**members: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "receiving",
        "eventTime": "2026-11-29T10:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [CARD + "BAR-1"],
    }
    base.update(members)
    return {k: v for k, v in base.items() if v is not None}


def _refused(events: list[dict[str, Any]], **options: Any) -> EpcisError:
    with pytest.raises(EpcisError) as refused:
        to_goldtrail(events, partner="ticino-refinery", **options)
    return refused.value


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
MEMBERS = st.sampled_from(
    [
        "type",
        "action",
        "bizStep",
        "eventTime",
        "epcList",
        "quantityList",
        "destinationList",
        "sourceList",
        "disposition",
        "inputEPCList",
        "inputQuantityList",
        "outputQuantityList",
        "gt:lot",
        "gt:data",
        "gt:inputs",
        "gt:outputs",
        "gt:partner",
        "gt:stage",
        "gt:action",
        "gt:occurredAt",
        "errorDeclaration",
        "readPoint",
    ]
)


def _outcome(document: Any) -> list[Any] | EpcisError:
    """The drafts, or the typed refusal; any other exception fails the test."""
    try:
        return to_goldtrail(document, partner="ticino-refinery")
    except EpcisError as exc:
        return exc


@settings(max_examples=400, deadline=None)
@given(document=JSON)
def test_any_json_maps_or_is_refused_with_a_typed_error(document: Any) -> None:
    outcome = _outcome(document)
    if isinstance(outcome, EpcisError):
        assert outcome.field
        assert outcome.reason
    else:
        assert all(d.kind in ("event", "transformation") for d in outcome)


@settings(max_examples=600, deadline=None)
@given(
    changes=st.dictionaries(MEMBERS, JSON, max_size=4),
    kind=st.sampled_from(["ObjectEvent", "TransformationEvent"]),
)
def test_any_change_to_a_real_event_maps_or_is_refused(changes: dict[str, Any], kind: str) -> None:
    event = _event(type=kind)
    event.update(changes)
    outcome = _outcome([event])
    if isinstance(outcome, EpcisError):
        assert outcome.field.startswith("events[0]")
    else:
        assert len(outcome) == 1


def test_a_retraction_is_refused_not_mapped_as_a_fresh_statement() -> None:
    declared = _event(errorDeclaration={"declarationTime": "2026-11-30T00:00:00Z"})
    refused = _refused([declared])
    assert refused.field == "events[0].errorDeclaration"
    assert "append-only" in refused.reason


def test_the_recipient_is_the_possessing_party_whatever_the_order() -> None:
    destinations = [
        {"type": "possessing_party", "destination": PARTNERS + "hk-heritage"},
        {"type": "location", "destination": "urn:epc:id:sgln:0614141.00777.0"},
    ]
    for order in (destinations, list(reversed(destinations))):
        (draft,) = to_goldtrail(
            [_event(bizStep="consigning", destinationList=order)], partner="ticino-refinery"
        )
        assert draft.body["action"] == "transferred"
        assert draft.body["data"] == {"to": "hk-heritage"}
    refused = _refused([_event(bizStep="consigning", destinationList=destinations[1:])])
    assert refused.field == "events[0].destinationList"


def test_several_objects_in_one_event_are_refused_not_cut_to_one() -> None:
    refused = _refused([_event(epcList=[CARD + "BAR-1", CARD + "BAR-2"])])
    assert refused.field == "events[0].epcList"
    assert "2 objects" in refused.reason


def test_masses_convert_exactly_or_are_refused() -> None:
    intake = {"form": "bar", "fineness": 999.9}
    (draft,) = to_goldtrail(
        [
            _event(
                bizStep="accepting",
                epcList=None,
                quantityList=[{"epcClass": CARD + "BAR-1", "quantity": 2, "uom": "KGM"}],
                **{"gt:data": intake},
            )
        ],
        partner="ticino-refinery",
    )
    assert draft.body["data"] == {"form": "bar", "fineness": 999.9, "mass_g": 2000}
    pound = _event(
        bizStep="accepting",
        epcList=None,
        quantityList=[{"epcClass": CARD + "BAR-1", "quantity": 1, "uom": "LBR"}],
        **{"gt:data": intake},
    )
    refused = _refused([pound])
    assert refused.field == "events[0].quantityList[0].quantity"
    assert "453.59237 g" in refused.reason
    troy = dict(pound, quantityList=[{"epcClass": CARD + "BAR-1", "quantity": 10000, "uom": "APZ"}])
    (ounces,) = to_goldtrail([troy], partner="ticino-refinery")
    assert ounces.body["data"]["mass_g"] == 311034.768  # 10,000 troy ounces, exactly
    one_ounce = dict(troy, quantityList=[{"epcClass": CARD + "BAR-1", "quantity": 1, "uom": "APZ"}])
    assert "31.1034768 g" in _refused([one_ounce]).reason
    count = dict(pound, quantityList=[{"epcClass": CARD + "BAR-1", "quantity": 3}])
    assert _refused([count]).field == "events[0].quantityList[0].uom"
    huge = dict(pound, quantityList=[{"epcClass": CARD + "BAR-1", "quantity": 1e300, "uom": "KGM"}])
    assert _refused([huge]).field == "events[0].quantityList[0].quantity"


def test_what_gs1s_examples_tripped_on_is_refused_by_name() -> None:
    commissioning = {
        "type": "TransformationEvent",
        "bizStep": "commissioning",
        "eventTime": "2026-11-29T10:00:00Z",
        "outputEPCList": [CARD + "BAR-9"],
    }
    assert "not a transformation" in _refused([commissioning]).reason
    received_with_mass = _event(
        epcList=None, quantityList=[{"epcClass": CARD + "BAR-1", "quantity": 5, "uom": "GRM"}]
    )
    assert "states no mass" in _refused([received_with_mass]).reason
    pattern = _event(epcList=["urn:epc:idpat:sgtin:4012345.098765.*"])
    assert "pattern" in _refused([pattern]).reason
    input_mass = {
        "type": "TransformationEvent",
        "bizStep": "https://ref.gs1.org/cbv/BizStep-gt:refining",
        "gt:action": "refined",
        "eventTime": "2026-11-29T10:00:00Z",
        "inputQuantityList": [{"epcClass": CARD + "DORE-1", "quantity": 640, "uom": "GRM"}],
        "gt:outputs": [{"lot": "BAR-2", "form": "bar", "mass_g": 547, "fineness": 999.9}],
    }
    refused = _refused([input_mass])
    assert refused.field == "events[0].inputQuantityList[0].quantity"
    outputs = dict(input_mass, inputQuantityList=None, inputEPCList=[CARD + "DORE-1"])
    del outputs["gt:outputs"]
    outputs["outputQuantityList"] = [{"epcClass": CARD + "BAR-2", "quantity": 547, "uom": "GRM"}]
    outputs = {k: v for k, v in outputs.items() if v is not None}
    assert "gt:outputs" in _refused([outputs]).reason


def test_members_goldtrail_cannot_record_are_refused_unless_ignored() -> None:
    located = _event(readPoint={"id": "urn:epc:id:sgln:0614141.07346.1234"})
    refused = _refused([located])
    assert refused.field == "events[0].readPoint"
    (draft,) = to_goldtrail([located], partner="ticino-refinery", ignore={"readPoint"})
    assert draft.body["action"] == "received"


def test_the_urn_and_the_digital_link_of_one_object_are_one_lot() -> None:
    urn = "urn:epc:id:sgtin:0614141.107346.2017"
    link = "https://id.gs1.org/01/10614141073464/21/2017"
    assert gs1_lot_id(urn) == gs1_lot_id(link) == "01.10614141073464.21.2017"
    batch = "urn:epc:class:lgtin:4012345.012345.998877"
    assert gs1_lot_id(batch) == gs1_lot_id("https://id.gs1.org/01/04012345123456/10/998877")
    assert gs1_lot_id("urn:epc:id:sscc:0614141.1234567890") == "00.106141412345678908"
    drafts = to_goldtrail(
        [_event(epcList=[urn]), _event(epcList=[link])], partner="ticino-refinery"
    )
    assert drafts[0].body["lot"] == drafts[1].body["lot"]


def test_a_mass_stating_step_needs_its_form_and_fineness() -> None:
    extraction = _event(
        bizStep="gt:extracting",
        epcList=None,
        quantityList=[{"epcClass": CARD + "ORE-1", "quantity": 120, "uom": "KGM"}],
    )
    refused = _refused([extraction])
    assert refused.field == "events[0].gt:data"
    assert "form, fineness" in refused.reason
