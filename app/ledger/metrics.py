"""Green metrics of a lot, replayed from the signed entries of its genealogy (PROTOCOL.md §15).

The replay walks the entries of a lot and all its ancestors in ledger order and
keeps, for each lot, what its fine gold carries: emissions (kg CO2e) and the
grams of fine gold that are recycled, mined, artisanal, conflict-affected,
mercury-touched, of unknown status, from each country and certified under each
scheme. Every quantity moves with the gold it belongs to:

* an event's emissions are added to the lot's carried emissions; a
  transformation's are shared among its outputs by fine-gold share;
* taking ``f`` g of a lot's ``F`` g fine gold takes ``f/F`` of everything it
  carries; the melt's gram attributes are then shared among the outputs in
  proportion to their fine gold, so that the declared loss takes its share too,
  while the melt's emissions go wholly to the outputs (the loss does not carry
  any away);
* mercury used, a conflict-affected origin or a certificate valid on the step's
  date marks all the fine gold the step handles.

Everything is exact decimal arithmetic in ``ARITHMETIC``, so that any verifier
gets the same digits. The same code runs in the service and offline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from app.ledger.balance import (
    ARITHMETIC,
    BalanceError,
    check_balance,
    fine_gold,
    mass_after_taking,
    plain,
)
from app.ledger.canonical import decimal_of
from app.ledger.errors import FieldError, LedgerError
from app.ledger.events import Event
from app.ledger.facts import GreenFacts, read_green_facts
from app.ledger.records import PARTNER_TYPE, LedgerEntry
from app.ledger.transformations import Transformation

__all__ = [
    "BENCHMARK_MINED_KGCO2E_PER_KG",
    "GRADE_THRESHOLDS",
    "Carried",
    "MetricsError",
    "Replay",
    "grade",
    "lot_metrics",
    "partner_countries",
]

# S&P Global Market Intelligence (2020): about 0.8 t CO2e per troy ounce of gold
# mined in 2019, i.e. 0.8 t / 31.1035 g ≈ 25.7 t CO2e per kg (README "Green grade").
BENCHMARK_MINED_KGCO2E_PER_KG = Decimal(25700)

# Upper bounds of carbon intensity (kg CO2e per kg fine gold) for each grade.
GRADE_THRESHOLDS: tuple[tuple[str, Decimal], ...] = (
    ("A", Decimal(1000)),  # recycled-gold territory: high-value scrap ≈ 53, e-scrap ≈ 1,000
    ("B", Decimal(5000)),
    ("C", Decimal(12850)),  # half the mined average
    ("D", BENCHMARK_MINED_KGCO2E_PER_KG),  # up to the mined average
)

ORIGINS = frozenset({"extracted", "recycled_intake"})
_ZERO = Decimal(0)
_SHARE = Decimal("0.0001")
_INTENSITY = Decimal("0.1")
_GRAMS = Decimal("0.000001")


class MetricsError(LedgerError):
    """The entries do not make a genealogy the metrics can be computed from."""


def _mul(a: Decimal, b: Decimal) -> Decimal:
    return ARITHMETIC.multiply(a, b)


def _div(a: Decimal, b: Decimal) -> Decimal:
    return ARITHMETIC.divide(a, b)


@dataclass(slots=True)
class Carried:
    """What one lot's fine gold carries now."""

    fine_g: Decimal = _ZERO
    carbon_kg: Decimal = _ZERO
    recycled_g: Decimal = _ZERO
    mined_g: Decimal = _ZERO
    artisanal_g: Decimal = _ZERO
    conflict_g: Decimal = _ZERO
    conflict_unknown_g: Decimal = _ZERO
    mercury_g: Decimal = _ZERO
    mercury_unknown_g: Decimal = _ZERO
    countries: dict[str, Decimal] = field(default_factory=dict)
    certified: dict[str, Decimal] = field(default_factory=dict)
    stages: set[str] = field(default_factory=set)
    mass_g: Decimal | None = None
    fineness: Decimal | None = None
    # A deposit holds no stated gold; what it knows passes to what is extracted from it.
    country: str | None = None
    conflict_affected: bool | None = None
    last: Carried | None = None
    """The lot as it was before its last gram was taken, for a consumed lot's metrics."""

    GRAMS = (
        "recycled_g",
        "mined_g",
        "artisanal_g",
        "conflict_g",
        "conflict_unknown_g",
        "mercury_g",
        "mercury_unknown_g",
    )

    def scaled(self, ratio: Decimal, *, carbon: Decimal | None = None) -> Carried:
        """A slice: every gram attribute times ``ratio``; emissions ``carbon`` or times ratio."""
        part = Carried(
            fine_g=_mul(self.fine_g, ratio),
            carbon_kg=_mul(self.carbon_kg, ratio) if carbon is None else carbon,
            countries={k: _mul(v, ratio) for k, v in self.countries.items()},
            certified={k: _mul(v, ratio) for k, v in self.certified.items()},
            stages=set(self.stages),
        )
        for name in self.GRAMS:
            setattr(part, name, _mul(getattr(self, name), ratio))
        return part

    def copy(self) -> Carried:
        return dataclasses.replace(
            self,
            countries=dict(self.countries),
            certified=dict(self.certified),
            stages=set(self.stages),
            last=None,
        )

    def add(self, other: Carried) -> None:
        self.fine_g += other.fine_g
        self.carbon_kg += other.carbon_kg
        for name in self.GRAMS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, value in other.countries.items():
            self.countries[key] = self.countries.get(key, _ZERO) + value
        for key, value in other.certified.items():
            self.certified[key] = self.certified.get(key, _ZERO) + value
        self.stages |= other.stages

    def subtract(self, other: Carried) -> None:
        self.fine_g -= other.fine_g
        self.carbon_kg -= other.carbon_kg
        for name in self.GRAMS:
            setattr(self, name, getattr(self, name) - getattr(other, name))
        for key, value in other.countries.items():
            self.countries[key] -= value
        for key, value in other.certified.items():
            self.certified[key] -= value

    def mark(self, facts: GreenFacts, day: date) -> None:
        """Apply a step's flags to all the fine gold the lot holds now."""
        if facts.mercury_used is True:
            self.mercury_g, self.mercury_unknown_g = self.fine_g, _ZERO
        if facts.conflict_affected is True:
            self.conflict_g, self.conflict_unknown_g = self.fine_g, _ZERO
        for certificate in facts.certifications:
            if certificate.valid_on(day):
                self.certified[certificate.scheme] = self.fine_g


