from tests.support import Ledger, deposit


def test_register_and_post(ledger: Ledger) -> None:
    explorer = ledger.partner("kumasi-geo", "explorer", country="GH")
    response = deposit(ledger, explorer, "GH-DEP-1")
    body = response.json()
    assert body["lot_seq"] == 0
    assert body["created"] is True
    lot = ledger.client.get("/v1/lots/GH-DEP-1").json()
    assert lot["head"] == body["hash"]
    assert lot["custodian"] == "kumasi-geo"
