"""What the passport page shows, read from a passport bundle (figures first, then the journey)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.api.pages.i18n import country_name

__all__ = ["Card", "Step", "card_of"]

GRADE_COLOURS = {"A": "#0b6e35", "B": "#3d7f14", "C": "#8a6a00", "D": "#a5420b", "E": "#9b1c1c"}


@dataclass(frozen=True, slots=True)
class Step:
    date: str
    stage: str
    action: str
    partner: str
    lots: str
    place: str


@dataclass(slots=True)
class Card:
    lot: str
    grade: str | None
    grade_colour: str
    fine_gold_g: str | None
    carbon: str | None
    benchmark: str
    of_benchmark: str | None
    recycled: str | None
    certified: list[tuple[str, str]]
    countries: list[tuple[str, str]]
    conflict_free: bool | None
    mercury_free: bool | None
    custodian: str
    stages: list[str]
    steps: list[Step] = field(default_factory=list)
    checkpoint: str = ""


def _percent(share: str | None) -> str | None:
    if share is None:
        return None
    value = Decimal(share) * 100
    return f"{value.quantize(Decimal('0.1')).normalize():f} %"


def _place(data: dict[str, Any], language: str) -> str:
    location = data.get("location")
    if not isinstance(location, dict) or not isinstance(location.get("country"), str):
        return ""
    name = country_name(location["country"], language)
    sub = location.get("subdivision")
    return f"{name} ({sub})" if isinstance(sub, str) else name


def _lots(body: dict[str, Any], words: dict[str, str]) -> str:
    if "inputs" not in body:
        return str(body.get("lot", ""))
    inputs = ", ".join(str(i.get("lot")) for i in body.get("inputs") or [])
    outputs = ", ".join(str(o.get("lot")) for o in body.get("outputs") or [])
    return f"{inputs} → {outputs}" if inputs else f"→ {outputs}"


def _steps(doc: dict[str, Any], language: str, words: dict[str, str]) -> list[Step]:
    names = {p.get("id"): p.get("name") or p.get("id") for p in doc.get("partners") or []}
    steps = []
    for entry in doc.get("entries") or []:
        body = entry.get("body") or {}
        data = body.get("data")
        steps.append(
            Step(
                date=str(body.get("occurred_at", ""))[:10],
                stage=words.get(f"stage.{body.get('stage')}", str(body.get("stage"))),
                action=words.get(f"action.{body.get('action')}", str(body.get("action"))),
                partner=str(names.get(body.get("partner"), body.get("partner"))),
                lots=_lots(body, words),
                place=_place(data if isinstance(data, dict) else {}, language),
            )
        )
    return sorted(steps, key=lambda step: step.date)


def card_of(doc: dict[str, Any], language: str, words: dict[str, str]) -> Card:
    metrics = doc.get("metrics") or {}
    summary = doc.get("summary") or {}
    intensity = metrics.get("carbon_intensity_kgco2e_per_kg")
    benchmark = str(metrics.get("benchmark_mined_kgco2e_per_kg", "25700"))
    checkpoint = str((doc.get("log") or {}).get("checkpoint", "")).split("\n")
    grade = metrics.get("grade")
    return Card(
        lot=str(doc.get("lot")),
        grade=grade,
        grade_colour=GRADE_COLOURS.get(str(grade), "#444"),
        fine_gold_g=summary.get("fine_gold_g") or metrics.get("fine_gold_g"),
        carbon=intensity,
        benchmark=benchmark,
        of_benchmark=None
        if intensity is None
        else _percent(str(Decimal(intensity) / Decimal(benchmark))),
        recycled=_percent(metrics.get("recycled_share")),
        certified=[
            (scheme, _percent(share) or "")
            for scheme, share in (metrics.get("certified_shares") or {}).items()
        ],
        countries=[
            (country_name(code, language), _percent(share) or "")
            for code, share in (metrics.get("countries_of_origin") or {}).items()
        ],
        conflict_free=metrics.get("conflict_free"),
        mercury_free=metrics.get("mercury_free"),
        custodian=str(summary.get("custodian", "")),
        stages=[words.get(f"stage.{s}", s) for s in metrics.get("stages_seen") or []],
        steps=_steps(doc, language, words),
        checkpoint=" · ".join(checkpoint[:2]) if len(checkpoint) > 1 else "",
    )
