"""Logging lot summaries as a batch appends entries (PROTOCOL.md §18).

The batch's ``Summarizer`` starts from the latest logged summary of every lot
the batch names and replays each accepted entry on it with the same code an
offline verifier runs (``app.ledger.provenance.metrics.Replay``). After an entry, every lot
whose summary would now say something else gets a new one; before a
transformation, every input whose latest summary is not at the head the
transformation names gets one there (the custody events since changed nothing),
so that a passport can name, for each input, the summary at exactly that head.

A lot that existed before summaries were logged has none until ``backfill``;
entries that touch such a lot log none, and neither do the lots they make.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from app.ledger.events import Event
from app.ledger.provenance.balance import ARITHMETIC
from app.ledger.provenance.facts import GreenFacts
from app.ledger.provenance.metrics import Carried, Replay
from app.ledger.provenance.summaries import carried_of, content_of, summary_body
from app.ledger.provenance.transformations import Transformation
from app.models import repository
from app.services.writer import Appender

__all__ = ["Summarizer"]


@dataclass(frozen=True, slots=True)
class Parsed:
    """A logged summary as the summarizer starts from it (never changed: copied for use)."""

    carried: Carried
    content: dict[str, Any]
    head: str


_PARSED_KEPT = 8192


@dataclass(slots=True)
class Summarizer:
    replay: Replay
    said: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What each lot's latest summary says (``content_of``)."""
    head: dict[str, str] = field(default_factory=dict)
    """The head each lot's latest summary is at."""
    unsummarized: set[str] = field(default_factory=set)
    countries: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        appender: Appender,
        summaries: dict[str, tuple[int, str] | None],
        *,
        tolerance: Decimal,
        parsed: dict[int, Parsed],
    ) -> Summarizer:
        """From the latest summaries of the lots the batch names (``BatchState.summaries``).

        ``parsed`` keeps summaries already parsed by seq (a process's memory): validating a
        stored summary again for every batch that touches its lot cost a tenth of the
        write path.
        """
        countries: dict[str, str | None] = {}
        summarizer = cls(Replay(None, countries, tolerance), countries=countries)
        for lot, latest in summaries.items():
            appender.summary_seq[lot] = None if latest is None else latest[0]
            if latest is None:
                summarizer.unsummarized.add(lot)
                continue
            seq, text = latest
            known = parsed.get(seq)
            if known is None:
                body = repository.summary_body_of(text)
                known = Parsed(
                    carried_of(body, path=f"summary of {lot}"), content_of(body), body["head"]
                )
                if len(parsed) >= _PARSED_KEPT:
                    parsed.pop(next(iter(parsed)))
                parsed[seq] = known
            summarizer.replay.lots[lot] = known.carried.copy()
            summarizer.said[lot] = known.content
            summarizer.head[lot] = known.head
        return summarizer

    def _log(
        self, appender: Appender, lot: str, *, head: str, length: int, again: bool = False
    ) -> None:
        carried = self.replay.lots[lot]
        body = summary_body(lot, head=head, length=length, carried=carried)
        content = content_of(body)
        if content == self.said.get(lot) and not again:
            return
        appender.append_summary(body)
        self.said[lot] = content
        self.head[lot] = head

    def after_event(
        self, appender: Appender, event: Event, facts: GreenFacts, *, seq: int, length: int
    ) -> None:
        """Replay an accepted event (before it is appended at ``seq``), then summarize."""
        if event.lot in self.unsummarized:
            return
        with localcontext(ARITHMETIC):
            self.replay.apply(event, facts, seq=seq)
        self._log(appender, event.lot, head=event.hash, length=length)

    def before_transformation(
        self, appender: Appender, t: Transformation, lengths: dict[str, int]
    ) -> bool:
        """Summaries of the inputs at the heads ``t`` names; False if a lot has none to start
        from (then ``t``'s outputs will have none either). ``lengths`` are the inputs'."""
        if any(lot in self.unsummarized for lot in t.lots):
            self.unsummarized.update(o.lot for o in t.outputs)
            return False
        for item in t.inputs:
            if self.head.get(item.lot) != item.prev:
                self._log(appender, item.lot, head=item.prev, length=lengths[item.lot], again=True)
        return True

    def after_transformation(
        self,
        appender: Appender,
        t: Transformation,
        facts: GreenFacts,
        *,
        seq: int,
        lengths: dict[str, int],
    ) -> None:
        """Replay ``t`` (appended at ``seq``) and summarize every lot it names."""
        with localcontext(ARITHMETIC):
            self.replay.apply(t, facts, seq=seq)
        for lot in t.lots:
            self._log(appender, lot, head=t.hash, length=lengths[lot])

    def partner(self, partner: str, country: str | None) -> None:
        """The poster's registered country: where gold came from, if the entry says nowhere."""
        self.countries[partner] = country

    def carried(self, lot: str) -> Carried | None:
        return self.replay.lots.get(lot)
