"""What an operator sees of a real multi-worker server: Prometheus metrics summed over the
workers, one JSON log line per request, append and checkpoint, and no secret in any line."""

from __future__ import annotations

import json
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SERVER_WORKERS, ServerProcess
from tests.support import ADMIN, ADMIN_TOKEN, Ledger, deposit

EVENTS = 12


def _scrape(url: str) -> dict[str, list[Any]]:
    response = httpx.get(f"{url}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def _value(samples: list[Any], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_logs_and_no_secrets(server_process: ServerProcess) -> None:
    url = server_process.start()
    with httpx.Client(base_url=url, timeout=30) as client:
        ledger = Ledger(client=client)
        geo = ledger.partner("kumasi-geo", "explorer")
        for n in range(EVENTS):
            deposit(ledger, geo, f"LOT-{n}")
        traced = client.get("/v1/lots/LOT-0/passport", headers={"X-Request-ID": "trace-42"})
        assert traced.headers["x-request-id"] == "trace-42"
        made = client.get("/v1/lots/LOT-0")
        assert len(made.headers["x-request-id"]) == 32  # one was made
        size = int(client.get("/v1/log/checkpoint").text.splitlines()[1])
    # Several scrapes reach several workers; each sums every worker's samples.
    for _ in range(SERVER_WORKERS * 2):
        families = _scrape(url)
        appended = families["goldtrail_entries_appended"]
        assert _value(appended, "goldtrail_entries_appended_total", kind="event") == EVENTS
        assert _value(appended, "goldtrail_entries_appended_total", kind="summary") >= EVENTS
        requests = families["goldtrail_http_requests"]
        posted = _value(
            requests,
            "goldtrail_http_requests_total",
            method="POST",
            route="/v1/lots/{lot_id}/events",
            status="201",
        )
        assert posted == EVENTS
        latency = families["goldtrail_http_request_duration_seconds"]
        assert (
            _value(
                latency,
                "goldtrail_http_request_duration_seconds_count",
                route="/v1/lots/{lot_id}/events",
            )
            == EVENTS
        )
        assert (
            _value(families["goldtrail_append_batch_entries"], "goldtrail_append_batch_entries_sum")
            >= EVENTS
        )
        assert (
            _value(
                families["goldtrail_checkpoint_inclusion_seconds"],
                "goldtrail_checkpoint_inclusion_seconds_count",
            )
            >= 1
        )
        assert families["goldtrail_log_entries"][0].value >= size
        assert 0 <= families["goldtrail_checkpoint_age_seconds"][0].value < 120
        assert "goldtrail_db_pool_connections_in_use" in families
    server_process.stop()
    lines = [
        json.loads(line)
        for line in server_process.log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    requests_logged = [line for line in lines if line.get("event") == "request"]
    assert any(
        line["request_id"] == "trace-42" and line["route"] == "/v1/lots/{lot_id}/passport"
        for line in requests_logged
    )
    posts = [line for line in requests_logged if line["route"] == "/v1/lots/{lot_id}/events"]
    assert len(posts) == EVENTS
    assert all(line["partner"] == "kumasi-geo" and line["status"] == 201 for line in posts)
    assert all({"time", "level", "duration_ms", "method"} <= set(line) for line in posts)
    assert sum(line["entries"] for line in lines if line.get("event") == "append") >= EVENTS
    assert any(line.get("event") == "checkpoint" for line in lines)
    text = server_process.log_path.read_text()
    private = geo.key.to_pem().decode().splitlines()[1]  # the key's base64 body
    for secret in (ADMIN_TOKEN, geo.api_key, private):
        assert secret not in text
    assert "PRIVATE KEY" not in text
    assert ADMIN["Authorization"] not in text
