"""The passport bundle, its verifiable credential, QR code and certificate.

The credential is checked here by an independent verifier written from the
"Data Integrity EdDSA Cryptosuites v1.0" text (§3.3, eddsa-jcs-2022) with
hashlib, cryptography, rfc8785 and base58 — not with app.ledger.documents.credentials.
"""

from __future__ import annotations

import copy
import hashlib
import html
import json
import random
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import base58
import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app.cli import app as cli
from app.config import Settings
from app.ledger.canonical import parse_strict
from app.ledger.documents.passport import verify_passport
from app.ledger.errors import LedgerError
from app.ledger.keys import SigningKey
from app.ledger.log.note import NoteVerifier
from app.main import create_app
from app.services.context import LedgerContext
from app.services.rotation import rotate
from tests.scenario import RING, run_steps
from tests.support import Actor, Ledger, decode_qr, problem

runner = CliRunner()


@pytest.fixture
def journey(ledger: Ledger, actors: dict[str, Actor]) -> NoteVerifier:
    run_steps(ledger, actors)
    return NoteVerifier.parse(ledger.client.get("/v1/log/key").text.strip())


def _passport(ledger: Ledger) -> dict[str, Any]:
    response = ledger.client.get(f"/v1/lots/{RING}/passport")
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def _failed(doc: dict[str, Any], log_key: NoteVerifier) -> set[str]:
    report, _ = verify_passport(doc, log_key=log_key)
    assert not report.ok
    return {check.check for check in report.failures}


def test_the_passport_verifies_offline_with_the_ledger_library_alone(
    ledger: Ledger, journey: NoteVerifier
) -> None:
    doc = _passport(ledger)
    report, metrics = verify_passport(doc, log_key=journey)
    assert report.ok, [(c.check, c.detail) for c in report.failures]
    assert metrics == doc["metrics"]
    checks = {c.check for c in report.checks}
    assert {
        "passport signature",
        "checkpoint",
        "in log",
        "link #0",
        "input summary",
        "inputs",
        "lot summary",
        "metrics",
        "summary",
        "partners",
    } <= checks
    assert doc["summary"] | {"head": None} == {
        "lot": RING,
        "form": "jewellery",
        "mass_g": "5.2",
        "fineness": "750",
        "fine_gold_g": "3.9",
        "custodian": "hk-heritage",
        "stage": "sale",
        "closed": True,
        "head": None,
        "length": 2,
    }
    assert doc["format"] == "goldtrail.passport.v2"
    assert [e["body"]["action"] for e in doc["chain"]] == ["fabricated", "sold"]
    assert [e["body"]["lot"] for e in doc["inputs"]] == ["HK-GR-0820-A"]
    assert doc["inputs"][0]["body"]["head"] == doc["chain"][0]["body"]["inputs"][0]["prev"]
    assert doc["lot_summary"]["body"]["lot"] == RING
    # Upstream appears as summaries only: no upstream partner, mass or date is in it.
    assert [p["id"] for p in doc["partners"]] == ["hk-heritage"]
    text = json.dumps(doc)
    for upstream in ("obuasi-ridge", "ticino-refinery", "bund-bullion", "2026-05-20"):
        assert upstream not in text
    assert len(text) < 20_000  # the ring's own history and one input, not its genealogy
    again = _passport(ledger)
    assert again == doc  # nothing moved: the same passport, byte for byte
    sent = ledger.client.get(f"/v1/lots/{RING}/passport", headers={"Accept-Encoding": "gzip"})
    assert sent.headers["content-encoding"] == "gzip"
    assert int(sent.headers["content-length"]) < len(sent.content) / 2


