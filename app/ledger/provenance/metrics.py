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
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, localcontext
from typing import Any

from ..canonical import decimal_of
from ..errors import FieldError, LedgerError
from ..events import STAGES, Event
from ..records import PARTNER_TYPE, LedgerEntry
from .balance import (
    ARITHMETIC,
    BalanceError,
    check_balance,
    fine_gold,
    mass_after_taking,
    plain,
)
from .facts import GreenFacts, read_green_facts
from .transformations import Transformation

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


# Keys of ``Carried.grams``: grams of fine gold with a property, or from a country
# (``country:GH``), or certified under a scheme (``certified:Fairmined``).
RECYCLED, MINED, ARTISANAL = "recycled", "mined", "artisanal"
CONFLICT, CONFLICT_UNKNOWN = "conflict", "conflict_unknown"
MERCURY, MERCURY_UNKNOWN = "mercury", "mercury_unknown"
COUNTRY, CERTIFIED = "country:", "certified:"


@dataclass(slots=True)
class Carried:
    """What one lot's fine gold carries now. Arithmetic runs in ``ARITHMETIC``."""

    fine_g: Decimal = _ZERO
    carbon_kg: Decimal = _ZERO
    grams: dict[str, Decimal] = field(default_factory=dict)
    stages: set[str] = field(default_factory=set)
    mass_g: Decimal | None = None
    fineness: Decimal | None = None
    # A deposit holds no stated gold; what it knows passes to what is extracted from it.
    country: str | None = None
    conflict_affected: bool | None = None
    last: Carried | None = None
    """The lot as it was before its last gram was taken, for a consumed lot's metrics."""
    # What the lot's own chain says of it, for a passport's summary.
    form: str | None = None
    holder: str | None = None
    stage: str | None = None
    sold: bool = False

    def gram(self, key: str) -> Decimal:
        return self.grams.get(key, _ZERO)

    def copy(self) -> Carried:
        """An independent copy: the replay changes grams and stages in place."""
        return replace(self, grams=dict(self.grams), stages=set(self.stages))

    def by(self, prefix: str) -> dict[str, Decimal]:
        return {k[len(prefix) :]: v for k, v in self.grams.items() if k.startswith(prefix)}

    def scaled(self, ratio: Decimal, *, carbon: Decimal | None = None) -> Carried:
        """A slice: fine gold and grams times ``ratio``; emissions ``carbon`` or times ratio."""
        return Carried(
            fine_g=self.fine_g * ratio,
            carbon_kg=self.carbon_kg * ratio if carbon is None else carbon,
            grams={k: v * ratio for k, v in self.grams.items()},
            stages=set(self.stages),
        )

    def slice(self, ratio: Decimal) -> Carried:
        """``ratio`` of the lot's fine gold and gram attributes, without emissions."""
        return self.scaled(ratio, carbon=_ZERO)

    def add(self, other: Carried) -> None:
        self.fine_g += other.fine_g
        self.carbon_kg += other.carbon_kg
        grams = self.grams
        for key, value in other.grams.items():
            grams[key] = grams.get(key, _ZERO) + value
        self.stages |= other.stages

    def restate(self, fine: Decimal) -> None:
        """Scale every gram so the lot holds ``fine`` g; its emissions stay."""
        ratio = fine / self.fine_g
        self.grams = {k: v * ratio for k, v in self.grams.items()}
        self.fine_g = fine

    def mark(self, facts: GreenFacts, day: date) -> None:
        """Apply a step's flags to all the fine gold the lot holds now."""
        if facts.mercury_used is True:
            self.grams[MERCURY], self.grams[MERCURY_UNKNOWN] = self.fine_g, _ZERO
        if facts.conflict_affected is True:
            self.grams[CONFLICT], self.grams[CONFLICT_UNKNOWN] = self.fine_g, _ZERO
        for certificate in facts.certifications:
            if certificate.valid_on(day):
                self.grams[CERTIFIED + certificate.scheme] = self.fine_g


def _follow(lot: Carried, event: Event) -> None:
    """Custody and stage as the lot's own events move them."""
    if lot.holder is None or event.action == "received":
        lot.holder = event.partner
    if event.stage != "circulation":
        lot.stage = event.stage
    lot.sold = lot.sold or event.action == "sold"


def _day(occurred_at: str) -> date:
    return date.fromisoformat(occurred_at[:10])


