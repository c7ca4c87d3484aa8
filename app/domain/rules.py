"""The stage machine and custody rules for one lot.

``apply_event`` takes a lot's state (or None for a new lot) and a validated
event and returns the lot's next state, or raises ``RuleViolation`` naming the
rule and why. It is pure: the caller supplies the partner's roles and a way to
ask whether a partner exists.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from app.domain.facts import LotFacts, read_facts
from app.domain.vocabulary import ACTION_ROLES, GENESIS_ACTIONS, PRODUCTION_RANK
from app.ledger.errors import FieldError, LedgerError
from app.ledger.events import PARTNER_ID, Event, parse_timestamp

__all__ = ["LotState", "RuleViolation", "apply_event", "check_role", "check_time"]


class RuleViolation(LedgerError):
    """A domain rule refuses the event. ``rule`` is a stable dotted code."""

    def __init__(
        self,
        rule: str,
        reason: str,
        *,
        field: str = "event",
        status: int = 422,
        numbers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason
        self.field = field
        self.status = status
        self.numbers = numbers


@dataclass(frozen=True, slots=True)
class LotState:
    """What the ledger says of a lot after its last event."""

    lot: str
    form: str | None
    mass_g: Decimal | None
    fineness: Decimal | None
    custodian: str
    pending_to: str | None
    stage: str
    last_action: str
    last_occurred_at: str
    head: str
    length: int
    consumed_by: str | None = None
    """Hash of the transformation that took all of the lot's gold, if one did."""

    @property
    def fine_gold_g(self) -> Decimal | None:
        return LotFacts(self.form, self.mass_g, self.fineness).fine_gold_g

    @property
    def closed(self) -> bool:
        return self.stage == "sale" or self.consumed_by is not None

    @property
    def closed_rule(self) -> str:
        return "stage.closed" if self.consumed_by is None else "lot.closed"

    def why_closed(self) -> str:
        if self.consumed_by is not None:
            return (
                f"lot {self.lot} was fully consumed by {self.last_action} "
                f"(entry {self.consumed_by[:16]}…, {self.last_occurred_at}); it accepts no "
                "further events"
            )
        return f"lot {self.lot} was sold ({self.last_action}); it accepts no further events"


def check_role(action: str, partner: str, roles: Set[str], *, field: str) -> None:
    allowed = ACTION_ROLES[action]
    if not allowed & set(roles):
        raise RuleViolation(
            "role.not_permitted",
            f"{action} may be posted by {', '.join(sorted(allowed))}; "
            f"{partner} is {', '.join(sorted(roles)) or 'without a role'}",
            field=field,
            status=403,
        )


# Custody records describe steps taken while the ledger keeps them; a date before this
# is a typo or a forgery, never a real step (docs/PROTOCOL.md §8).
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)


def check_time(
    occurred_at: str, state: LotState | None, now: datetime, skew: timedelta, *, field: str
) -> None:
    occurred = parse_timestamp(occurred_at, field=field)
    if occurred < EARLIEST_OCCURRED_AT:
        raise RuleViolation(
            "time.too_early",
            f"occurred_at {occurred_at} is before {EARLIEST_OCCURRED_AT:%Y-%m-%d}, "
            "the earliest time an entry may state",
            field=field,
        )
    if occurred > now + skew:
        raise RuleViolation(
            "time.future",
            f"occurred_at {occurred_at} is more than {int(skew.total_seconds())} s ahead "
            "of the service clock",
            field=field,
        )
    if state is not None:
        last = parse_timestamp(state.last_occurred_at, field="lot.last_occurred_at")
        if occurred < last:
            raise RuleViolation(
                "time.order",
                f"occurred_at {occurred_at} is before lot {state.lot}'s last event "
                f"({state.last_occurred_at})",
                field=field,
            )


def _check_stage(event: Event, state: LotState) -> None:
    if state.closed:
        raise RuleViolation(state.closed_rule, state.why_closed(), field="event.lot", status=409)
    if event.stage == "circulation":
        return
    if PRODUCTION_RANK[event.stage] < PRODUCTION_RANK[state.stage]:
        raise RuleViolation(
            "stage.backwards",
            f"lot {state.lot} has reached {state.stage}; a {event.stage} event would go back",
            field="event.stage",
        )


