"""The lot facts an event must carry: form, mass in grams, fineness in parts per thousand.

Quantities are JSON numbers read as the exact decimal RFC 8785 writes for them
(``app.ledger.canonical.decimal_of``), so 499.8 g is 499.8 g everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.domain.vocabulary import FORMS
from app.ledger.canonical import decimal_of
from app.ledger.errors import FieldError

__all__ = ["MAX_MASS_G", "LotFacts", "read_facts"]

MAX_MASS_G = Decimal(10) ** 10  # ten thousand tonnes: far above any lot of ore
MAX_MASS_DECIMALS = 3  # milligrams
MAX_FINENESS_DECIMALS = 6

# What each action must (or may) say about the lot it produces.
_REQUIRED: dict[str, tuple[frozenset[str], bool, bool]] = {
    # action: (forms allowed, mass and fineness required, form required)
    "site_registered": (frozenset({"deposit"}), False, True),
    "extracted": (frozenset({"ore", "concentrate"}), True, True),
    "recycled_intake": (frozenset({"scrap", "jewellery", "grain", "bar"}), True, True),
    "smelted": (frozenset({"dore"}), True, True),
    "refined": (frozenset({"bar", "grain"}), True, True),
    "cast": (frozenset({"bar", "grain", "semi-finished", "jewellery"}), True, True),
}


@dataclass(frozen=True, slots=True)
class LotFacts:
    form: str | None
    mass_g: Decimal | None
    fineness: Decimal | None

    @property
    def fine_gold_g(self) -> Decimal | None:
        if self.mass_g is None or self.fineness is None:
            return None
        return self.mass_g * self.fineness / 1000


def _quantity(
    data: dict[str, Any], name: str, *, path: str, upper: Decimal, decimals: int
) -> Decimal | None:
    if name not in data:
        return None
    value = data[name]
    field = f"{path}.{name}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(field, "must be a JSON number")
    amount = decimal_of(value)
    if amount <= 0:
        raise FieldError(field, f"must be greater than 0, got {amount}")
    if amount > upper:
        raise FieldError(field, f"must be at most {upper}, got {amount}")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > decimals:
        raise FieldError(field, f"at most {decimals} decimal places, got {amount}")
    return amount


def read_facts(action: str, data: dict[str, Any], *, path: str = "event.data") -> LotFacts:
    """Validate and read ``form``, ``mass_g`` and ``fineness`` for ``action``.

    Raises FieldError naming the field, e.g. ``event.data.fineness: must be at most 1000``.
    """
    form = data.get("form")
    if form is not None and form not in FORMS:
        raise FieldError(f"{path}.form", f"must be one of {', '.join(FORMS)}")
    mass = _quantity(data, "mass_g", path=path, upper=MAX_MASS_G, decimals=MAX_MASS_DECIMALS)
    fineness = _quantity(
        data, "fineness", path=path, upper=Decimal(1000), decimals=MAX_FINENESS_DECIMALS
    )
    rule = _REQUIRED.get(action)
    if rule is not None:
        forms, needs_quantities, needs_form = rule
        if needs_form and form is None:
            raise FieldError(f"{path}.form", f"{action} must state the lot's form")
        if form is not None and form not in forms:
            raise FieldError(
                f"{path}.form", f"{action} produces {' or '.join(sorted(forms))}, not {form}"
            )
        if needs_quantities:
            for name, amount in (("mass_g", mass), ("fineness", fineness)):
                if amount is None:
                    raise FieldError(f"{path}.{name}", f"{action} must state the lot's {name}")
    elif action == "assayed" and fineness is None:
        raise FieldError(f"{path}.fineness", "assayed must state the measured fineness")
    elif action not in ("assayed",) and (form or mass or fineness):
        name = "form" if form else "mass_g" if mass else "fineness"
        raise FieldError(f"{path}.{name}", f"{action} does not change the lot's {name}")
    return LotFacts(form=form, mass_g=mass, fineness=fineness)