def _restate(lot: Carried, fine: Decimal) -> None:
    """Scale every gram attribute so the lot holds ``fine`` g; keep its emissions."""
    rescaled = lot.scaled(_div(fine, lot.fine_g), carbon=lot.carbon_kg)
    lot.fine_g = fine
    lot.countries, lot.certified = rescaled.countries, rescaled.certified
    for name in Carried.GRAMS:
        setattr(lot, name, getattr(rescaled, name))


def _day(occurred_at: str) -> date:
    return date.fromisoformat(occurred_at[:10])


def _facts(data: Mapping[str, Any], seq: int) -> GreenFacts:
    try:
        return read_green_facts(data, path=f"entry {seq} data")
    except FieldError as exc:
        raise MetricsError(f"entry {seq}: {exc}") from exc


def _quantities(data: Mapping[str, Any]) -> tuple[Decimal | None, Decimal | None]:
    mass, fineness = data.get("mass_g"), data.get("fineness")
    return (
        None if mass is None else decimal_of(mass),
        None if fineness is None else decimal_of(fineness),
    )


@dataclass(slots=True)
class Replay:
    """Replays the entries of a closed set of lots; ``lots`` maps each to what it carries."""

    closure: frozenset[str]
    partner_countries: Mapping[str, str | None] = field(default_factory=dict)
    tolerance: Decimal = Decimal("0.001")
    lots: dict[str, Carried] = field(default_factory=dict)
    lost: Carried = field(default_factory=Carried)
    """What declared and tolerated losses took away (their share of every gram attribute)."""
    emitted_kg: Decimal = _ZERO
    originated: Carried = field(default_factory=Carried)

    def run(self, entries: Iterable[LedgerEntry]) -> Replay:
        last = -1
        for entry in entries:
            if entry.seq <= last:
                raise MetricsError(f"entries out of order at seq {entry.seq}")
            last = entry.seq
            if entry.kind == "event":
                self._event(entry)
            elif entry.kind == "transformation":
                self._transformation(entry)
        return self

    def _event(self, entry: LedgerEntry) -> None:
        try:
            event = Event.from_json(entry.body, path=f"entry {entry.seq}")
        except FieldError as exc:
            raise MetricsError(str(exc)) from exc
        if event.lot not in self.closure:
            return
        facts = _facts(event.data, entry.seq)
        self.emitted_kg += facts.total_emissions_kgco2e
        lot = self.lots.get(event.lot)
        if lot is None:
            lot = self._genesis_event(event, facts)
        else:
            self._requantify(lot, event.data)
            lot.carbon_kg += facts.total_emissions_kgco2e
        lot.stages.add(event.stage)
        if lot.mass_g is None:  # a deposit: what it knows passes on at extraction
            if facts.location is not None:
                lot.country = facts.location.country
            if facts.conflict_affected is not None:
                lot.conflict_affected = facts.conflict_affected
        lot.mark(facts, _day(event.occurred_at))

    def _genesis_event(self, event: Event, facts: GreenFacts) -> Carried:
        mass, fineness = _quantities(event.data)
        lot = Carried(mass_g=mass, fineness=fineness, carbon_kg=facts.total_emissions_kgco2e)
        if mass is not None and fineness is not None:
            self._originate(lot, fine_gold(mass, fineness), event.action, facts, [], event.partner)
        self.lots[event.lot] = lot
        return lot

    def _requantify(self, lot: Carried, data: Mapping[str, Any]) -> None:
        """An in-place step restated mass or fineness: scale the grams, keep the emissions."""
        mass, fineness = _quantities(data)
        if mass is None and fineness is None:
            return
        lot.mass_g = mass if mass is not None else lot.mass_g
        lot.fineness = fineness if fineness is not None else lot.fineness
        if lot.mass_g is None or lot.fineness is None:
            return
        if lot.fine_g > 0:
            _restate(lot, fine_gold(lot.mass_g, lot.fineness))

    def _originate(
        self,
        lot: Carried,
        fine: Decimal,
        action: str,
        facts: GreenFacts,
        deposits: list[Carried],
        partner: str,
    ) -> None:
        """New gold enters: ``fine`` g, mined (from ``deposits``) or recycled."""
        recycled = action == "recycled_intake" or facts.recycled is True
        country = (
            facts.location.country
            if facts.location is not None
            else next((d.country for d in deposits if d.country), None)
            or self.partner_countries.get(partner)
            or "unknown"
        )
        conflict = facts.conflict_affected
        if conflict is None:
            conflict = next(
                (d.conflict_affected for d in deposits if d.conflict_affected is not None),
                False if recycled else None,
            )
        mercury = facts.mercury_used
        if mercury is None and recycled:
            mercury = False
        lot.fine_g = fine
        lot.recycled_g = fine if recycled else _ZERO
        lot.mined_g = _ZERO if recycled else fine
        lot.artisanal_g = fine if facts.artisanal is True and not recycled else _ZERO
        lot.conflict_g = fine if conflict is True else _ZERO
        lot.conflict_unknown_g = fine if conflict is None else _ZERO
        lot.mercury_g = fine if mercury is True else _ZERO
        lot.mercury_unknown_g = fine if mercury is None else _ZERO
        lot.countries = {country: fine}
        self.originated.add(lot.scaled(Decimal(1), carbon=_ZERO))

    def _transformation(self, entry: LedgerEntry) -> None:
        try:
            t = Transformation.from_json(entry.body, path=f"entry {entry.seq}")
        except FieldError as exc:
            raise MetricsError(str(exc)) from exc
        wanted = [o for o in t.outputs if o.lot in self.closure]
        if wanted:
            missing = [i.lot for i in t.inputs if i.lot not in self.lots]
            if missing:
                raise MetricsError(
                    f"entry {entry.seq} makes {wanted[0].lot} from {missing[0]}, whose history "
                    "the genealogy does not hold"
                )
        elif not any(i.lot in self.closure for i in t.inputs):
            return
        facts = _facts(t.data, entry.seq)
        day = _day(t.occurred_at)
        pool, deposits, taken = self._take(t, entry.seq)
        pool.carbon_kg += facts.total_emissions_kgco2e
        pool.stages.add(t.stage)
        if not wanted:
            return
        self.emitted_kg += facts.total_emissions_kgco2e
        produced = sum((o.fine_g for o in t.outputs), _ZERO)
        if t.action not in ORIGINS:
            self._check_balance(t, taken, produced, facts, entry.seq)
            self.lost.add(pool.scaled(_div(pool.fine_g - produced, pool.fine_g), carbon=_ZERO))
        for out in t.outputs:
            if out.lot not in self.closure:
                continue
            share = _div(out.fine_g, produced)
            carbon = _mul(pool.carbon_kg, share)
            if t.action in ORIGINS:
                lot = Carried(carbon_kg=carbon, stages=set(pool.stages))
                self._originate(lot, out.fine_g, t.action, facts, deposits, t.partner)
            else:
                lot = pool.scaled(_div(out.fine_g, pool.fine_g), carbon=carbon)
            lot.mass_g, lot.fineness = out.mass_g, out.fineness
            lot.mark(facts, day)
            self.lots[out.lot] = lot

    def _take(self, t: Transformation, seq: int) -> tuple[Carried, list[Carried], list[Decimal]]:
        """Take what ``t`` takes from each known input; return the melt, deposits and grams."""
        pool = Carried()
        deposits: list[Carried] = []
        taken: list[Decimal] = []
        for item in t.inputs:
            lot = self.lots.get(item.lot)
            if lot is None:
                continue
            if lot.mass_g is None or lot.fineness is None:
                deposits.append(lot.copy())
                pool.carbon_kg += lot.carbon_kg
                pool.stages |= lot.stages
                lot.carbon_kg = _ZERO
                continue
            amount = lot.fine_g if item.fine_g is None else item.fine_g
            if amount > lot.fine_g or lot.fine_g <= 0:
                raise MetricsError(
                    f"entry {seq} takes {plain(amount)} g fine gold from {item.lot}, which holds "
                    f"{plain(lot.fine_g)} g"
                )
            part = lot.scaled(_div(amount, lot.fine_g))
            part.fine_g = amount
            before = lot.copy()
            lot.subtract(part)
            self._settle(lot, amount, before)
            pool.add(part)
            taken.append(amount)
        return pool, deposits, taken

    def _settle(self, lot: Carried, amount: Decimal, before: Carried) -> None:
        """Restate what is left as the service does: mass rounded down to the milligram.

        The sliver the rounding drops counts as lost; the emissions stay with the lot.
        """
        assert before.mass_g is not None
        assert before.fineness is not None
        lot.mass_g = mass_after_taking(before.mass_g, before.fineness, amount)
        left = fine_gold(lot.mass_g, before.fineness)
        if left <= 0:
            lot.last = before
        if lot.fine_g > 0 and left < lot.fine_g:
            self.lost.add(lot.scaled(_div(lot.fine_g - left, lot.fine_g), carbon=_ZERO))
            _restate(lot, left)

    def _check_balance(
        self,
        t: Transformation,
        taken: list[Decimal],
        produced: Decimal,
        facts: GreenFacts,
        seq: int,
    ) -> None:
        try:
            check_balance(
                taken,
                [o.fine_g for o in t.outputs],
                facts.declared_loss_fine_g or _ZERO,
                self.tolerance,
            )
        except BalanceError as exc:
            raise MetricsError(f"entry {seq}: {exc}") from exc