Parsed = tuple[Event | Transformation, GreenFacts]
_PARSED: dict[tuple[str, bytes], Parsed] = {}
_PARSED_MAX = 200_000


def _read(entry: LedgerEntry) -> Parsed:
    """The entry's event or transformation and its facts, validated.

    Both are a pure function of the entry's exact bytes, so they are kept by
    those bytes: a lot's ancestors are shared by many lots, and every passport
    shown replays them again.
    """
    key = (entry.kind, entry.body_bytes)
    found = _PARSED.get(key)
    if found is not None:
        return found
    path = f"entry {entry.seq}"
    try:
        if entry.kind == "event":
            item: Event | Transformation = Event.from_json(entry.body, path=path, canonical=key[1])
        else:
            item = Transformation.from_json(entry.body, path=path, canonical=key[1])
        parsed = (item, read_green_facts(item.data, path=f"{path} data"))
    except FieldError as exc:
        raise MetricsError(str(exc)) from exc
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[key] = parsed
    return parsed


def forget_parsed() -> None:
    """Empty the cache of parsed entries (for measuring a cold replay)."""
    _PARSED.clear()


def _quantities(data: Mapping[str, Any]) -> tuple[Decimal | None, Decimal | None]:
    mass, fineness = data.get("mass_g"), data.get("fineness")
    return (
        None if mass is None else decimal_of(mass),
        None if fineness is None else decimal_of(fineness),
    )