def _check_custody(
    event: Event, state: LotState, partner_exists: Callable[[str], bool]
) -> str | None:
    """Return the lot's next pending recipient, or raise."""
    if event.action == "received":
        if state.pending_to is None:
            raise RuleViolation(
                "custody.no_transfer",
                f"lot {state.lot} has no transfer pending to receive",
                field="event.action",
                status=409,
            )
        if state.pending_to != event.partner:
            raise RuleViolation(
                "custody.not_recipient",
                f"lot {state.lot} is being transferred to {state.pending_to}, not {event.partner}",
                field="event.partner",
                status=403,
            )
        return None
    if event.partner != state.custodian:
        raise RuleViolation(
            "custody.not_custodian",
            f"lot {state.lot} is in the custody of {state.custodian}, not {event.partner}",
            field="event.partner",
            status=403,
        )
    if event.action == "transferred":
        return _transfer_recipient(event, state, partner_exists)
    if state.pending_to is not None:
        raise RuleViolation(
            "custody.transfer_pending",
            f"lot {state.lot} is being transferred to {state.pending_to}; only its 'received' "
            "or a new 'transferred' may follow",
            field="event.action",
            status=409,
        )
    return None


def _transfer_recipient(
    event: Event, state: LotState, partner_exists: Callable[[str], bool]
) -> str:
    recipient = event.data.get("to")
    if not isinstance(recipient, str) or not PARTNER_ID.fullmatch(recipient):
        raise FieldError("event.data.to", "a transfer must name the receiving partner's id")
    if recipient == state.custodian:
        raise RuleViolation(
            "custody.self_transfer",
            f"{recipient} already holds lot {state.lot}",
            field="event.data.to",
        )
    if not partner_exists(recipient):
        raise RuleViolation(
            "custody.unknown_recipient",
            f"no registered partner {recipient!r}",
            field="event.data.to",
        )
    return recipient


def _check_fine_gold(state: LotState, facts: LotFacts, tolerance: Decimal) -> None:
    before = state.fine_gold_g
    after = LotFacts(
        facts.form or state.form,
        facts.mass_g if facts.mass_g is not None else state.mass_g,
        facts.fineness if facts.fineness is not None else state.fineness,
    ).fine_gold_g
    if before is None or after is None:
        return
    if after > before * (1 + tolerance):
        raise RuleViolation(
            "mass.fine_gold_increase",
            f"lot {state.lot} held {before.normalize()} g fine gold; the event claims "
            f"{after.normalize()} g, more than the assay tolerance of {tolerance * 100}% allows",
            field="event.data",
        )


def apply_event(
    state: LotState | None,
    event: Event,
    *,
    roles: Set[str],
    partner_exists: Callable[[str], bool],
    now: datetime,
    clock_skew: timedelta = timedelta(minutes=5),
    assay_tolerance: Decimal = Decimal("0.001"),
    facts: LotFacts | None = None,
) -> LotState:
    """The lot's state after ``event``; raises RuleViolation or FieldError if refused.

    ``facts`` may pass ``read_facts(event.action, event.data)`` when already read.
    """
    check_role(event.action, event.partner, roles, field="event.action")
    if facts is None:
        facts = read_facts(event.action, dict(event.data))
    if state is None:
        if event.action not in GENESIS_ACTIONS:
            raise RuleViolation(
                "lot.unknown",
                f"lot {event.lot} does not exist; a new lot starts with "
                f"{', '.join(sorted(GENESIS_ACTIONS))}",
                field="event.lot",
                status=404,
            )
        check_time(event.occurred_at, None, now, clock_skew, field="event.occurred_at")
        return LotState(
            lot=event.lot,
            form=facts.form,
            mass_g=facts.mass_g,
            fineness=facts.fineness,
            custodian=event.partner,
            pending_to=None,
            stage=event.stage,
            last_action=event.action,
            last_occurred_at=event.occurred_at,
            head=event.hash,
            length=1,
        )
    if event.action in GENESIS_ACTIONS - {"extracted"}:
        raise RuleViolation(
            "lot.exists",
            f"lot {event.lot} already exists; {event.action} only starts a new lot",
            field="event.action",
            status=409,
        )
    _check_stage(event, state)
    pending_to = _check_custody(event, state, partner_exists)
    check_time(event.occurred_at, state, now, clock_skew, field="event.occurred_at")
    _check_fine_gold(state, facts, assay_tolerance)
    return replace(
        state,
        form=facts.form or state.form,
        mass_g=facts.mass_g if facts.mass_g is not None else state.mass_g,
        fineness=facts.fineness if facts.fineness is not None else state.fineness,
        custodian=event.partner if event.action == "received" else state.custodian,
        pending_to=pending_to,
        stage=state.stage if event.stage == "circulation" else event.stage,
        last_action=event.action,
        last_occurred_at=event.occurred_at,
        head=event.hash,
        length=state.length + 1,
    )
