"""What the passport page and certificate show, read from a passport (figures first, then the
journey, then what the lot was made from)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from app.api.pages.i18n import country_name

__all__ = [
    "Card",
    "Step",
    "Upstream",
    "card_of",
    "percent",
    "piece_of",
]

GRADE_COLOURS = {"A": "#0b6e35", "B": "#3d7f14", "C": "#8a6a00", "D": "#a5420b", "E": "#9b1c1c"}


@dataclass(frozen=True, slots=True)
class Step:
    date: str
    stage: str
    action: str
    partner: str
    lots: str
    place: str
    detail: str
    """The lot's form, mass and fineness as the step states them (empty if it states none)."""


@dataclass(frozen=True, slots=True)
class Upstream:
    """One lot this one was made from, as its logged summary tells it."""

    lot: str
    fine_gold_g: str
    countries: str


@dataclass(slots=True)
class Card:
    lot: str
    grade: str | None
    grade_colour: str
    fine_gold_g: str | None
    carbon: str | None
    carbon_of_benchmark: Decimal | None
    """The intensity as a percentage of the mined benchmark, capped at 200: the gauge."""
    benchmark: str
    of_benchmark: str | None
    recycled: str | None
    certified: list[tuple[str, str]]
    countries: list[tuple[str, str]]
    conflict_free: bool | None
    mercury_free: bool | None
    custodian: str
    stages: list[str]
    lot_detail: str = ""
    steps: list[Step] = field(default_factory=list)
    upstream: list[Upstream] = field(default_factory=list)
    checkpoint: str = ""
    used_up: str = ""
    used_up_into: tuple[str, ...] = ()
    """The lots the transformation that used this lot up made: links on the card."""
    """For a lot a transformation used up: when, by whom, into what (its figures are then
    the lot's just before)."""


def _partner_names(doc: dict[str, Any]) -> dict[Any, Any]:
    """Partner id → name (the id where none is stated), from the passport's partner list."""
    return {p.get("id"): p.get("name") or p.get("id") for p in doc.get("partners") or []}


def percent(share: object) -> str | None:
    """``"0.8641"`` → ``"86.4 %"``; None if there is no share."""
    if share is None:
        return None
    try:
        value = Decimal(str(share)) * 100
    except InvalidOperation:
        return None
    return f"{value.quantize(Decimal('0.1')).normalize():f} %"


def _place(data: dict[str, Any], language: str) -> str:
    location = data.get("location")
    if not isinstance(location, dict) or not isinstance(location.get("country"), str):
        return ""
    name = country_name(location["country"], language)
    sub = location.get("subdivision")
    return f"{name} ({sub})" if isinstance(sub, str) else name


def _lots(body: dict[str, Any]) -> str:
    if "inputs" not in body:
        return str(body.get("lot", ""))
    inputs = ", ".join(str(i.get("lot")) for i in body.get("inputs") or [])
    outputs = ", ".join(str(o.get("lot")) for o in body.get("outputs") or [])
    return f"{inputs} → {outputs}" if inputs else f"→ {outputs}"


def _number(value: object) -> str:
    """A decimal as people read it: digits grouped by thousands, no exponent, no trailing
    zeros (``39309.2`` → ``39,309.2``)."""
    try:
        exact = Decimal(str(value)).normalize()
    except InvalidOperation:
        return str(value)
    whole, _, fraction = f"{exact:f}".partition(".")
    grouped = f"{int(whole):,}" if whole.lstrip("-").isdigit() else whole
    if whole.startswith("-0"):
        grouped = "-" + grouped
    return grouped + (f".{fraction}" if fraction else "")


_BULK_FORMS = frozenset({"ore", "concentrate"})
_TONNE = Decimal(1_000_000)


def _stated(form: object, mass: object, fineness: object, words: dict[str, str]) -> str:
    """What a step states of the lot in the trade's units: ore and concentrate in tonnes at
    a grade in g/t ("120 t at 4.7 g/t"); metal in grams at its fineness ("547 g of bar at
    999.9"); "" if it states neither."""
    if mass is None and fineness is None:
        return ""
    name = words.get(f"form.{form}", str(form or ""))
    dash = words["dash"]
    if form in _BULK_FORMS:
        try:
            tonnes = None if mass is None else Decimal(str(mass)) / _TONNE
            grade = None if fineness is None else Decimal(str(fineness)) * 1000
        except InvalidOperation:
            tonnes = grade = None
        return words["lot_bulk"].format(
            form=name,
            tonnes=dash if tonnes is None else _number(tonnes),
            grade=dash if grade is None else _number(grade),
        )
    return words["lot_form"].format(
        form=name,
        mass=_number(mass) if mass is not None else dash,
        fineness=_number(fineness) if fineness is not None else dash,
    )