@dataclass(slots=True)
class Replay:
    """Replays the entries of a closed set of lots; ``lots`` maps each to what it carries."""

    closure: frozenset[str] | None
    """The lots to follow; None follows every lot (an audit of the whole ledger)."""
    partner_countries: Mapping[str, str | None] = field(default_factory=dict)
    tolerance: Decimal = Decimal("0.001")
    lots: dict[str, Carried] = field(default_factory=dict)
    lost: Carried = field(default_factory=Carried)
    """What declared and tolerated losses took away (their share of every gram attribute)."""
    emitted_kg: Decimal = _ZERO
    originated: Carried = field(default_factory=Carried)

    def run(self, entries: Iterable[LedgerEntry]) -> Replay:
        last = -1
        with localcontext(ARITHMETIC):
            for entry in entries:
                if entry.seq <= last:
                    raise MetricsError(f"entries out of order at seq {entry.seq}")
                last = entry.seq
                if entry.kind in ("event", "transformation"):
                    item, facts = _read(entry)
                    self.apply(item, facts, seq=entry.seq)
        return self

    def follows(self, lot: str) -> bool:
        return self.closure is None or lot in self.closure

    def apply(self, item: Event | Transformation, facts: GreenFacts, *, seq: int) -> None:
        """Replay one validated entry (the caller runs in ``ARITHMETIC``)."""
        if isinstance(item, Event):
            self._event(item, facts)
        else:
            self._transformation(item, facts, seq)

    def touch(self, lot: str, stage: str) -> None:
        """Replay an event of ``lot`` at ``stage`` that states nothing the metrics use (no
        quantity, emission, place, status or certificate): as ``apply``, it adds the stage.
        """
        carried = self.lots.get(lot)
        if carried is None:
            raise MetricsError(f"an event of lot {lot}, which has no history")
        carried.stages.add(stage)
        if stage != "circulation":
            carried.stage = stage

    def _event(self, event: Event, facts: GreenFacts) -> None:
        if not self.follows(event.lot):
            return
        self.emitted_kg += facts.total_emissions_kgco2e
        lot = self.lots.get(event.lot)
        if lot is None:
            lot = self._genesis_event(event, facts)
        else:
            self._requantify(lot, event, facts)
            lot.carbon_kg += facts.total_emissions_kgco2e
        lot.stages.add(event.stage)
        _follow(lot, event)
        if lot.mass_g is None:  # a deposit: what it knows passes on at extraction
            if facts.location is not None:
                lot.country = facts.location.country
            if facts.conflict_affected is not None:
                lot.conflict_affected = facts.conflict_affected
        lot.mark(facts, _day(event.occurred_at))

    def _genesis_event(self, event: Event, facts: GreenFacts) -> Carried:
        mass, fineness = _quantities(event.data)
        lot = Carried(
            mass_g=mass,
            fineness=fineness,
            carbon_kg=facts.total_emissions_kgco2e,
            form=event.data.get("form"),
            stage=event.stage,
        )
        if mass is not None and fineness is not None:
            self._originate(lot, fine_gold(mass, fineness), event.action, facts, [], event.partner)
        self.lots[event.lot] = lot
        return lot

    def _requantify(self, lot: Carried, event: Event, facts: GreenFacts) -> None:
        """An in-place step restated mass or fineness.

        A lot that held no stated gold (a deposit mined in place) now holds new
        gold: it originates here, with what the deposit knew. A lot that held gold
        has every gram attribute scaled to its new fine gold, its emissions kept;
        what an in-place melt lost counts as lost, what an assay found beyond the
        old figure (within the tolerance) counts as entered, so that held + lost
        always equals what entered.
        """
        mass, fineness = _quantities(event.data)
        if mass is None and fineness is None:
            return
        had_gold = lot.mass_g is not None and lot.fineness is not None
        lot.mass_g = mass if mass is not None else lot.mass_g
        lot.fineness = fineness if fineness is not None else lot.fineness
        lot.form = event.data.get("form", lot.form)
        if lot.mass_g is None or lot.fineness is None:
            return
        fine = fine_gold(lot.mass_g, lot.fineness)
        if not had_gold:
            deposit = Carried(country=lot.country, conflict_affected=lot.conflict_affected)
            self._originate(lot, fine, event.action, facts, [deposit], event.partner)
            return
        if lot.fine_g <= 0:
            return
        change = lot.slice((fine - lot.fine_g).copy_abs() / lot.fine_g)
        if fine < lot.fine_g:
            self.lost.add(change)
        elif fine > lot.fine_g:
            self.originated.add(change)
        lot.restate(fine)

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
        grams = {RECYCLED if recycled else MINED: fine, COUNTRY + country: fine}
        if facts.artisanal is True and not recycled:
            grams[ARTISANAL] = fine
        if conflict is not False:
            grams[CONFLICT if conflict else CONFLICT_UNKNOWN] = fine
        if mercury is not False:
            grams[MERCURY if mercury else MERCURY_UNKNOWN] = fine
        lot.grams = grams
        self.originated.add(lot.scaled(Decimal(1), carbon=_ZERO))

    def _transformation(self, t: Transformation, facts: GreenFacts, seq: int) -> None:
        wanted = [o for o in t.outputs if self.follows(o.lot)]
        if wanted:
            missing = [i.lot for i in t.inputs if i.lot not in self.lots]
            if missing:
                raise MetricsError(
                    f"entry {seq} makes {wanted[0].lot} from {missing[0]}, whose history "
                    "the genealogy does not hold"
                )
        elif not any(self.follows(i.lot) for i in t.inputs):
            return
        day = _day(t.occurred_at)
        pool, deposits, taken = self._take(t, seq)
        pool.carbon_kg += facts.total_emissions_kgco2e
        pool.stages.add(t.stage)
        if not wanted:
            return
        self.emitted_kg += facts.total_emissions_kgco2e
        produced = sum((o.fine_g for o in t.outputs), _ZERO)
        if t.action not in ORIGINS:
            self._check_balance(t, taken, produced, facts, seq)
            self.lost.add(pool.scaled((pool.fine_g - produced) / pool.fine_g, carbon=_ZERO))
        for out in t.outputs:
            if not self.follows(out.lot):
                continue
            carbon = pool.carbon_kg * out.fine_g / produced
            if t.action in ORIGINS:
                lot = Carried(carbon_kg=carbon, stages=set(pool.stages))
                self._originate(lot, out.fine_g, t.action, facts, deposits, t.partner)
            else:
                lot = pool.scaled(out.fine_g / pool.fine_g, carbon=carbon)
                lot.fine_g = out.fine_g
            lot.mass_g, lot.fineness, lot.form = out.mass_g, out.fineness, out.form
            lot.holder, lot.stage = t.partner, self._output_stage(t)
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
                deposits.append(lot)
                pool.carbon_kg += lot.carbon_kg
                pool.stages |= lot.stages
                self.lots[item.lot] = dataclasses.replace(lot, carbon_kg=_ZERO)
                continue
            amount = lot.fine_g if item.fine_g is None else item.fine_g
            if amount > lot.fine_g or lot.fine_g <= 0:
                raise MetricsError(
                    f"entry {seq} takes {plain(amount)} g fine gold from {item.lot}, which holds "
                    f"{plain(lot.fine_g)} g"
                )
            pool.add(self._take_from(item.lot, lot, amount))
            taken.append(amount)
        return pool, deposits, taken

    def _take_from(self, name: str, lot: Carried, amount: Decimal) -> Carried:
        """Take ``amount`` g of fine gold and its share of everything the lot carries.

        What is left is restated as the service does (mass rounded down to the
        milligram); the sliver the rounding drops counts as lost, and the lot's
        remaining emissions stay with it.
        """
        assert lot.mass_g is not None
        assert lot.fineness is not None
        part = lot.scaled(amount / lot.fine_g)
        part.fine_g = amount
        mass = mass_after_taking(lot.mass_g, lot.fineness, amount)
        left = fine_gold(mass, lot.fineness)
        sliver = lot.fine_g - amount - left
        if sliver > 0:
            self.lost.add(lot.scaled(sliver / lot.fine_g, carbon=_ZERO))
        if mass == 0:
            # Used up, or but a sliver left: the emissions not taken still stay (§15.1 step 3).
            rest = Carried(
                stages=set(lot.stages), last=lot, carbon_kg=lot.carbon_kg - part.carbon_kg
            )
        else:
            rest = lot.scaled(left / lot.fine_g, carbon=lot.carbon_kg - part.carbon_kg)
            rest.fine_g = left
        rest.mass_g, rest.fineness, rest.form = mass, lot.fineness, lot.form
        rest.holder, rest.stage = lot.holder, lot.stage
        self.lots[name] = rest
        return part

    def _output_stage(self, t: Transformation) -> str:
        if t.stage != "circulation":
            return t.stage
        stages = [self.lots[i.lot].stage or "exploration" for i in t.inputs if i.lot in self.lots]
        return max(stages, key=STAGES.index, default="smelting")

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
    return plain((part / whole).quantize(_SHARE))


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
    with localcontext(ARITHMETIC):
        return doc_of(lot_id, basis, consumed=consumed)


