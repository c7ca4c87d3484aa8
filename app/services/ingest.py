"""Integrating a batch of signed entries: the rules in order, then one group commit.

What needs no order — parsing, canonical bytes, the partner's signature — is done
before an entry reaches here (``prepare_event``, ``prepare_transformation``), in
parallel across requests and workers. ``integrate`` runs inside the sequencer's
write transaction: it reads in a few statements everything the batch's rules
need (lot states, keys, partners, repeats), applies the rules to each entry in
order against the state the earlier entries of the batch left — so an entry may
extend a chain that an earlier one moved — and appends every accepted entry
through one ``Appender``. A refused entry refuses only itself and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Connection

from app.domain.binding import BINDING_ACTIONS, check_binding_event
from app.domain.facts import LotFacts, read_facts
from app.domain.rules import LotState, RuleViolation, apply_event
from app.domain.transform import apply_transformation, read_facts_of
from app.ledger.errors import FieldError, LedgerError
from app.ledger.events import Event
from app.ledger.keys import PublicKey
from app.ledger.log.merkle import CompactRange
from app.ledger.provenance.balance import Balance
from app.ledger.provenance.facts import GreenFacts, read_green_facts
from app.ledger.provenance.transformations import Transformation
from app.ledger.records import LedgerEntry
from app.models import repository
from app.models.repository import KeyRow, PartnerRow
from app.services import binding, log
from app.services.clock import utc_now
from app.services.context import LedgerContext
from app.services.errors import Forbidden, ServiceError, StaleHead
from app.services.service_keys import in_force
from app.services.summaries import Summarizer
from app.services.writer import Appender, ChainLink

__all__ = [
    "Accepted",
    "Integrated",
    "Outcome",
    "Repeat",
    "Submission",
    "Transformed",
    "Unverified",
    "integrate",
    "usable_key",
]


@dataclass(frozen=True, slots=True)
class Submission:
    """A partner's signed event or transformation, parsed, its facts read and its signature
    verified: everything that needs no order, done before the sequencer."""

    signed: Event | Transformation
    signature: bytes
    partner: PartnerRow
    facts: GreenFacts
    """The facts of ``data`` the metrics use."""
    lot_facts: LotFacts | None
    """For an event: the lot's form, mass and fineness it states."""

    @classmethod
    def of(
        cls, signed: Event | Transformation, signature: bytes, partner: PartnerRow
    ) -> Submission:
        """Read the facts (FieldError if they do not hold) of a verified entry."""
        if isinstance(signed, Event):
            data = dict(signed.data)
            facts = read_green_facts(data, path="event.data")
            stated = read_facts(signed.action, data, checked=True)
            return cls(signed, signature, partner, facts, stated)
        return cls(signed, signature, partner, read_facts_of(signed), None)

    @property
    def kind(self) -> str:
        return "event" if isinstance(self.signed, Event) else "transformation"

    @property
    def hash(self) -> str:
        return self.signed.hash


@dataclass(frozen=True, slots=True)
class Unverified:
    """A submission whose partner signature is still to be checked with ``public_key``.

    Checking it is pure Ed25519 work that releases the GIL, so a batch checks many
    on several threads at once.
    """

    submission: Submission
    public_key: PublicKey

    def verify(self) -> Submission:
        """The submission if its signature holds; else InvalidSignature."""
        signed = self.submission.signed
        self.public_key.verify(
            signed.canonical,
            self.submission.signature,
            what=f"signed by {signed.partner} with key {signed.key}",
        )
        return self.submission


@dataclass(frozen=True, slots=True)
class Accepted:
    """An event appended (``created``) or found already accepted."""

    entry: LedgerEntry
    lot: str
    lot_seq: int
    created: bool


@dataclass(frozen=True, slots=True)
class Transformed:
    entry: LedgerEntry
    transformation: Transformation
    inputs: tuple[LotState, ...]
    outputs: tuple[LotState, ...]
    taken: tuple[Decimal | None, ...]
    balance: Balance | None
    created: bool


@dataclass(frozen=True, slots=True)
class Repeat:
    """This exact entry was accepted before; the caller reads how it stands now."""

    entry: LedgerEntry


Outcome = Accepted | Transformed | Repeat | LedgerError