def _detail(body: dict[str, Any], lot: str, words: dict[str, str]) -> str:
    if "outputs" in body:
        made = next((o for o in body.get("outputs") or [] if o.get("lot") == lot), None)
        if made is None:
            return ""
        return _stated(made.get("form"), made.get("mass_g"), made.get("fineness"), words)
    data = body.get("data")
    if not isinstance(data, dict):
        return ""
    return _stated(data.get("form"), data.get("mass_g"), data.get("fineness"), words)


def _steps(doc: dict[str, Any], language: str, words: dict[str, str]) -> list[Step]:
    names = _partner_names(doc)
    lot = str(doc.get("lot"))
    steps = []
    for entry in doc.get("chain") or doc.get("entries") or []:
        body = entry.get("body") or {}
        data = body.get("data")
        steps.append(
            Step(
                date=str(body.get("occurred_at", ""))[:10],
                stage=words.get(f"stage.{body.get('stage')}", str(body.get("stage"))),
                action=words.get(f"action.{body.get('action')}", str(body.get("action"))),
                partner=str(names.get(body.get("partner"), body.get("partner"))),
                lots=_lots(body),
                place=_place(data if isinstance(data, dict) else {}, language),
                detail=_detail(body, lot, words),
            )
        )
    return sorted(steps, key=lambda step: step.date)


def _upstream(doc: dict[str, Any], language: str) -> list[Upstream]:
    items = []
    for entry in doc.get("inputs") or []:
        body = entry.get("body") or {}
        grams = body.get("grams") or {}
        fine = Decimal(str(body.get("fine_gold_g") or "0"))
        shares = sorted(
            (
                (Decimal(str(value)) / fine, name.removeprefix("country:"))
                for name, value in grams.items()
                if name.startswith("country:") and fine > 0
            ),
            reverse=True,
        )
        countries = ", ".join(
            f"{country_name(code, language)} {percent(share)}" for share, code in shares
        )
        items.append(
            Upstream(
                lot=str(body.get("lot")),
                fine_gold_g=_number(body.get("fine_gold_g")),
                countries=countries,
            )
        )
    return items


def _used_up_into(doc: dict[str, Any]) -> tuple[str, ...]:
    if (doc.get("metrics") or {}).get("as_of") != "before it was consumed":
        return ()
    lot = doc.get("lot")
    for entry in reversed(doc.get("chain") or doc.get("entries") or []):
        body = entry.get("body") or {}
        if entry.get("kind") == "transformation" and any(
            i.get("lot") == lot for i in body.get("inputs") or []
        ):
            return tuple(str(o.get("lot")) for o in body.get("outputs") or [])[:20]
    return ()


def _used_up(doc: dict[str, Any], words: dict[str, str]) -> str:
    """The sentence saying which transformation used the lot up, if one did."""
    if (doc.get("metrics") or {}).get("as_of") != "before it was consumed":
        return ""
    lot = doc.get("lot")
    names = _partner_names(doc)
    last = next(
        (
            entry["body"]
            for entry in reversed(doc.get("chain") or doc.get("entries") or [])
            if entry.get("kind") == "transformation"
            and any(i.get("lot") == lot for i in entry["body"].get("inputs") or [])
        ),
        None,
    )
    if last is None:
        return ""
    outputs = [str(o.get("lot")) for o in last.get("outputs") or []]
    shown = ", ".join(outputs[:3]) + (f" (+{len(outputs) - 3})" if len(outputs) > 3 else "")
    return words["used_up"].format(
        date=str(last.get("occurred_at", ""))[:10],
        partner=names.get(last.get("partner"), last.get("partner")),
        action=words.get(f"action.{last.get('action')}", str(last.get("action"))),
        lots=shown,
    )


