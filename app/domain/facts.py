"""The lot facts an event must carry: form, mass in grams, fineness in parts per thousand.

Every ``data`` member is first checked against the closed schema of
``app.ledger.provenance.facts``; this module adds which action must state which lot fact.

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
from app.ledger.provenance.balance import fine_gold
from app.ledger.provenance.facts import read_green_facts

__all__ = ["FORMS_PRODUCED", "LotFacts", "check_form", "read_facts"]

_METAL = frozenset(FORMS) - {"deposit"}

# The forms of the lots each action produces.
FORMS_PRODUCED: dict[str, frozenset[str]] = {
    "site_registered": frozenset({"deposit"}),
    "extracted": frozenset({"ore", "concentrate"}),
    "recycled_intake": frozenset({"scrap", "jewellery", "grain", "bar"}),
    "smelted": frozenset({"dore"}),
    "refined": frozenset({"bar", "grain"}),
    "cast": frozenset({"bar", "grain", "semi-finished", "jewellery"}),
    "split": _METAL,
    "merged": _METAL,
    "fabricated": frozenset({"jewellery", "semi-finished"}),
}


def check_form(action: str, form: str, *, field: str) -> None:
    if form not in FORMS:
        raise FieldError(field, f"must be one of {', '.join(FORMS)}")
    forms = FORMS_PRODUCED.get(action)
    if forms is not None and form not in forms:
        raise FieldError(field, f"{action} produces {' or '.join(sorted(forms))}, not {form}")


@dataclass(frozen=True, slots=True)
class LotFacts:
    form: str | None
    mass_g: Decimal | None
    fineness: Decimal | None

    @property
    def fine_gold_g(self) -> Decimal | None:
        if self.mass_g is None or self.fineness is None:
            return None
        return fine_gold(self.mass_g, self.fineness)


# Single-lot events that state the whole lot anew (an in-place melt keeps the lot's id).
_MASS_REQUIRED = ("extracted", "recycled_intake", "smelted", "refined", "cast")


def read_facts(
    action: str, data: dict[str, Any], *, path: str = "event.data", checked: bool = False
) -> LotFacts:
    """Validate and read ``form``, ``mass_g`` and ``fineness`` for ``action``.

    ``checked`` says ``read_green_facts(data)`` already passed. Raises FieldError
    naming the field, e.g. ``event.data.fineness: must be at most 1000``.
    """
    if not checked:
        read_green_facts(data, path=path)
    form = data.get("form")
    mass = decimal_of(data["mass_g"]) if "mass_g" in data else None
    fineness = decimal_of(data["fineness"]) if "fineness" in data else None
    if form is not None:
        check_form(action, form, field=f"{path}.form")
    if action in ("site_registered", *_MASS_REQUIRED):
        if form is None:
            raise FieldError(f"{path}.form", f"{action} must state the lot's form")
        if action in _MASS_REQUIRED:
            for name, amount in (("mass_g", mass), ("fineness", fineness)):
                if amount is None:
                    raise FieldError(f"{path}.{name}", f"{action} must state the lot's {name}")
    elif action == "assayed" and fineness is None:
        raise FieldError(f"{path}.fineness", "assayed must state the measured fineness")
    elif action != "assayed" and (form or mass or fineness):
        name = "form" if form else "mass_g" if mass else "fineness"
        raise FieldError(f"{path}.{name}", f"{action} does not change the lot's {name}")
    return LotFacts(form=form, mass_g=mass, fineness=fineness)
