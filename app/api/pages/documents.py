"""The QR code of a passport page and its printable certificate (PDF)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import segno
from fpdf import FPDF

from app.api.pages.i18n import words as i18n_words
from app.api.pages.view import Card, card_of

__all__ = ["FontMissing", "certificate_pdf", "cjk_font", "qr_png", "qr_svg"]


def _qr(url: str) -> segno.QRCode:
    return segno.make(url, error="m", micro=False)


def qr_svg(url: str) -> bytes:
    out = io.BytesIO()
    _qr(url).save(out, kind="svg", scale=6, border=2, title=url, xmldecl=False)
    return out.getvalue()


def qr_png(url: str) -> bytes:
    out = io.BytesIO()
    _qr(url).save(out, kind="png", scale=8, border=2)
    return out.getvalue()


# Where Debian's fonts-noto-cjk (installed by `make`, CI and the Docker image) puts the font
# that holds both Latin and Chinese glyphs.
CJK_FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),
)


class FontMissing(RuntimeError):
    """No font with Chinese glyphs is installed, so the bilingual certificate cannot be set."""


def cjk_font(configured: Path | None = None) -> Path:
    for candidate in ((configured,) if configured else ()) + CJK_FONT_CANDIDATES:
        if candidate is not None and candidate.is_file():
            return candidate
    raise FontMissing(
        "no CJK font: install fonts-noto-cjk (make system-deps does) or set GOLDTRAIL_CJK_FONT"
    )


def _flag(flag: bool | None, words: dict[str, str]) -> str:
    if flag is None:
        return words["unknown"]
    return words["yes"] if flag else words["no"]


def _both(first: str, second: str) -> str:
    """One value in both languages, once if they read the same."""
    return first if first == second else f"{first} | {second}"


def _rows(
    cards: tuple[Card, Card], words: tuple[dict[str, str], dict[str, str]]
) -> list[tuple[str, str]]:
    """(label, value) rows, each in both languages, the chosen one first."""

    def label(key: str) -> str:
        return f"{words[0][key]}  {words[1][key]}"

    def each(render: Callable[[Card, dict[str, str]], str]) -> str:
        return _both(render(cards[0], words[0]), render(cards[1], words[1]))

    def shares(pairs: list[tuple[str, str]], w: dict[str, str]) -> str:
        return ", ".join(f"{name} {share}" for name, share in pairs) or w["none"]

    first = cards[0]
    status = [(label("status"), each(lambda c, w: c.used_up))] if first.used_up else []
    return [
        *status,
        (
            label("fine_gold"),
            f"{first.fine_gold_g or words[0]['dash']} g"
            + (f"  ({each(lambda c, w: c.lot_detail)})" if first.lot_detail else ""),
        ),
        (
            label("carbon"),
            (
                f"{first.carbon} "
                + each(lambda c, w: w["per_kg_fine"].replace("₂", "2"))
                + f"  ({first.of_benchmark} "
                + each(lambda c, w: f"{w['average_mine']} {c.benchmark}")
                + ")"
            )
            if first.carbon is not None
            else words[0]["dash"],
        ),
        (label("recycled_share"), first.recycled or words[0]["dash"]),
        (label("certified_shares"), each(lambda c, w: shares(c.certified, w))),
        (label("countries"), each(lambda c, w: shares(c.countries, w))),
        (label("conflict_free"), each(lambda c, w: _flag(c.conflict_free, w))),
        (label("mercury_free"), each(lambda c, w: _flag(c.mercury_free, w))),
        (label("custodian"), first.custodian or words[0]["dash"]),
    ]


def certificate_pdf(
    doc: dict[str, Any],
    *,
    url: str,
    digest: str,
    language: str,
    font: Path,
) -> bytes:
    """A one-page certificate in Chinese and English (``language`` first): the grade and
    figures as the page shows them, the QR code, and the checkpoint it was proven against."""
    order = (language, "en" if language == "zh" else "zh")
    words = (i18n_words(order[0]), i18n_words(order[1]))
    cards = (card_of(doc, order[0], words[0]), card_of(doc, order[1], words[1]))
    card = cards[0]
    pdf = FPDF(format="A4")
    pdf.set_title(f"{words[0]['certificate_title']} / {words[1]['certificate_title']} {card.lot}")
    pdf.set_author("Goldtrail")
    pdf.add_font("cjk", "", str(font))
    pdf.add_page()
    pdf.set_font("cjk", size=18)
    pdf.cell(0, 10, words[0]["certificate_title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=13)
    pdf.cell(0, 8, words[1]["certificate_title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=11)
    pdf.cell(
        0, 7, f"{words[0]['lot']} / {words[1]['lot']}  {card.lot}", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(3)
    top = pdf.get_y()
    pdf.set_font("cjk", size=44)
    pdf.set_text_color(*_rgb(card.grade_colour))
    pdf.cell(30, 24, card.grade or words[0]["dash"], border=1, align="C")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("cjk", size=10)
    pdf.set_xy(pdf.l_margin + 36, top + 2)
    pdf.multi_cell(
        95,
        5,
        "\n".join(f"{w['grade']}: {w['grade_note']}" for w in words),
    )
    pdf.image(io.BytesIO(qr_png(url)), x=pdf.w - pdf.r_margin - 40, y=15, w=40, h=40)
    pdf.set_y(max(pdf.get_y(), top + 26, 60))
    _figures(pdf, cards, words)
    _journey(pdf, card, words)
    _proof(pdf, doc, url=url, digest=digest, words=words)
    return bytes(pdf.output())


Words = tuple[dict[str, str], dict[str, str]]


def _figures(pdf: FPDF, cards: tuple[Card, Card], words: Words) -> None:
    for name, value in _rows(cards, words):
        pdf.set_font("cjk", size=9)
        pdf.set_text_color(90, 90, 90)
        pdf.cell(0, 5, name, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.set_font("cjk", size=11)
        pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")


def _journey(pdf: FPDF, card: Card, words: Words) -> None:
    if not card.steps:
        return
    pdf.ln(2)
    pdf.set_font("cjk", size=11)
    pdf.cell(0, 6, f"{words[0]['journey']} / {words[1]['journey']}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)
    for step in card.steps[-12:]:
        line = f"{step.date}  {step.action} · {step.partner}"
        line += f" · {step.detail}" if step.detail else ""
        line += f" · {step.place}" if step.place else ""
        pdf.multi_cell(0, 4.2, line, new_x="LMARGIN", new_y="NEXT")


def _proof(pdf: FPDF, doc: dict[str, Any], *, url: str, digest: str, words: Words) -> None:
    pdf.ln(2)
    pdf.set_font("cjk", size=9)
    pdf.cell(
        0,
        5,
        f"{words[0]['passport_digest']} / {words[1]['passport_digest']}: {digest}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.cell(
        0,
        5,
        f"{words[0]['issued']} / {words[1]['issued']}: {doc.get('issued_at')}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(1)
    pdf.cell(
        0, 5, f"{words[0]['checkpoint']} / {words[1]['checkpoint']}", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("cjk", size=7)
    for line in str((doc.get("log") or {}).get("checkpoint", "")).splitlines():
        pdf.cell(0, 3.5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("cjk", size=8)
    for w in words:
        pdf.multi_cell(0, 4.2, w["check_yourself"].format(url=url), new_x="LMARGIN", new_y="NEXT")


def _rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` or ``#rgb`` as (r, g, b)."""
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
