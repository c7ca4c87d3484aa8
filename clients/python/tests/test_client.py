"""The client against a real server: posting, stale heads, batches, paging, typed errors,
and offline verification of what the server serves — tampered copies and key rotations too."""

from __future__ import annotations

import copy
import hashlib
import hmac
import time
from typing import Any

import httpx
import pytest
from conftest import ADMIN_TOKEN, Server
from goldtrail_client import (
    Forbidden,
    Goldtrail,
    Invalid,
    Key,
    NotFound,
    StaleHead,
    Unauthorized,
    event_body,
    sign_event,
    verify_credential,
    verify_export,
    verify_passport,
    verify_receipt,
    verify_webhook,
)
from goldtrail_client.epcis import EpcisError, to_goldtrail

DEPOSIT = {"form": "deposit", "location": {"country": "GH", "subdivision": "GH-AH"}}


def _explorer(server: Server) -> tuple[Goldtrail, Key]:
    key, api_key = server.register("kumasi-geo", "explorer")
    return Goldtrail(server.url, partner="kumasi-geo", api_key=api_key), key


def test_posting_a_chain_and_a_stale_head(server: Server) -> None:
    gold, key = _explorer(server)
    with gold:
        first = gold.post_event(
            key, lot="LOT-1", stage="exploration", action="site_registered", data=DEPOSIT
        )
        assert first["lot_seq"] == 0
        assert first["created"] is True
        old_head = gold.head("LOT-1")
        gold.post_event(
            key, lot="LOT-1", stage="exploration", action="impact_assessed", data={"note": "a"}
        )
        with pytest.raises(StaleHead) as stale:
            gold.post_event(
                key, lot="LOT-1", stage="exploration", action="impact_assessed", prev=old_head
            )
        assert stale.value.status == 409
        assert stale.value.field == "event.prev"
        assert stale.value.head == gold.head("LOT-1")
        resigned = gold.post_event(
            key,
            lot="LOT-1",
            stage="exploration",
            action="impact_assessed",
            data={"note": "c"},
            prev=old_head,
            resign_on_stale=True,
        )
        assert resigned["lot_seq"] == 2
        assert gold.head("LOT-1") == resigned["hash"]
        assert [e["body"]["data"].get("note") for e in gold.events("LOT-1", page_size=2)] == [
            None,
            "a",
            "c",
        ]


def test_refusals_are_typed_with_code_field_and_reason(server: Server) -> None:
    gold, key = _explorer(server)
    with gold:
        with pytest.raises(Invalid) as bad:
            gold.post_event(
                key,
                lot="LOT-2",
                stage="exploration",
                action="site_registered",
                data={"form": "deposit", "mass_g": -5},
            )
        assert bad.value.status == 422
        assert bad.value.field == "event.data.mass_g"
        assert bad.value.reason
        with pytest.raises(NotFound) as missing:
            gold.lot("NO-SUCH-LOT")
        assert missing.value.code == "lot.unknown"
        assert gold.head("NO-SUCH-LOT") is None
        with pytest.raises(Invalid) as unknown:  # a key the registry does not hold
            gold.post_event(
                Key.generate(),
                lot="LOT-2",
                stage="exploration",
                action="site_registered",
                data=DEPOSIT,
            )
        assert unknown.value.field == "event.key"
        with pytest.raises(Forbidden) as role:  # an explorer does not refine
            gold.post_event(
                key,
                lot="LOT-2",
                stage="mining",
                action="extracted",
                data={"form": "ore", "mass_g": 1000, "fineness": 5},
            )
        assert role.value.status == 403
    with (
        Goldtrail(server.url, partner="kumasi-geo", api_key="gt_wrong") as stranger,
        pytest.raises(Unauthorized),
    ):
        stranger.post_event(
            key, lot="LOT-3", stage="exploration", action="site_registered", data=DEPOSIT
        )
    assert httpx.get(f"{server.url}/v1/lots/LOT-2").status_code == 404