def doc_of(lot_id: str, basis: Carried, *, consumed: bool) -> dict[str, Any]:
    """The metrics document of what ``basis`` carries (run in ``ARITHMETIC``)."""
    fine = basis.fine_g
    doc: dict[str, Any] = {
        "lot": lot_id,
        "fine_gold_g": plain(fine.quantize(_GRAMS)),
        "as_of": "before it was consumed" if consumed else "now",
        "stages_seen": sorted(basis.stages, key=STAGES.index),
    }
    if fine <= 0:
        return doc | {"grade": None, "note": "the lot holds no stated gold"}
    intensity = basis.carbon_kg * 1000 / fine
    conflict_free = _status(basis.gram(CONFLICT), basis.gram(CONFLICT_UNKNOWN))
    mercury_free = _status(basis.gram(MERCURY), basis.gram(MERCURY_UNKNOWN))
    countries = basis.by(COUNTRY)
    return doc | {
        "carbon_kgco2e": plain(basis.carbon_kg.quantize(_GRAMS)),
        "carbon_intensity_kgco2e_per_kg": plain(intensity.quantize(_INTENSITY)),
        "benchmark_mined_kgco2e_per_kg": plain(BENCHMARK_MINED_KGCO2E_PER_KG),
        "recycled_share": _share(basis.gram(RECYCLED), fine),
        "mined_share": _share(basis.gram(MINED), fine),
        "artisanal_share": _share(basis.gram(ARTISANAL), fine),
        "certified_shares": {
            scheme: _share(grams, fine)
            for scheme, grams in sorted(basis.by(CERTIFIED).items())
            if grams > 0
        },
        "countries_of_origin": {
            country: _share(grams, fine)
            for country, grams in sorted(countries.items(), key=lambda kv: (-kv[1], kv[0]))
            if grams > 0
        },
        "conflict_free": conflict_free,
        "mercury_free": mercury_free,
        "grade": grade(intensity, conflict_free=conflict_free, mercury_free=mercury_free),
    }


def partner_countries(registry: Iterable[LedgerEntry]) -> dict[str, str | None]:
    return {
        str(e.body.get("partner")): e.body.get("country")
        for e in registry
        if e.body.get("type") == PARTNER_TYPE
    }