MUTATIONS: list[tuple[str, Any, set[str]]] = [
    ("summary fine gold", lambda d: d["summary"].update(fine_gold_g="39"), {"summary"}),
    ("custodian", lambda d: d["summary"].update(custodian="bund-bullion"), {"summary"}),
    ("grade", lambda d: d["metrics"].update(grade="A"), {"metrics"}),
    ("partner name", lambda d: d["partners"][0].update(name="Someone Else"), {"partners"}),
    (
        "the input's carbon",
        lambda d: d["inputs"][0]["body"].update(carbon_kgco2e="1"),
        {"input summary", "metrics", "in log"},
    ),
    (
        "the fabrication's emissions",
        lambda d: d["chain"][0]["body"]["data"].update(emissions_kgco2e=0.1),
        {"link #0", "metrics", "in log"},
    ),
    (
        "a node of the proofs",
        lambda d: d["log"]["nodes"].update(
            {next(iter(d["log"]["nodes"])): "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
        ),
        {"in log"},
    ),
    (
        "the input swapped for another lot's summary",
        lambda d: d["inputs"][0]["body"].update(lot="HK-GR-0820-B"),
        {"inputs", "input summary"},
    ),
    (
        "the checkpoint's root",
        lambda d: d["log"].update(checkpoint=d["log"]["checkpoint"].replace("\n", "\nX", 1)),
        {"checkpoint"},
    ),
    (
        "the fabrication dropped",
        lambda d: d.update(chain=d["chain"][1:]),
        {"link #0", "inputs", "metrics"},
    ),
    ("the issue date", lambda d: d.update(issued_at="2030-01-01T00:00:00.000000Z"), set()),
]


@pytest.mark.parametrize(("name", "change", "also"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_every_change_fails_and_names_what(
    ledger: Ledger, journey: NoteVerifier, name: str, change: Any, also: set[str]
) -> None:
    doc = copy.deepcopy(_passport(ledger))
    change(doc)
    failed = _failed(doc, journey)
    assert "passport signature" in failed
    assert also <= failed, failed


def test_any_changed_byte_anywhere_fails(ledger: Ledger, journey: NoteVerifier) -> None:
    text = json.dumps(_passport(ledger), ensure_ascii=False, separators=(",", ":"))
    rng = random.Random(20261129)
    refused = failed = 0
    for position in rng.sample(range(len(text)), 120):
        replacement = rng.choice([c for c in '0123456789abcdefXYZ:,{}"' if c != text[position]])
        changed = text[:position] + replacement + text[position + 1 :]
        try:
            doc = parse_strict(changed.encode(), limits=_LIMITS)
            report, _ = verify_passport(doc, log_key=journey)
        except LedgerError:
            refused += 1  # not JSON, or not a passport at all
            continue
        assert not report.ok, (position, text[position - 20 : position + 20])
        failed += 1
    assert failed > 60  # most single-byte changes still parse, and every one of them fails


_LIMITS = __import__("app.cli", fromlist=["DOCUMENT_LIMITS"]).DOCUMENT_LIMITS


def test_the_cli_verifies_a_passport(ledger: Ledger, journey: NoteVerifier, tmp_path: Path) -> None:
    path = tmp_path / "passport.json"
    path.write_text(json.dumps(_passport(ledger)), encoding="utf-8")
    result = runner.invoke(cli, ["verify", str(path), "--log-key", str(journey)])
    assert result.exit_code == 0, result.output
    assert "passport verified" in result.output
    unkeyed = runner.invoke(cli, ["verify", str(path)])
    assert unkeyed.exit_code == 1
    assert "--log-key" in unkeyed.output
    doc = json.loads(path.read_text())
    doc["summary"]["stage"] = "smelting"
    path.write_text(json.dumps(doc), encoding="utf-8")
    broken = runner.invoke(cli, ["verify", str(path), "--log-key", str(journey)])
    assert broken.exit_code == 1
    assert "stage: claimed 'smelting', recomputed 'sale'" in broken.output


# An independent eddsa-jcs-2022 verifier, from the specification's §3.3.2 and §3.3.4–3.3.6.


def _ed25519_of_did_key(method: str) -> bytes:
    did, _, fragment = method.partition("#")
    assert did.startswith("did:key:z")
    assert fragment == did.removeprefix("did:key:")
    decoded = base58.b58decode(did.removeprefix("did:key:z"))
    assert decoded[:2] == b"\xed\x01"  # multicodec ed25519-pub
    return decoded[2:]


def independent_verify(credential: dict[str, Any], raw_key: bytes | None = None) -> bool:
    proof = dict(credential["proof"])
    unsecured = {k: v for k, v in credential.items() if k != "proof"}
    if proof["type"] != "DataIntegrityProof" or proof["cryptosuite"] != "eddsa-jcs-2022":
        return False
    proof_value = proof.pop("proofValue")
    if "@context" in proof:
        if unsecured["@context"][: len(proof["@context"])] != proof["@context"]:
            return False
        unsecured["@context"] = proof["@context"]
    hash_data = (
        hashlib.sha256(rfc8785.dumps(proof)).digest()
        + hashlib.sha256(rfc8785.dumps(unsecured)).digest()
    )
    assert proof_value.startswith("z")
    key = raw_key or _ed25519_of_did_key(proof["verificationMethod"])
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(base58.b58decode(proof_value[1:]), hash_data)
    except InvalidSignature:
        return False
    return True


def test_the_credential_verifies_independently_and_fails_when_changed(
    ledger: Ledger, journey: NoteVerifier
) -> None:
    credential = ledger.client.get(f"/v1/lots/{RING}/passport/credential").json()
    assert credential["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert "VerifiableCredential" in credential["type"]
    assert credential["issuer"]["id"] == credential["proof"]["verificationMethod"].split("#")[0]
    assert _ed25519_of_did_key(credential["proof"]["verificationMethod"]) == journey.public.raw
    assert independent_verify(credential)
    subject = credential["credentialSubject"]
    assert subject["metrics"]["grade"] == "B"
    passport = _passport(ledger)
    assert (
        subject["passport"]["digestSHA256"] == hashlib.sha256(rfc8785.dumps(passport)).hexdigest()
    )
    for change in (
        lambda c: c["credentialSubject"]["metrics"].update(grade="A"),
        lambda c: c["credentialSubject"]["summary"].update(fine_gold_g="4"),
        lambda c: c.update(validFrom="2030-01-01T00:00:00Z"),
        lambda c: c["issuer"].update(name="Someone"),
        lambda c: c["proof"].update(created="2030-01-01T00:00:00Z"),
        lambda c: c["credentialSubject"]["passport"].update(digestSHA256="0" * 64),
    ):
        altered = copy.deepcopy(credential)
        change(altered)
        assert not independent_verify(altered)


def test_a_did_web_issuer_publishes_its_key(settings: Settings, ledger: Ledger) -> None:
    settings_web = settings.model_copy(update={"issuer_did": "did:web:goldtrail.example"})
    with TestClient(create_app(settings_web)) as client:
        assert (
            problem(ledger.client.get("/.well-known/did.json"), 404)["code"] == "did.not_configured"
        )
        geo = Ledger(client=client).partner("kumasi-geo", "explorer")
        Ledger(client=client).post(
            geo, "LOT-W", "exploration", "site_registered", {"form": "deposit"}
        )
        credential = client.get("/v1/lots/LOT-W/passport/credential").json()
        document = client.get("/.well-known/did.json").json()
    assert credential["issuer"]["id"] == "did:web:goldtrail.example"
    method = document["verificationMethod"][0]
    assert credential["proof"]["verificationMethod"] == method["id"]
    raw = base58.b58decode(method["publicKeyMultibase"][1:])[2:]
    assert independent_verify(credential, raw)

    # After a service key rotation the document names both keys: the credential signed
    # before still resolves to its method, the one signed after to the new one.
    with TestClient(create_app(settings_web)) as client:
        context: LedgerContext = client.app.state.context  # type: ignore[attr-defined]
        rotate(context, SigningKey.generate())
        after = client.get("/v1/lots/LOT-W/passport/credential").json()
        rotated = client.get("/.well-known/did.json").json()
    methods = {m["id"]: m for m in rotated["verificationMethod"]}
    assert rotated["assertionMethod"] == list(methods)
    assert len(methods) == 2
    assert methods[method["id"]] == method
    new_method = methods[after["proof"]["verificationMethod"]]
    assert new_method["id"].startswith("did:web:goldtrail.example#service-key-")
    assert independent_verify(after, base58.b58decode(new_method["publicKeyMultibase"][1:])[2:])
    assert not independent_verify(after, raw)


def test_the_qr_code_decodes_to_the_page_and_the_certificate_reads(
    ledger: Ledger, journey: NoteVerifier, tmp_path: Path
) -> None:
    assert shutil.which("zbarimg"), "zbar-tools is installed by make test and .ci/run"
    png = ledger.client.get(f"/p/{RING}/qr.png")
    assert png.headers["content-type"] == "image/png"
    (tmp_path / "qr.png").write_bytes(png.content)
    decoded = decode_qr(tmp_path / "qr.png")
    assert decoded == f"http://127.0.0.1:8000/p/{RING}"
    svg = ledger.client.get(f"/p/{RING}/qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg")
    for language in ("zh", "en"):
        pdf = ledger.client.get(f"/p/{RING}/certificate.pdf", params={"lang": language})
        assert pdf.headers["content-type"] == "application/pdf"
        path = tmp_path / f"certificate-{language}.pdf"
        path.write_bytes(pdf.content)
        text = subprocess.run(
            ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
        (tmp_path / f"certificate-{language}.txt").write_text(text)
        _check_certificate_text(text, language)
        pages = subprocess.run(
            ["pdfinfo", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert re.search(r"^Pages:\s+1$", pages, re.MULTILINE)
        fonts = subprocess.run(
            ["pdffonts", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert "NotoSansCJK" in fonts
        assert re.search(r"NotoSansCJK\S*\s+CID Type 0C\S*\s+\S+\s+yes", fonts), fonts  # embedded


def _check_certificate_text(text: str, language: str) -> None:
    """The ring's certificate, in both languages, with the figures the page shows."""
    assert RING in text
    for words in ("绿色黄金证书", "Green Gold Certificate", "绿色等级", "Green grade"):
        assert words in text
    assert re.search(r"^\s*B\b", text, re.MULTILINE)  # the grade, first on its line
    assert "3,004.7" in text
    assert "None" not in text
    assert "?" not in text.replace("?lang", "")
    # Shares as percentages, countries and partners by name, in both languages.
    assert re.search(r"加纳 \d+(\.\d)? %", text), text
    assert re.search(r"Ghana \d+(\.\d)? %", text), text
    assert "Hongkou Heritage" in text or "Heritage Jewellers" in text
    assert "hk-heritage" not in text.split("goldtrail.example/log", maxsplit=1)[0]
    assert "goldtrail.example/log" in text  # the checkpoint it was proven against
    first = text.index("绿色黄金证书") < text.index("Green Gold Certificate")
    assert first == (language == "zh")


def test_unknown_lots_and_languages(ledger: Ledger, journey: NoteVerifier) -> None:
    for path in (
        "/v1/lots/NO-SUCH/passport",
        "/v1/lots/NO-SUCH/passport/credential",
        "/p/NO-SUCH/qr.svg",
        "/p/NO-SUCH/qr.png",
        "/p/NO-SUCH/certificate.pdf",
    ):
        assert problem(ledger.client.get(path), 404)["code"] == "lot.unknown"
    page = ledger.client.get("/p/NO-SUCH", headers={"Accept-Language": "en"})
    assert page.status_code == 404
    assert "No such lot" in page.text
    chinese = ledger.client.get(
        f"/p/{RING}", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
    )
    assert '<html lang="zh-Hans">' in chinese.text
    assert "绿色身份证" in chinese.text
    english = ledger.client.get(f"/p/{RING}", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in english.text
    assert ledger.client.get(f"/p/{RING}?lang=zh", headers={"Accept-Language": "en"}).text.count(
        "绿色等级"
    )
    assert "</script><" not in english.text.split('id="passport">')[1].split("</script>")[0]
    bad = ledger.client.get(f"/p/{RING}?lang=fr")
    assert problem(bad, 422)["errors"][0]["field"] == "query.lang"


def test_a_used_up_lot_says_when_by_whom_and_into_what(
    ledger: Ledger, journey: NoteVerifier, tmp_path: Path
) -> None:
    """The doré was refined away: its card says so, and its figures are those just before."""
    dore = "GH-DORE-0509"
    metrics = ledger.client.get(f"/v1/lots/{dore}/metrics").json()
    assert metrics["as_of"] == "before it was consumed"
    assert Decimal(metrics["fine_gold_g"]) > 0
    page = ledger.client.get(f"/p/{dore}", params={"lang": "en"}).text
    assert (
        "Used up on 2026-05-20 by Ticino Precious Metals Refinery SA: Refined into "
        "CH-KB-260520-001, CH-KB-260520-002, CH-KB-260520-003 (+6)."
    ) in html.unescape(page)
    became = re.findall(r'<p class="used-up-into">(.*?)</p>', page, re.S)
    assert len(became) == 1
    links = re.findall(r'href="/p/([^"?]+)\?lang=en"', became[0])
    assert len(links) == 9  # every lot it became, a link to its own card
    assert links[0] == "CH-KB-260520-001"
    shown = re.search(r'Fine gold</div><div class="value">([^<]+)', page)
    assert shown is not None
    assert shown.group(1).strip() == f"{metrics['fine_gold_g']} g"
    chinese = html.unescape(ledger.client.get(f"/p/{dore}", params={"lang": "zh"}).text)
    assert "已于 2026-05-20 由 Ticino Precious Metals Refinery SA 用尽" in chinese
    pdf = tmp_path / "dore.pdf"
    pdf.write_bytes(ledger.client.get(f"/p/{dore}/certificate.pdf", params={"lang": "en"}).content)
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Used up on 2026-05-20" in text
    assert "用尽" in text
    ring = html.unescape(ledger.client.get(f"/p/{RING}", params={"lang": "en"}).text)
    assert "used-up" not in ring  # a lot that holds its gold says nothing of the kind


def test_goldtrail_verify_checks_a_credential_with_a_pinned_key(
    ledger: Ledger, journey: NoteVerifier, tmp_path: Path
) -> None:
    """It said 'not a lot export'; it verifies the credential's proof with the key given."""
    credential = ledger.client.get(f"/v1/lots/{RING}/passport/credential").json()
    path = tmp_path / "credential.json"
    path.write_text(json.dumps(credential))
    pinned = runner.invoke(cli, ["verify", str(path), "--service-key", journey.public.b64])
    assert pinned.exit_code == 0, pinned.output
    assert "credential verified" in pinned.output
    with_log_key = runner.invoke(cli, ["verify", str(path), "--log-key", str(journey)])
    assert with_log_key.exit_code == 0, with_log_key.output
    unkeyed = runner.invoke(cli, ["verify", str(path)])
    assert unkeyed.exit_code == 1
    assert "a credential is verified with the issuer's key" in unkeyed.output
    other = SigningKey.generate().public.b64
    wrong_key = runner.invoke(cli, ["verify", str(path), "--service-key", other])
    assert wrong_key.exit_code == 1
    assert "credential BROKEN" in wrong_key.output
    credential["credentialSubject"]["metrics"]["grade"] = "A"
    path.write_text(json.dumps(credential))
    changed = runner.invoke(cli, ["verify", str(path), "--service-key", journey.public.b64])
    assert changed.exit_code == 1
    assert "✗ proof" in changed.output


def test_the_certificate_of_a_lot_without_a_grade_is_a_pdf_not_a_500(
    ledger: Ledger, tmp_path: Path
) -> None:
    """A deposit has no grade: its certificate answered 500 (`_rgb("#444")`)."""
    geo = ledger.partner("kumasi-geo", "explorer")
    ledger.post(geo, "DEP-1", "exploration", "site_registered", {"form": "deposit"})
    answer = ledger.client.get("/p/DEP-1/certificate.pdf", params={"lang": "en"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "deposit.pdf"
    pdf.write_bytes(answer.content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "DEP-1" in text


def test_a_grade_e_lot_reads_as_bad_and_ore_is_in_tonnes_at_grams_per_tonne(
    ledger: Ledger,
) -> None:
    """A grade-E lot showed a full green bar; ore read as 120000000 g at 0.0047 ‰."""
    refiner = ledger.partner("ticino-refinery", "refiner")
    heavy = {"form": "grain", "mass_g": 10, "fineness": 999.9, "emissions_kgco2e": 1000}
    ledger.post(refiner, "GRAIN-E", "smelting", "recycled_intake", heavy)
    page = html.unescape(ledger.client.get("/p/GRAIN-E", params={"lang": "en"}).text)
    assert 'class="grade grade-E"' in page
    gauge = re.search(r'<meter id="carbon-gauge"[^>]*>', page)
    assert gauge is not None
    value = float(re.search(r'value="([^"]+)"', gauge.group(0)).group(1))  # type: ignore[union-attr]
    assert value == 200  # capped: 100,010 kg per kg is almost four times the benchmark
    assert 'high="100"' in gauge.group(0)  # above it, the meter's worst zone: red
    assert "100,010 " in page or "100,010<" in page

    geo = ledger.partner("kumasi-geo", "explorer", "miner")
    ledger.post(geo, "ORE-1", "exploration", "site_registered", {"form": "deposit"})
    ore = {"form": "ore", "mass_g": 120000000, "fineness": 0.0047, "emissions_kgco2e": 21500}
    ledger.post(geo, "ORE-1", "mining", "extracted", ore)
    english = html.unescape(ledger.client.get("/p/ORE-1", params={"lang": "en"}).text)
    assert "120\xa0t of ore at 4.7\xa0g/t" in english  # a unit never wraps from its number
    chinese = html.unescape(ledger.client.get("/p/ORE-1", params={"lang": "zh"}).text)
    assert "矿石 120\xa0吨，品位 4.7\xa0克/吨" in chinese


def test_the_card_says_in_one_sentence_what_the_piece_is_and_where_its_gold_came_from(
    ledger: Ledger, journey: NoteVerifier
) -> None:
    """Generated from the metrics and the chain, in the reader's language; certifications
    are said to be declared (no one has attested them yet)."""
    english = html.unescape(ledger.client.get(f"/p/{RING}", params={"lang": "en"}).text)
    story = re.search(r'<p class="story" id="story">(.*?)</p>', english, re.S)
    assert story is not None
    assert story.group(1) == (
        "Jewellery with 3.9\xa0g of fine gold: 86.4 % recycled gold, the rest mined, from "
        "China, Ghana; last made into jewellery by Hongkou Heritage Jewellers / 虹口传承珠宝; "
        "certifications declared: LBMA Good Delivery (100 %), RJC Chain-of-Custody (100 %)."
    )
    chinese = html.unescape(ledger.client.get(f"/p/{RING}", params={"lang": "zh"}).text)
    assert "首饰，含纯金 3.9\xa0克：86.4 % 为回收金、其余为矿产金，来自中国、加纳" in chinese
    assert "扫码查看本绿色身份证" in chinese  # the QR code's caption
    # Trust in one plain line; the checkpoint and what the browser checks behind a fold.
    assert "Checked by your own browser, not taken on trust" in english
    fold = re.search(
        r'<details id="technical"><summary>Technical details</summary>(.*?)</details>',
        english,
        re.S,
    )
    assert fold is not None
    assert "Proven against log checkpoint" in fold.group(1)