def test_a_batch_refuses_only_the_bad_item_and_a_malformed_one_writes_nothing(
    server: Server,
) -> None:
    gold, key = _explorer(server)
    with gold:
        first = event_body(
            partner="kumasi-geo",
            key=key,
            lot="B-1",
            stage="exploration",
            action="site_registered",
            prev=None,
            data=DEPOSIT,
        )
        bad = sign_event(
            event_body(
                partner="kumasi-geo",
                key=key,
                lot="B-2",
                stage="exploration",
                action="site_registered",
                prev=None,
                data=DEPOSIT,
            ),
            key,
        )
        bad["signature"] = sign_event(first, key)["signature"]
        third = event_body(
            partner="kumasi-geo",
            key=key,
            lot="B-3",
            stage="exploration",
            action="site_registered",
            prev=None,
            data=DEPOSIT,
        )
        result = gold.post_batch([sign_event(first, key), bad, sign_event(third, key)])
        assert (result.accepted, result.refused) == (2, 1)
        assert [r["index"] for r in result.refusals] == [1]
        assert result.refusals[0]["problem"]["code"] == "signature.invalid"
        size = httpx.get(f"{server.url}/v1/log/checkpoint").text.split("\n")[1]
        with pytest.raises(Invalid) as malformed:
            gold.post_batch([sign_event(first, key), {"event": {"lot": "B-4"}}])
        assert malformed.value.field is not None
        assert malformed.value.field.startswith("items[1]")
        assert httpx.get(f"{server.url}/v1/log/checkpoint").text.split("\n")[1] == size
        assert [lot["id"] for lot in gold.my_lots(held="now", page_size=1)] == ["B-1", "B-3"]
    with Goldtrail(server.url, api_key=ADMIN_TOKEN) as admin:
        assert [lot["id"] for lot in admin.lots(page_size=1)] == ["B-1", "B-3"]


def _failed(report: Any) -> set[str]:
    return {c.check for c in report.failures}


def test_offline_verification_of_what_the_server_serves(server: Server) -> None:
    gold, key = _explorer(server)
    with gold:
        gold.post_event(
            key, lot="LOT-V", stage="exploration", action="site_registered", data=DEPOSIT
        )
        posted = gold.post_event(
            key, lot="LOT-V", stage="exploration", action="impact_assessed", data={"note": "x"}
        )
        log_key = gold.log_key()
        export, passport = gold.export("LOT-V"), gold.passport("LOT-V")
        receipt, credential = gold.receipt(posted["seq"]), gold.credential("LOT-V")
    for report in (
        verify_export(export, log_key=log_key),
        verify_passport(passport, log_key=log_key),
        verify_receipt(receipt, log_key=log_key),
        verify_credential(credential),
    ):
        assert report.ok, report.failures
    assert len(verify_passport(passport, log_key=log_key).checks) >= 8

    tampered = copy.deepcopy(export)
    tampered["events"][1]["body"]["data"]["note"] = "y"
    assert {"link #1", "head"} <= _failed(verify_export(tampered, log_key=log_key))
    tampered = copy.deepcopy(passport)
    tampered["summary"]["stage"] = "refining"
    assert "passport signature" in _failed(verify_passport(tampered, log_key=log_key))
    tampered = copy.deepcopy(receipt)
    tampered["inclusion_proof"][0] = "A" * 43 + "="
    assert "entry" in _failed(verify_receipt(tampered, log_key=log_key))
    tampered = copy.deepcopy(credential)
    tampered["credentialSubject"]["passport"]["digestSHA256"] = "0" * 64
    assert "proof" in _failed(verify_credential(tampered))
    other = "goldtrail.example/log+bcc75f90+AT1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM"
    assert "service key" in _failed(verify_export(export, log_key=other))


def test_verification_follows_a_service_key_rotation(server: Server) -> None:
    gold, key = _explorer(server)
    with gold:
        gold.post_event(
            key, lot="LOT-R", stage="exploration", action="site_registered", data=DEPOSIT
        )
        old_log_key = gold.log_key()
        server.goldtrail("admin", "rotate-service-key", "--yes")
        posted = gold.post_event(
            key, lot="LOT-R", stage="exploration", action="impact_assessed", data={"note": "after"}
        )
        assert gold.log_key() != old_log_key
        export, passport, receipt = (
            gold.export("LOT-R"),
            gold.passport("LOT-R"),
            gold.receipt(posted["seq"]),
        )
    for log_key in (old_log_key, None):
        assert verify_export(export, log_key=log_key).ok
        assert verify_passport(passport, log_key=log_key).ok
    assert verify_receipt(receipt, log_key=old_log_key).ok
    assert "service key history" in {c.check for c in verify_export(export).checks}
    forged = copy.deepcopy(export)
    announcement = next(e for e in forged["registry"] if e["kind"] == "service_key")
    announcement["body"]["public_key"] = Key.generate().public.b64
    assert "service key history" in _failed(verify_export(forged, log_key=old_log_key))


