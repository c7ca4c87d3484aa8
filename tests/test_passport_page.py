"""The passport page in real headless Chromium (Debian's chromium, driven by Playwright).

The page must render the card, verify the passport in the browser (WebCrypto
Ed25519, SHA-256, RFC 9162 proofs), and fail visibly when any byte of the
passport it carries was changed, or when the ledger behind it was. Screenshots
at phone and desktop width are kept in test-artifacts/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright
from sqlalchemy import Engine

from tests.scenario import RING, partners, run_steps
from tests.support import Ledger, decode_qr, tamper

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def journey(server: str) -> str:
    with httpx.Client(base_url=server, timeout=60) as client:
        ledger = Ledger(client=client)
        run_steps(ledger, partners(ledger))
    return server


def _open(browser: Browser, url: str, *, size: dict[str, int], locale: str = "en-US") -> Page:
    page = browser.new_page(
        viewport=size, locale=locale, extra_http_headers={"Accept-Language": locale}
    )
    page.goto(url)
    _settled(page, "browser-check")
    return page


def _settled(page: Page, box: str) -> None:
    """Wait for the page's script to say verified, failed or unsupported (no eval: the CSP)."""
    page.wait_for_selector(
        ", ".join(f"#{box}[data-state={s}]" for s in ("verified", "failed", "unsupported")),
        state="attached",
        timeout=30_000,
    )