def _share(part: Decimal, whole: Decimal) -> str:
    return plain(_div(part, whole).quantize(_SHARE, context=ARITHMETIC))


def _status(bad_g: Decimal, unknown_g: Decimal) -> bool | None:
    if bad_g > 0:
        return False
    return None if unknown_g > 0 else True


def grade(intensity: Decimal, *, conflict_free: bool | None, mercury_free: bool | None) -> str:
    """A–E by carbon intensity; conflict-affected gold is E, mercury caps at D, unknowns at C."""
    letter = next((g for g, bound in GRADE_THRESHOLDS if intensity <= bound), "E")
    if conflict_free is False:
        return "E"
    if mercury_free is False:
        letter = max(letter, "D")
    if conflict_free is None or mercury_free is None:
        letter = max(letter, "C")
    return letter


def lot_metrics(replay: Replay, lot_id: str) -> dict[str, Any]:
    """The metrics of ``lot_id`` after the replay, as JSON with decimal strings."""
    lot = replay.lots.get(lot_id)
    if lot is None:
        raise MetricsError(f"the genealogy holds no entry of lot {lot_id}")
    consumed = lot.fine_g <= 0 and lot.last is not None
    basis = lot.last if consumed and lot.last is not None else lot
    fine = basis.fine_g
    doc: dict[str, Any] = {
        "lot": lot_id,
        "fine_gold_g": plain(fine.quantize(_GRAMS, context=ARITHMETIC)),
        "as_of": "before it was consumed" if consumed else "now",
        "stages_seen": sorted(basis.stages, key=_STAGE_ORDER.index),
    }
    if fine <= 0:
        return doc | {"grade": None, "note": "the lot holds no stated gold"}
    intensity = _div(_mul(basis.carbon_kg, Decimal(1000)), fine)
    conflict_free = _status(basis.conflict_g, basis.conflict_unknown_g)
    mercury_free = _status(basis.mercury_g, basis.mercury_unknown_g)
    doc |= {
        "carbon_kgco2e": plain(basis.carbon_kg.quantize(_GRAMS, context=ARITHMETIC)),
        "carbon_intensity_kgco2e_per_kg": plain(intensity.quantize(_INTENSITY, context=ARITHMETIC)),
        "benchmark_mined_kgco2e_per_kg": plain(BENCHMARK_MINED_KGCO2E_PER_KG),
        "recycled_share": _share(basis.recycled_g, fine),
        "mined_share": _share(basis.mined_g, fine),
        "artisanal_share": _share(basis.artisanal_g, fine),
        "certified_shares": {
            scheme: _share(grams, fine)
            for scheme, grams in sorted(basis.certified.items())
            if grams > 0
        },
        "countries_of_origin": {
            country: _share(grams, fine)
            for country, grams in sorted(basis.countries.items(), key=lambda kv: (-kv[1], kv[0]))
            if grams > 0
        },
        "conflict_free": conflict_free,
        "mercury_free": mercury_free,
        "grade": grade(intensity, conflict_free=conflict_free, mercury_free=mercury_free),
    }
    return doc


_STAGE_ORDER = ["exploration", "mining", "smelting", "circulation", "sale"]


def partner_countries(registry: Iterable[LedgerEntry]) -> dict[str, str | None]:
    return {
        str(e.body.get("partner")): e.body.get("country")
        for e in registry
        if e.body.get("type") == PARTNER_TYPE
    }
