"""The QR code of a passport page and its printable certificate (PDF)."""

from __future__ import annotations

import io
from typing import Any

import segno
from fpdf import FPDF

__all__ = ["certificate_pdf", "qr_png", "qr_svg"]


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


def _latin(text: object) -> str:
    """The PDF's core fonts speak Latin-1: keep ids and figures, replace anything else."""
    return (
        str(text)
        .replace("₂", "2")
        .replace("→", "->")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def _yes_no(flag: object) -> str:
    if flag is None:
        return "not declared"
    return "yes" if flag else "no"


def certificate_pdf(doc: dict[str, Any], *, url: str, digest: str) -> bytes:
    """A one-page certificate: the grade and figures, the QR code, the checkpoint proven against."""
    metrics = doc.get("metrics") or {}
    summary = doc.get("summary") or {}
    pdf = FPDF(format="A4")
    pdf.set_title(f"Green gold certificate {doc.get('lot')}")
    pdf.set_author("Goldtrail")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(0, 12, "Green Gold Certificate", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.cell(0, 7, _latin(f"Lot {doc.get('lot')}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 48)
    pdf.cell(30, 24, _latin(metrics.get("grade") or "-"), border=1, align="C")
    pdf.set_font("Helvetica", "", 11)
    pdf.set_xy(pdf.l_margin + 36, pdf.get_y() + 4)
    pdf.multi_cell(0, 6, "Green grade (A best, E worst), by carbon intensity of the fine gold")
    pdf.image(io.BytesIO(qr_png(url)), x=pdf.w - pdf.r_margin - 40, y=15, w=40, h=40)
    pdf.set_y(70)
    rows = [
        (
            "Fine gold",
            f"{summary.get('fine_gold_g')} g ({summary.get('form')}, "
            f"{summary.get('mass_g')} g at {summary.get('fineness')} per mille)",
        ),
        (
            "Carbon intensity",
            f"{metrics.get('carbon_intensity_kgco2e_per_kg')} kg CO2e per kg fine gold "
            f"(average mine {metrics.get('benchmark_mined_kgco2e_per_kg')})",
        ),
        ("Recycled share", str(metrics.get("recycled_share"))),
        (
            "Certified shares",
            ", ".join(f"{k} {v}" for k, v in (metrics.get("certified_shares") or {}).items())
            or "none",
        ),
        (
            "Countries of origin",
            ", ".join(f"{k} {v}" for k, v in (metrics.get("countries_of_origin") or {}).items()),
        ),
        ("Conflict-free origin", _yes_no(metrics.get("conflict_free"))),
        ("Mercury-free", _yes_no(metrics.get("mercury_free"))),
        ("Held by", str(summary.get("custodian"))),
        ("Chain head", f"{summary.get('head')} ({summary.get('length')} entries)"),
        ("Passport SHA-256", digest),
        ("Issued", str(doc.get("issued_at"))),
    ]
    for label, value in rows:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(45, 6, _latin(label))
        pdf.set_font("Helvetica", "", 10)
        pdf.multi_cell(0, 6, _latin(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 6, "Proven against the transparency-log checkpoint", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Courier", "", 8)
    pdf.multi_cell(
        0,
        4,
        _latin(str((doc.get("log") or {}).get("checkpoint", ""))),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(
        0,
        5,
        _latin(
            f"Check it yourself: open {url}, or download the passport and run "
            "'goldtrail verify passport.json --log-key <the log's key>'."
        ),
    )
    return bytes(pdf.output())
