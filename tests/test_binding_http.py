"""Taps over real HTTP on a multi-worker server: a race on one counter accepts exactly one
tap, and a buyer sees "genuine" then "already used" in real Chromium (PROTOCOL.md §21)."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support import ADMIN as ADMIN_HEADERS
from tests.support import Ledger
from tests.test_binding import Tag, _bar_lot, _bind, _digest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def bound(server: str) -> tuple[str, Tag]:
    with httpx.Client(base_url=server, timeout=60) as client:
        ledger = Ledger(client=client)
        refiner = ledger.partner("ticino-refinery", "refiner")
        _bar_lot(ledger, refiner, "BAR-1")
        tag, digest = _digest(ledger, refiner, "04DE5F1EACC040")
        _bind(ledger, refiner, "BAR-1", tag, digest)
    tag.base = f"{server}/t/{tag.id}"  # the tag's URL names the public base; here, this server
    return server, tag


def test_taps_racing_with_one_counter_are_one_genuine_and_the_rest_replays(
    bound: tuple[str, Tag],
) -> None:
    """For each of six counters, eight taps of the same URL at once, on three workers:
    exactly one is accepted, the seven others are replays."""
    server, tag = bound

    def tap(url: str) -> tuple[int, str]:
        answer = httpx.get(url, timeout=30).json()
        return answer["counter"], answer["outcome"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        for counter in range(1, 7):
            url = tag.tap().replace("/t/", "/v1/tags/", 1).replace("?", "/tap?", 1)
            outcomes = list(pool.map(tap, [url] * 8))
            assert {c for c, _ in outcomes} == {counter}
            assert sorted(o for _, o in outcomes) == ["genuine"] + ["replay"] * 7, outcomes
    with httpx.Client(base_url=server) as client:
        history = client.get(f"/v1/tags/{tag.id}/taps", headers=ADMIN_HEADERS).json()
    accepted = [t["counter"] for t in history["taps"] if t["outcome"] == "genuine"]
    assert accepted == [1, 2, 3, 4, 5, 6]
    assert len(history["taps"]) == 48


def test_a_buyer_sees_genuine_then_already_used_in_chromium(bound: tuple[str, Tag]) -> None:
    _, tag = bound
    url = tag.tap()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"]
        )
        try:
            for language, genuine, used in (
                ("en-US", "Genuine tag", "This link was already used"),
                ("zh-CN", "芯片真实", "此链接已被使用过"),
            ):
                page = browser.new_page(
                    viewport={"width": 390, "height": 844},
                    locale=language,
                    extra_http_headers={"Accept-Language": language},
                )
                page.goto(url if language == "en-US" else tag.tap())
                assert page.locator("#verdict").inner_text().endswith(genuine)
                assert page.locator("#verdict").get_attribute("data-outcome") == "genuine"
                page.screenshot(path=ARTIFACTS / f"tap-genuine-{language}.png", full_page=True)
                page.reload()  # the same URL again: what a copied link is
                verdict = page.locator("#verdict")
                assert verdict.inner_text().endswith(used)
                assert verdict.get_attribute("data-outcome") == "replay"
                body = page.locator("body").inner_text()
                assert genuine not in body
                page.screenshot(path=ARTIFACTS / f"tap-replayed-{language}.png", full_page=True)
                page.close()
        finally:
            browser.close()