def usable_key(key: KeyRow | None, partner: str, key_id: str, *, field: str) -> KeyRow:
    """The registered, unrevoked key ``key_id`` of ``partner``, or raise naming ``field``."""
    if key is None:
        raise FieldError(field, f"no registered key {key_id}")
    if key.partner_id != partner:
        raise Forbidden("key.not_owner", f"key {key_id} is not {partner}'s key", field=field)
    if key.revoked_seq is not None:
        raise Forbidden(
            "key.revoked",
            f"key {key_id} was revoked at {key.revoked_at} (ledger seq {key.revoked_seq}); "
            "entries signed with it are no longer accepted",
            field=field,
        )
    return key


@dataclass(slots=True)
class _Book:
    """What the batch's rules read, fetched once, and what earlier entries changed."""

    conn: Connection
    lots: dict[str, LotState | None]
    keys: dict[str, KeyRow]
    partners: set[str]
    summarizer: Summarizer
    done: dict[str, Accepted | Transformed] = field(default_factory=dict)
    """Entries of the batch appended so far, by hash."""
    bindings: dict[tuple[str, str], str | None] = field(default_factory=dict)
    """What binding entries of the batch bound so far: (kind, key) → lot, or None."""

    def stored(self, entry_hash: str) -> LedgerEntry | None:
        """The entry with this hash if the ledger holds it already.

        Asked only of an entry the rules refused: a repeat always names a head that
        has moved on (its own acceptance moved it), so it is always refused first.
        """
        return repository.entry_by_hash(self.conn, entry_hash)

    def lot(self, lot_id: str) -> LotState | None:
        return self.lots.get(lot_id)


def _named(submissions: Sequence[Submission]) -> tuple[set[str], set[str], set[str]]:
    lots: set[str] = set()
    keys: set[str] = set()
    partners: set[str] = set()
    for sub in submissions:
        keys.add(sub.signed.key)
        if isinstance(sub.signed, Event):
            lots.add(sub.signed.lot)
            recipient = sub.signed.data.get("to")
            if isinstance(recipient, str):
                partners.add(recipient)
        else:
            lots.update(sub.signed.lots)
    return lots, keys, partners


def _book(
    conn: Connection, ctx: LedgerContext, submissions: Sequence[Submission]
) -> tuple[_Book, Appender]:
    """What the batch's rules read (one round trip on PostgreSQL), and its appender."""
    lots, keys, partners = _named(submissions)
    state = repository.batch_state(conn, lots=lots, keys=keys, partners=partners)
    rotated = state.service_key not in (None, ctx.service_key.public.key_id)
    # The time is read under the sequencer lock, so recorded_at never goes back along seq.
    appender = Appender(
        conn,
        service_key=in_force(conn, ctx) if rotated else ctx.service_key,
        now=utc_now(),
        size=state.next_seq,
        known=ctx.memory.tree,
    )
    summarizer = Summarizer.start(
        appender,
        state.summaries,
        tolerance=ctx.settings.assay_tolerance,
        parsed=ctx.memory.summaries,
    )
    book = _Book(
        conn=conn,
        lots={lot: state.lots.get(lot) for lot in lots},
        keys=state.keys,
        partners=state.partners,
        summarizer=summarizer,
    )
    return book, appender


def _event(
    book: _Book, appender: Appender, ctx: LedgerContext, sub: Submission, event: Event
) -> Accepted:
    settings = ctx.settings
    usable_key(book.keys.get(event.key), event.partner, event.key, field="event.key")
    state = book.lot(event.lot)
    head = None if state is None else state.head
    if event.prev != head:
        raise StaleHead(
            lot=event.lot, prev=event.prev, head=head, length=0 if state is None else state.length
        )
    next_state = apply_event(
        state,
        event,
        roles=sub.partner.roles,
        partner_exists=book.partners.__contains__,
        now=appender.now,
        clock_skew=timedelta(seconds=settings.clock_skew_seconds),
        assay_tolerance=settings.assay_tolerance,
        facts=sub.lot_facts,
    )
    if state is not None and event.action in BINDING_ACTIONS:
        check_binding_event(event, state)
        binding.check_bound(book.conn, book.bindings, event)
    lot_seq = next_state.length - 1
    entry = appender.append_signed(
        kind="event",
        signed=event,
        signature=sub.signature,
        links=[ChainLink(event.lot, lot_seq, event.prev)],
        states=[next_state],
    )
    book.lots[event.lot] = next_state
    book.summarizer.partner(sub.partner.id, sub.partner.country)
    book.summarizer.after_event(appender, event, sub.facts, seq=entry.seq, length=next_state.length)
    return Accepted(entry=entry, lot=event.lot, lot_seq=lot_seq, created=True)


