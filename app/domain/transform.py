"""The rules for a transformation: who may post it, which lots it may take, and the balance.

``apply_transformation`` takes the current state of every input lot (None if
the lot does not exist) and returns the next state of each input and the new
output lots, or raises ``RuleViolation`` naming the rule, the field and the
numbers that do not add up. It is pure, like ``app.domain.rules.apply_event``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from app.domain.facts import check_form
from app.domain.rules import LotState, RuleViolation, check_role, check_time
from app.domain.vocabulary import PRODUCTION_RANK
from app.ledger.errors import FieldError
from app.ledger.provenance.balance import (
    Balance,
    BalanceError,
    check_balance,
    mass_after_taking,
    plain,
)
from app.ledger.provenance.facts import GreenFacts, read_green_facts
from app.ledger.provenance.transformations import Transformation

__all__ = ["ORIGIN_ACTIONS", "Outcome", "apply_transformation", "read_facts_of"]

# Transformations where gold enters the ledger: nothing is taken from an input.
ORIGIN_ACTIONS = frozenset({"extracted", "recycled_intake"})


@dataclass(frozen=True, slots=True)
class Outcome:
    inputs: tuple[LotState, ...]
    """The next state of each input lot, in the order the transformation names them."""
    outputs: tuple[LotState, ...]
    taken: tuple[Decimal | None, ...]
    """Fine gold taken from each input (None from a deposit, which holds no stated gold)."""
    balance: Balance | None


def read_facts_of(t: Transformation) -> GreenFacts:
    """The transformation's facts, and the forms of its outputs, checked (no state needed)."""
    facts = read_green_facts(t.data, path="transformation.data")
    for i, out in enumerate(t.outputs):
        check_form(t.action, out.form, field=f"transformation.outputs[{i}].form")
    return facts


def _check_holder(t: Transformation, i: int, state: LotState | None) -> LotState:
    """Input ``i`` as it stands, if ``t.partner`` may transform it now; else raise."""
    field = f"transformation.inputs[{i}]"
    lot = t.inputs[i].lot
    if state is None:
        raise RuleViolation("lot.unknown", f"no lot {lot}", field=f"{field}.lot", status=404)
    if state.closed:
        raise RuleViolation(state.closed_rule, state.why_closed(), field=f"{field}.lot", status=409)
    if state.custodian != t.partner:
        raise RuleViolation(
            "custody.not_custodian",
            f"lot {lot} is in the custody of {state.custodian}, not {t.partner}",
            field=f"{field}.lot",
            status=403,
        )
    if state.pending_to is not None:
        raise RuleViolation(
            "custody.transfer_pending",
            f"lot {lot} is being transferred to {state.pending_to}",
            field=f"{field}.lot",
            status=409,
        )
    if t.inputs[i].prev != state.head:
        raise RuleViolation(
            "chain.stale_prev",
            f"{field}.prev is {t.inputs[i].prev}, but lot {lot}'s head is {state.head} after "
            f"{state.length} events; sign the transformation again over the current head",
            field=f"{field}.prev",
            status=409,
        )
    return state


def _check_input(t: Transformation, i: int, state: LotState) -> Decimal | None:
    """The fine gold the transformation takes from input ``i``, or raise."""
    field = f"transformation.inputs[{i}]"
    wanted = t.inputs[i].fine_g
    if t.stage != "circulation" and PRODUCTION_RANK[t.stage] < PRODUCTION_RANK[state.stage]:
        raise RuleViolation(
            "stage.backwards",
            f"lot {state.lot} has reached {state.stage}; a {t.stage} step would go back",
            field=f"{field}.lot",
        )
    if t.action == "extracted":
        if state.form != "deposit":
            raise RuleViolation(
                "input.form",
                f"extracted takes deposits; lot {state.lot} is {state.form}",
                field=f"{field}.lot",
            )
        if wanted is not None:
            raise FieldError(f"{field}.fine_g", "a deposit holds no stated gold to take from")
        return None
    holds = state.fine_gold_g
    if holds is None or state.form == "deposit":
        raise RuleViolation(
            "input.form",
            f"lot {state.lot} ({state.form}) states no mass and fineness; {t.action} needs gold",
            field=f"{field}.lot",
        )
    if wanted is None:
        return holds
    if wanted > holds:
        raise RuleViolation(
            "mass.overdraw",
            f"{field}.fine_g asks for {plain(wanted)} g fine gold, but lot {state.lot} holds "
            f"{plain(holds)} g",
            field=f"{field}.fine_g",
            numbers={"requested_fine_g": plain(wanted), "lot_fine_g": plain(holds)},
        )
    return wanted