def test_the_card_renders_and_verifies_in_the_browser(browser: Browser, journey: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = _open(browser, f"{journey}/p/{RING}", size=PHONE)
    assert page.locator("#browser-check").get_attribute("data-state") == "verified", page.locator(
        "#browser-check"
    ).inner_text()
    assert page.locator("#server-check").get_attribute("data-state") == "verified"
    text = page.locator("main").inner_text().replace("\xa0", " ")  # units keep to their numbers
    assert "B" in page.locator(".grade").inner_text()
    assert "3,004.7" in text  # grouped as people read it
    gauge = page.locator("#carbon-gauge")
    assert float(gauge.get_attribute("value") or "nan") == pytest.approx(
        3004.7 * 100 / 25700, rel=1e-3
    )
    assert gauge.get_attribute("high") == "100"  # above the mined benchmark: the red zone
    assert "86.4 %" in text  # recycled share
    assert "LBMA Good Delivery" in text
    assert "Ghana" in text
    assert "Made into jewellery" in text
    assert "Hongkou Heritage Jewellers" in text  # the partner's name, not its id
    assert "5.2 g of jewellery at 750 ‰" in text  # what the step made
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("img.qr").get_attribute("alt")
    assert (
        page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    )  # no sideways scroll
    page.screenshot(path=ARTIFACTS / "passport-phone-en.png", full_page=True)
    # The QR code as the browser draws it (the SVG) decodes to this page's public address.
    page.locator("img.qr").screenshot(path=ARTIFACTS / "qr-rendered.png")
    decoded = decode_qr(ARTIFACTS / "qr-rendered.png")
    assert decoded == f"http://127.0.0.1:8000/p/{RING}"
    page.close()
    desktop = _open(browser, f"{journey}/p/{RING}", size=DESKTOP, locale="zh-CN")
    assert desktop.locator("html").get_attribute("lang") == "zh-Hans"
    assert "绿色身份证" in desktop.locator("h1").inner_text()
    assert "加纳" in desktop.locator("main").inner_text()
    assert desktop.locator("#browser-check").get_attribute("data-state") == "verified"
    desktop.screenshot(path=ARTIFACTS / "passport-desktop-zh.png", full_page=True)
    desktop.locator("a.lang").click()
    desktop.wait_for_load_state()
    assert desktop.locator("html").get_attribute("lang") == "en"
    desktop.close()


def test_a_changed_byte_in_the_page_fails_in_the_browser(browser: Browser, journey: str) -> None:
    """The server's word is green, but the passport the page carries was altered on the way."""

    def alter(route: Route) -> None:
        response = route.fetch()
        body = response.text().replace('"emissions_kgco2e": 0.4', '"emissions_kgco2e": 0.3', 1)
        assert body != response.text()
        route.fulfill(response=response, body=body)

    page = browser.new_page(viewport=PHONE)
    page.route(f"{journey}/p/{RING}", alter)
    page.goto(f"{journey}/p/{RING}")
    _settled(page, "browser-check")
    check = page.locator("#browser-check")
    assert check.get_attribute("data-state") == "failed"
    assert "hash" in check.inner_text()
    assert "signature" in check.inner_text()
    page.screenshot(path=ARTIFACTS / "passport-phone-altered.png", full_page=True)
    page.close()


def test_a_broken_ledger_shows_a_red_warning_never_a_green_card(
    browser: Browser, journey: str, engine: Engine
) -> None:
    with httpx.Client(base_url=journey) as client:
        sold = client.get(f"/v1/lots/{RING}/events").json()["events"][-1]
    assert sold["body"]["action"] == "sold"
    tamper(
        engine,
        "UPDATE ledger_entries SET body = REPLACE(body, 'retail', 'online') WHERE seq = :seq",
        seq=sold["seq"],
    )
    page = _open(browser, f"{journey}/p/{RING}", size=PHONE)
    assert page.locator("[role=alert]").is_visible()
    assert page.locator("#server-check").get_attribute("data-state") == "failed"
    assert page.locator("#browser-check").get_attribute("data-state") == "failed"
    assert "hash" in page.locator("[role=alert]").inner_text()
    grade_colour = page.locator(".grade").evaluate("e => getComputedStyle(e).backgroundColor")
    assert grade_colour == "rgb(107, 107, 107)"  # grey, not the grade's green
    page.screenshot(path=ARTIFACTS / "passport-phone-broken.png", full_page=True)
    page.close()


def test_an_unknown_lot_is_a_404_page(browser: Browser, server: str) -> None:
    page = browser.new_page(
        viewport=PHONE, locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"}
    )
    response = page.goto(f"{server}/p/NO-SUCH-LOT")
    assert response is not None
    assert response.status == 404
    assert "未找到该批次" in page.locator("h1").inner_text()
    page.close()


def _deeper(page: Page) -> str:
    button = page.locator("#verify-deeper")
    assert button.is_visible()
    button.click()
    _settled(page, "deeper-check")
    state = page.locator("#deeper-check").get_attribute("data-state")
    assert state is not None
    return state


def test_verify_deeper_checks_each_inputs_own_passport(
    browser: Browser, journey: str, engine: Engine
) -> None:
    page = _open(browser, f"{journey}/p/{RING}", size=DESKTOP)
    assert "HK-GR-0820-A" in page.locator("#upstream-heading + p + ul").inner_text()
    assert _deeper(page) == "verified", page.locator("#deeper-check").inner_text()
    page.close()
    # One level up, the grain's own chain was changed: the ring's passport still verifies (its
    # input's summary was logged when the grain was used), the grain's does not.
    with httpx.Client(base_url=journey) as client:
        split = client.get("/v1/lots/HK-GR-0820-A/events").json()["events"][0]
    tamper(
        engine,
        "UPDATE ledger_entries SET body = REPLACE(body, '499.8', '499.9') WHERE seq = :seq",
        seq=split["seq"],
    )
    # Passports are kept per (lot, checkpoint): the grain's, built before the change, would
    # be served as it was. The log grows and a new checkpoint is signed, so it is rebuilt.
    with httpx.Client(base_url=journey) as client:
        Ledger(client=client).partner("late-geo", "explorer")
        assert client.get("/v1/log/checkpoint").status_code == 200
    page = _open(browser, f"{journey}/p/{RING}", size=DESKTOP)
    assert page.locator("#browser-check").get_attribute("data-state") == "verified"
    assert _deeper(page) == "failed"
    assert "HK-GR-0820-A" in page.locator("#deeper-check").inner_text()
    page.screenshot(path=ARTIFACTS / "passport-deeper-failed.png", full_page=True)
    page.close()


def test_the_pages_allow_nothing_from_elsewhere_and_cannot_be_framed(journey: str) -> None:
    with httpx.Client(base_url=journey) as client:
        page = client.get(f"/p/{RING}")
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy
        assert "script-src 'self'" in policy
        assert "'unsafe-inline'" not in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in page.text  # no inline script: all of it comes from /static
        module = client.get("/static/goldtrail-verify.mjs")
        assert module.headers["content-type"].startswith("text/javascript")
        api = client.get(f"/v1/lots/{RING}")
        assert "frame-ancestors 'none'" in api.headers["content-security-policy"]


@pytest.mark.parametrize(("path", "ready"), [("/docs", ".opblock"), ("/redoc", "[role=menuitem]")])
def test_the_api_docs_render_without_internet(
    browser: Browser, server: str, path: str, ready: str
) -> None:
    """Swagger UI and ReDoc load every file from this server: any request elsewhere is cut."""
    page = browser.new_page(viewport=DESKTOP)
    elsewhere: list[str] = []

    def only_here(route: Route) -> None:
        if route.request.url.startswith(server):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    blocked: list[str] = []
    # ReDoc's "powered by" logo points to its CDN; the policy blocks that image, nothing more.
    page.on(
        "console",
        lambda m: (
            blocked.append(m.text)
            if "Content Security" in m.text and "Loading the image" not in m.text
            else None
        ),
    )
    page.goto(f"{server}{path}")
    page.wait_for_selector(ready, timeout=30_000)
    text = page.locator("body").inner_text()
    assert "/v1/batch" in text
    assert "/v1/lots/{lot_id}/events" in text
    assert elsewhere == []
    assert blocked == [], blocked
    page.close()
