"""The README walkthrough's own lot, read out of README.md and posted through the API.

The events are the ``post`` lines of the walkthrough, so a test of this lot tests
what a newcomer runs, not a copy that could drift from it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.support import Actor, Ledger

README = Path(__file__).resolve().parent.parent / "README.md"
LOT = "GH-ASR-DEP-01"
_WALKTHROUGH = re.compile(r"<!-- walkthrough:start -->\n```bash\n(.*?)```", re.DOTALL)
_POST = re.compile(r'^post (\S+) "(\{\$L,.*\})"$', re.MULTILINE)
_PARTNER = re.compile(
    r"goldtrail admin partner-add --id (\S+) --name \"([^\"]+)\"(.*?)--key-file", re.DOTALL
)


def walkthrough() -> str:
    found = _WALKTHROUGH.search(README.read_text(encoding="utf-8"))
    assert found is not None
    return found.group(1)


def readme_partners(ledger: Ledger) -> dict[str, Actor]:
    """The walkthrough's four partners with their roles and countries, fresh keys."""
    actors = {}
    for partner_id, _name, options in _PARTNER.findall(walkthrough()):
        roles = re.findall(r"--role (\S+)", options)
        country = re.search(r"--country (\S+)", options)
        actors[partner_id] = ledger.partner(
            partner_id, *roles, country=country.group(1) if country else None
        )
    return actors


def readme_events() -> list[tuple[str, dict[str, Any]]]:
    """(partner, event without key and prev) for every accepted ``post`` of the walkthrough."""
    events = []
    for partner, body in _POST.findall(walkthrough()):
        text = body.replace('\\"', '"').replace("$L", f'"lot":"{LOT}"')
        events.append((partner, json.loads(text)))
    return events


def post_readme_lot(ledger: Ledger) -> dict[str, Actor]:
    actors = readme_partners(ledger)
    for partner, event in readme_events():
        ledger.post(
            actors[partner],
            LOT,
            event["stage"],
            event["action"],
            event["data"],
            occurred_at=event["occurred_at"],
        )
    return actors