def card_of(doc: dict[str, Any], language: str, words: dict[str, str]) -> Card:
    metrics = doc.get("metrics") or {}
    summary = doc.get("summary") or {}
    intensity = metrics.get("carbon_intensity_kgco2e_per_kg")
    benchmark = str(metrics.get("benchmark_mined_kgco2e_per_kg", "25700"))
    checkpoint = str((doc.get("log") or {}).get("checkpoint", "")).split("\n")
    grade = metrics.get("grade")
    names = _partner_names(doc)
    custodian = summary.get("custodian")
    return Card(
        lot=str(doc.get("lot")),
        grade=grade,
        grade_colour=GRADE_COLOURS.get(str(grade), "#444444"),
        # A used-up lot holds no gold now: its figures, this one too, are as just before.
        fine_gold_g=metrics.get("fine_gold_g")
        if metrics.get("as_of") == "before it was consumed"
        else summary.get("fine_gold_g") or metrics.get("fine_gold_g"),
        carbon=None if intensity is None else _number(intensity),
        carbon_of_benchmark=None
        if intensity is None
        else min(Decimal(intensity) * 100 / Decimal(benchmark), Decimal(200)),
        benchmark=_number(benchmark),
        of_benchmark=None
        if intensity is None
        else percent(Decimal(intensity) / Decimal(benchmark)),
        recycled=percent(metrics.get("recycled_share")),
        certified=[
            (scheme, percent(share) or "")
            for scheme, share in (metrics.get("certified_shares") or {}).items()
        ],
        countries=[
            (country_name(code, language), percent(share) or "")
            for code, share in (metrics.get("countries_of_origin") or {}).items()
        ],
        conflict_free=metrics.get("conflict_free"),
        mercury_free=metrics.get("mercury_free"),
        custodian=str(names.get(custodian, custodian) or ""),
        stages=[words.get(f"stage.{s}", s) for s in metrics.get("stages_seen") or []],
        lot_detail=_stated(
            summary.get("form"), summary.get("mass_g"), summary.get("fineness"), words
        ),
        steps=_steps(doc, language, words),
        upstream=_upstream(doc, language),
        checkpoint=" · ".join(checkpoint[:2]) if len(checkpoint) > 1 else "",
        used_up=_used_up(doc, words),
        used_up_into=_used_up_into(doc),
    )


def piece_of(status: dict[str, Any], words: dict[str, str]) -> list[str]:
    """The card's lines on what binds it to its piece (PROTOCOL.md §21), in plain words."""
    lines: list[str] = []
    bar = status.get("bar")
    if bar:
        marks = f"{bar['brand']} · {bar['serial']} · {bar['gross_mass_g']} g · {bar['fineness']}"
        if "year" in bar:
            marks += f" · {bar['year']}"
        lines.append(words["piece_bar"].format(marks=marks))
        if "assay_certificate_sha256" in bar:
            lines.append(words["piece_assay"].format(digest=bar["assay_certificate_sha256"][:16]))
        if "surface_fingerprint_sha256" in bar:
            digest = bar["surface_fingerprint_sha256"][:16]
            lines.append(words["piece_fingerprint"].format(digest=digest))
    tag = status.get("tag")
    if tag:
        lines.append(words["piece_tag"].format(since=str(tag["since"])[:10]))
    claim = status.get("claim") or {}
    if claim.get("claimed"):
        lines.append(words["piece_claimed"].format(at=str(claim["claimed_at"])[:10]))
    elif claim.get("claim_code_set"):
        lines.append(words["piece_unclaimed"])
    if claim.get("refused_claims"):
        lines.append(words["piece_refused"].format(count=claim["refused_claims"]))
    return lines


_MADE = ("fabricated", "cast", "refined", "smelted", "merged", "split")


def story_of(doc: dict[str, Any], language: str, words: dict[str, str]) -> str:
    """The card's first sentence, from its figures alone: what the piece is, where its gold
    came from, how it was last made, and what is declared for it."""
    metrics = doc.get("metrics") or {}
    summary = doc.get("summary") or {}
    form = words.get(f"form.{summary.get('form')}", words["story_gold"])
    fine = metrics.get("fine_gold_g") or summary.get("fine_gold_g")
    countries = [
        country_name(code, language)
        for code in (metrics.get("countries_of_origin") or {})
        if code != "unknown"
    ]
    where = words["story_list_sep"].join(countries) if countries else words["story_unknown_place"]
    recycled = Decimal(str(metrics.get("recycled_share") or "0"))
    if recycled >= 1:
        origin = words["story_recycled"].format(where=where)
    elif recycled <= 0:
        origin = words["story_mined"].format(where=where)
    else:
        origin = words["story_mixed"].format(share=percent(recycled), where=where)
    names = _partner_names(doc)
    made = ""
    for entry in reversed(doc.get("chain") or doc.get("entries") or []):
        body = entry.get("body") or {}
        if body.get("action") in _MADE:
            action = words.get(f"action.{body.get('action')}", str(body.get("action")))
            action = action[:1].lower() + action[1:]  # mid-sentence
            partner = names.get(body.get("partner"), body.get("partner"))
            made = words["story_made"].format(action=action, partner=partner)
            break
    certified = [
        words["story_certified"].format(scheme=scheme, share=percent(share))
        for scheme, share in (metrics.get("certified_shares") or {}).items()
    ]
    vouched = (
        words["story_declared"].format(schemes=words["story_list_sep"].join(certified))
        if certified
        else words["story_no_certificate"]
    )
    sentence = words["story"].format(
        form=form,
        fine=_number(fine) if fine is not None else words["dash"],
        origin=origin,
        made=made,
        vouched=vouched,
    )
    return sentence[:1].upper() + sentence[1:]