def _transformation(
    book: _Book, appender: Appender, ctx: LedgerContext, sub: Submission, t: Transformation
) -> Transformed:
    settings = ctx.settings
    usable_key(book.keys.get(t.key), t.partner, t.key, field="transformation.key")
    outcome = apply_transformation(
        t,
        [book.lot(i.lot) for i in t.inputs],
        roles=sub.partner.roles,
        output_exists=lambda lot: book.lot(lot) is not None,
        now=appender.now,
        clock_skew=timedelta(seconds=settings.clock_skew_seconds),
        assay_tolerance=settings.assay_tolerance,
        facts=sub.facts,
    )
    links = [
        ChainLink(i.lot, state.length - 1, i.prev, "input")
        for i, state in zip(t.inputs, outcome.inputs, strict=True)
    ] + [ChainLink(state.lot, 0, None, "output") for state in outcome.outputs]
    states = [*outcome.inputs, *outcome.outputs]
    summarizer = book.summarizer
    summarizer.partner(sub.partner.id, sub.partner.country)
    before = {i.lot: state.length for i, state in zip(t.inputs, book_states(book, t), strict=True)}
    summarized = summarizer.before_transformation(appender, t, before)
    entry = appender.append_signed(
        kind="transformation", signed=t, signature=sub.signature, links=links, states=states
    )
    for state in states:
        book.lots[state.lot] = state
    if summarized:
        summarizer.after_transformation(
            appender,
            t,
            sub.facts,
            seq=entry.seq,
            lengths={state.lot: state.length for state in states},
        )
    return Transformed(
        entry=entry,
        transformation=t,
        inputs=outcome.inputs,
        outputs=outcome.outputs,
        taken=outcome.taken,
        balance=outcome.balance,
        created=True,
    )


def book_states(book: _Book, t: Transformation) -> list[LotState]:
    """The inputs' states before ``t`` (the rules found each)."""
    states = [book.lot(i.lot) for i in t.inputs]
    assert all(state is not None for state in states)
    return [state for state in states if state is not None]


def _one(book: _Book, appender: Appender, ctx: LedgerContext, sub: Submission) -> Outcome:
    earlier = book.done.get(sub.hash)
    if earlier is not None:
        return Repeat(earlier.entry)
    try:
        outcome: Accepted | Transformed
        if isinstance(sub.signed, Event):
            outcome = _event(book, appender, ctx, sub, sub.signed)
        else:
            outcome = _transformation(book, appender, ctx, sub, sub.signed)
    except (RuleViolation, ServiceError, FieldError) as exc:
        stored = book.stored(sub.hash)
        return exc if stored is None else Repeat(stored)
    book.done[sub.hash] = outcome
    return outcome


@dataclass(frozen=True, slots=True)
class Integrated:
    outcomes: list[Outcome]
    tree: CompactRange
    """The tree after the batch: for ``committed`` once the transaction has committed."""
    appended: list[LedgerEntry] = field(default_factory=list)
    """Every entry the batch appended, summaries and registry records included."""
    checkpoint_size: int | None = None
    """The size of the checkpoint signed in the same transaction, if one was."""

    def committed(self, ctx: LedgerContext) -> list[Outcome]:
        """Remember the tree for the next batch (the transaction committed); the outcomes."""
        ctx.memory.tree = self.tree
        return self.outcomes


def integrate(
    conn: Connection, ctx: LedgerContext, submissions: Sequence[Submission]
) -> Integrated:
    """Apply and append ``submissions`` in order, in the caller's write transaction.

    The result holds one outcome per submission: what was appended, a repeat of an
    entry accepted before, or the error that refused it (nothing of it is written).
    Signs a checkpoint in the same transaction when one is due.
    """
    book, appender = _book(conn, ctx, submissions)
    outcomes = [_one(book, appender, ctx, sub) for sub in submissions]
    signed = None
    if appender.appended:
        appender.flush()
        signed = log.checkpoint_if_due(
            conn, ctx, size=appender.size, root=appender.checkpoint_root, now=appender.now
        )
    return Integrated(
        outcomes,
        appender.tree,
        list(appender.appended),
        None if signed is None else signed.size,
    )