def test_a_partners_own_epcis_events_become_its_signed_goldtrail_events(server: Server) -> None:
    gold, key = _explorer(server)
    epc = "urn:epc:id:sgtin:0614141.107346.GH-EPC-1"
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-30T08:00:00Z",
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "action": "ADD",
                    "bizStep": "commissioning",
                    "eventTime": "2026-11-29T09:00:00+02:00",
                    "eventTimeZoneOffset": "+02:00",
                    "epcList": [epc],
                    "gt:data": DEPOSIT,
                },
                {
                    "type": "ObjectEvent",
                    "action": "OBSERVE",
                    "bizStep": "https://ref.gs1.org/cbv/BizStep-inspecting",
                    "eventTime": "2026-11-29T10:00:00Z",
                    "eventTimeZoneOffset": "+00:00",
                    "epcList": [epc],
                },
            ]
        },
    }
    drafts = to_goldtrail(document, partner="kumasi-geo", lot_of=lambda uri: uri.rsplit(".", 1)[-1])
    assert [d.body["action"] for d in drafts] == ["site_registered", "impact_assessed"]
    assert drafts[0].body["occurred_at"] == "2026-11-29T07:00:00Z"
    with gold:
        for draft in drafts:
            gold.post_draft(key, draft)
        chain = list(gold.events("GH-EPC-1"))
    assert [e["body"]["action"] for e in chain] == ["site_registered", "impact_assessed"]
    assert {e["body"]["key"] for e in chain} == {key.key_id}
    assert chain[0]["body"]["data"] == DEPOSIT

    someone_else = [dict(document["epcisBody"]["eventList"][1], **{"gt:partner": "other-co"})]
    with pytest.raises(EpcisError) as refused:
        to_goldtrail(someone_else, partner="kumasi-geo")
    assert refused.value.field == "events[0].gt:partner"
    unmapped = [dict(document["epcisBody"]["eventList"][1], bizStep="repairing")]
    with pytest.raises(EpcisError) as unknown:
        to_goldtrail(unmapped, partner="kumasi-geo")
    assert unknown.value.field == "events[0].bizStep"


def test_the_feed_tells_a_partner_what_concerns_it(server: Server) -> None:
    gold, key = _explorer(server)
    _, miner_api_key = server.register("obuasi-ridge", "miner")
    with gold, Goldtrail(server.url, partner="obuasi-ridge", api_key=miner_api_key) as miner:
        hook = miner.set_webhook("http://127.0.0.1:9/unreachable")
        assert hook["secret"].startswith("whsec_")
        gold.post_event(
            key, lot="LOT-F", stage="exploration", action="site_registered", data=DEPOSIT
        )
        sent = gold.post_event(
            key, lot="LOT-F", stage="circulation", action="transferred", data={"to": "obuasi-ridge"}
        )
        items = list(miner.feed(page_size=1))
        assert [(i["topic"], i["lot"]) for i in items] == [("key", None), ("transfer", "LOT-F")]
        assert items[1]["seq"] == sent["seq"]
        assert items[1]["awaiting_receipt"] is True
        assert [i["lot"] for i in miner.feed(awaiting=True)] == ["LOT-F"]
        assert next(miner.stream(after=items[0]["id"]))["id"] == items[1]["id"]
        assert list(miner.feed(after=items[-1]["id"])) == []
        deadline = time.monotonic() + 20
        while not miner.webhook_deliveries() and time.monotonic() < deadline:
            time.sleep(0.2)
        first = miner.webhook_deliveries()[0]  # nothing listens there: a logged failure
        assert (first["status"], first["first_item"]) == (None, items[1]["id"])
        assert first["error"]
    body = b'{"partner":"obuasi-ridge","items":[]}'
    stamp = int(time.time())
    mac = hmac.new(hook["secret"].encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert verify_webhook(hook["secret"], f"t={stamp},v1={mac}", body)
    assert not verify_webhook(hook["secret"], f"t={stamp},v1={mac}", body + b" ")
    assert not verify_webhook(hook["secret"], f"t={stamp - 3600},v1={mac}", body)
    assert not verify_webhook("whsec_other", f"t={stamp},v1={mac}", body)
