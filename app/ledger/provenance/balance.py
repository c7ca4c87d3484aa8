"""Fine-gold arithmetic and the mass balance of a transformation (docs/PROTOCOL.md §13.3).

Fine gold = mass × fineness / 1000, in exact decimals. A transformation
balances when the fine gold of its outputs plus its declared loss equals the
fine gold taken from its inputs within the assay tolerance, relative to the
inputs. The service applies these rules before it appends; the offline replay
(``app.ledger.provenance.metrics``) applies the same functions to the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Context, Decimal

from ..errors import LedgerError

__all__ = [
    "ARITHMETIC",
    "Balance",
    "BalanceError",
    "check_balance",
    "fine_gold",
    "mass_after_taking",
    "plain",
]

# 34 significant digits (IEEE 754 decimal128): every product of a mass (≤ 13
# digits) and a fineness (≤ 10 digits) is exact, and every verifier that uses
# this context gets the same quotients to the last digit.
ARITHMETIC = Context(prec=34, rounding=ROUND_HALF_EVEN)
MILLIGRAM = Decimal("0.001")


class BalanceError(LedgerError):
    """Fine gold does not add up; ``numbers`` holds the figures as decimal strings."""

    def __init__(self, rule: str, field: str, reason: str, numbers: dict[str, str]) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.field = field
        self.reason = reason
        self.numbers = numbers


def plain(amount: Decimal) -> str:
    """A decimal without exponent or trailing zeros: ``Decimal('1179.900')`` → ``1179.9``."""
    text = format(amount.normalize(ARITHMETIC), "f")
    return "0" if text in ("-0", "0") else text


def fine_gold(mass_g: Decimal, fineness: Decimal) -> Decimal:
    return ARITHMETIC.divide(ARITHMETIC.multiply(mass_g, fineness), Decimal(1000))


def mass_after_taking(mass_g: Decimal, fineness: Decimal, taken_fine_g: Decimal) -> Decimal:
    """The mass left when ``taken_fine_g`` of fine gold is taken, rounded down to the mg.

    Rounding down means what is left never holds more fine gold than the lot had.
    """
    left = ARITHMETIC.subtract(fine_gold(mass_g, fineness), taken_fine_g)
    if left <= 0:
        return Decimal(0)
    mass = ARITHMETIC.divide(ARITHMETIC.multiply(left, Decimal(1000)), fineness)
    return mass.quantize(MILLIGRAM, rounding=ROUND_DOWN)


@dataclass(frozen=True, slots=True)
class Balance:
    taken_g: Decimal
    produced_g: Decimal
    loss_g: Decimal
    tolerance: Decimal

    @property
    def allowed_g(self) -> Decimal:
        return self.taken_g * (1 + self.tolerance)

    @property
    def accounted_g(self) -> Decimal:
        return self.produced_g + self.loss_g

    def numbers(self) -> dict[str, str]:
        return {
            "inputs_fine_g": plain(self.taken_g),
            "outputs_fine_g": plain(self.produced_g),
            "declared_loss_fine_g": plain(self.loss_g),
            "difference_fine_g": plain(self.accounted_g - self.taken_g),
            "tolerance": plain(self.tolerance),
        }


def check_balance(
    taken: Sequence[Decimal], produced: Sequence[Decimal], loss: Decimal, tolerance: Decimal
) -> Balance:
    """Raise BalanceError unless outputs + loss = inputs within ``tolerance`` of the inputs."""
    balance = Balance(sum(taken, Decimal(0)), sum(produced, Decimal(0)), loss, tolerance)
    slack = balance.taken_g * tolerance
    if balance.accounted_g > balance.taken_g + slack:
        raise BalanceError(
            "mass.over_claim",
            "outputs",
            f"the outputs hold {plain(balance.produced_g)} g fine gold and the declared loss is "
            f"{plain(balance.loss_g)} g, {plain(balance.accounted_g)} g in all, but the inputs "
            f"give {plain(balance.taken_g)} g; the assay tolerance of {plain(tolerance * 100)}% "
            f"allows at most {plain(balance.taken_g + slack)} g",
            balance.numbers(),
        )
    if balance.accounted_g < balance.taken_g - slack:
        raise BalanceError(
            "mass.unaccounted",
            "data.declared_loss_fine_g",
            f"the inputs give {plain(balance.taken_g)} g fine gold, but the outputs hold "
            f"{plain(balance.produced_g)} g and the declared loss is {plain(balance.loss_g)} g: "
            f"{plain(balance.taken_g - balance.accounted_g)} g is unaccounted for; declare it as "
            "data.declared_loss_fine_g",
            balance.numbers(),
        )
    return balance