def _after_input(t: Transformation, state: LotState, taken: Decimal | None) -> LotState:
    moved = replace(
        state,
        last_action=t.action,
        last_occurred_at=t.occurred_at,
        head=t.hash,
        length=state.length + 1,
    )
    if taken is None:
        return moved
    assert state.mass_g is not None
    assert state.fineness is not None
    mass = mass_after_taking(state.mass_g, state.fineness, taken)
    return replace(moved, mass_g=mass, consumed_by=t.hash if mass == 0 else None)


def _output_stage(t: Transformation, inputs: Sequence[LotState]) -> str:
    if t.stage != "circulation":
        return t.stage
    return max((s.stage for s in inputs), key=lambda stage: PRODUCTION_RANK.get(stage, -1))


def apply_transformation(
    t: Transformation,
    inputs: Sequence[LotState | None],
    *,
    roles: Set[str],
    output_exists: Callable[[str], bool],
    now: datetime,
    clock_skew: timedelta = timedelta(minutes=5),
    assay_tolerance: Decimal = Decimal("0.001"),
    facts: GreenFacts | None = None,
) -> Outcome:
    """The lots after ``t``; raises RuleViolation or FieldError if it is refused.

    ``facts`` may pass ``read_facts_of(t)`` when already read.
    """
    check_role(t.action, t.partner, roles, field="transformation.action")
    if facts is None:
        facts = read_facts_of(t)
    states: list[LotState] = []
    for i, candidate in enumerate(inputs):
        state = _check_holder(t, i, candidate)
        check_time(t.occurred_at, state, now, clock_skew, field="transformation.occurred_at")
        states.append(state)
    if not states:
        check_time(t.occurred_at, None, now, clock_skew, field="transformation.occurred_at")
    taken = tuple(_check_input(t, i, state) for i, state in enumerate(states))
    for i, out in enumerate(t.outputs):
        if output_exists(out.lot):
            raise RuleViolation(
                "lot.exists",
                f"lot {out.lot} already exists; an output must be a new lot",
                field=f"transformation.outputs[{i}].lot",
                status=409,
            )
    balance = None
    if t.action not in ORIGIN_ACTIONS:
        try:
            balance = check_balance(
                [amount for amount in taken if amount is not None],
                [out.fine_g for out in t.outputs],
                facts.declared_loss_fine_g or Decimal(0),
                assay_tolerance,
            )
        except BalanceError as exc:
            raise RuleViolation(
                exc.rule, exc.reason, field=f"transformation.{exc.field}", numbers=exc.numbers
            ) from exc
    elif facts.declared_loss_fine_g is not None:
        raise FieldError(
            "transformation.data.declared_loss_fine_g",
            f"{t.action} brings new gold into the ledger; there is no input to lose gold from",
        )
    stage = _output_stage(t, states)
    outputs = tuple(
        LotState(
            lot=out.lot,
            form=out.form,
            mass_g=out.mass_g,
            fineness=out.fineness,
            custodian=t.partner,
            pending_to=None,
            stage=stage,
            last_action=t.action,
            last_occurred_at=t.occurred_at,
            head=t.hash,
            length=1,
        )
        for out in t.outputs
    )
    return Outcome(
        inputs=tuple(_after_input(t, s, amount) for s, amount in zip(states, taken, strict=True)),
        outputs=outputs,
        taken=taken,
        balance=balance,
    )
