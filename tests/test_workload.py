"""The refinery workload (tests/workload.py) end to end: a melt of 510 lots, 200 rings, and
each ring's passport small, correct in its figures, and verifiable offline."""

from __future__ import annotations

import gzip
from decimal import Decimal

from app.ledger.documents.passport import PASSPORT_V2, verify_passport
from app.ledger.log.note import NoteVerifier
from tests.invariants import check_every_lot
from tests.support import Ledger
from tests.workload import COUNTRIES, build


def test_a_refinery_month_gives_small_correct_passports(ledger: Ledger) -> None:
    work = build(ledger)
    client = ledger.client
    assert work.melt_inputs == 510
    assert work.entries_posted == 60 * 6 * 8 + 150 + 3 + 2 + 200
    tree = client.get("/v1/log/checkpoint").text.splitlines()
    assert int(tree[1]) > work.entries_posted  # with the registry and the summaries
    assert len(work.rings) == 200
    ring = work.rings[-1]
    response = client.get(f"/v1/lots/{ring}/passport")
    assert response.status_code == 200
    doc = response.json()
    assert doc["format"] == PASSPORT_V2
    zipped = len(gzip.compress(response.content))
    assert zipped < 100_000, f"{zipped} bytes gzipped"
    # It grows with the ring's own history and fan-in: one input (the grain), not 510 lots.
    assert [entry["body"]["lot"] for entry in doc["inputs"]] == ["GR-A"]
    assert len(doc["chain"]) == 2
    log_key = NoteVerifier.parse(client.get("/v1/log/key").text)
    report, computed = verify_passport(doc, log_key=log_key)
    assert report.ok, [c.to_json() for c in report.failures][:3]
    metrics = doc["metrics"]
    assert computed == metrics
    assert metrics == client.get(f"/v1/lots/{ring}/metrics").json()
    assert metrics["fine_gold_g"] == "2.25"
    recycled = Decimal(metrics["recycled_share"])
    assert recycled == round(work.recycled_share, 4)
    assert Decimal(metrics["mined_share"]) == round(1 - work.recycled_share, 4)
    countries = metrics["countries_of_origin"]
    assert set(countries) == {*COUNTRIES, "CN"}  # the mines' countries and the scrap's
    assert Decimal(countries["CN"]) == recycled
    assert metrics["certified_shares"]["LBMA Good Delivery"] == "1"  # certified at the melt
    assert 0 < Decimal(metrics["certified_shares"]["Fairmined"]) < 1  # the artisanal mines
    assert metrics["conflict_free"] is True
    assert metrics["mercury_free"] is True
    # Every ring carries the same shares; the bar they came from, the same as the melt.
    bar = client.get(f"/v1/lots/{work.bars[1]}/metrics").json()
    assert bar["recycled_share"] == metrics["recycled_share"]
    assert bar["countries_of_origin"] == countries


def test_the_workload_keeps_every_invariant(ledger: Ledger) -> None:
    build(ledger, mines=6, dore_per_mine=3, intakes=12, rings=20)
    check_every_lot(ledger)
