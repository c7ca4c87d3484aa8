"""A log monitor: the latest checkpoint verifies, and the log never forks, shrinks or hides a
key rotation (PROTOCOL.md §11, §19).

The monitor trusts one verifier key. It learns later keys from the log itself: each
announcement is read from the log, checked to be signed by the key before it, and
proven in its handover checkpoint, which the key before co-signs and the new key
signs; that checkpoint must be consistent with the latest one.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from app.ledger.documents.checks import verify_in_checkpoint
from app.ledger.errors import LedgerError
from app.ledger.log.merkle import verify_consistency
from app.ledger.log.note import Checkpoint, NoteVerifier, open_checkpoint
from app.ledger.log.service_keys import ServiceKeyHistory
from app.ledger.records import LedgerEntry

__all__ = ["MonitorAlarm", "Observation", "observe"]


class MonitorAlarm(Exception):
    """The log is not what it must be: a fork, a rollback, a bad signature or rotation."""


@dataclass(frozen=True, slots=True)
class Observation:
    latest: Checkpoint
    note: str
    history: ServiceKeyHistory
    followed: list[str]
    """What the monitor learned this run (one line per key rotation it followed)."""


def _b64(items: list[str]) -> list[bytes]:
    return [base64.b64decode(item, validate=True) for item in items]


class _Log:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def text(self, path: str) -> str:
        return self.client.get(path).raise_for_status().text

    def json(self, path: str, **params: int) -> Any:
        return self.client.get(path, params=params).raise_for_status().json()

    def consistent(self, old: Checkpoint, new: Checkpoint) -> None:
        if new.size < old.size:
            raise MonitorAlarm(f"the log shrank from {old.size} to {new.size} entries")
        if new.size == old.size:
            if new.root != old.root:
                raise MonitorAlarm(f"two roots for size {old.size}: a fork")
            return
        if old.size == 0:
            return
        try:
            answer = self.json("/v1/log/proof/consistency", **{"from": old.size, "to": new.size})
            verify_consistency(
                old_size=old.size,
                new_size=new.size,
                old_root=old.root,
                new_root=new.root,
                proof=_b64(answer["proof"]),
            )
        except (httpx.HTTPError, LedgerError, KeyError, ValueError) as exc:
            raise MonitorAlarm(
                f"no valid consistency proof from {old.size} to {new.size} (a fork): {exc}"
            ) from exc


def _history(log: _Log, trusted: NoteVerifier) -> tuple[ServiceKeyHistory, list[Checkpoint]]:
    """The service keys, from the log's announcements, and each handover checkpoint."""
    listed = log.json("/v1/log/keys")["keys"]
    announcements = [
        LedgerEntry.from_json(log.json(f"/v1/log/entries/{k['announced_seq']}")["entry"], path="")
        for k in listed
        if k.get("announced_seq") is not None
    ]
    try:
        history = ServiceKeyHistory.from_announcements(announcements, current=trusted.public)
    except LedgerError as exc:
        raise MonitorAlarm(f"the service key announcements do not chain: {exc}") from exc
    if not history.holds(trusted.public):
        raise MonitorAlarm(f"the trusted key {trusted} is none of the log's service keys")
    handovers = []
    for entry, period in zip(announcements, history.periods[1:], strict=True):
        note = log.text(f"/v1/log/checkpoints/{period.first}")
        try:
            handover = history.open_checkpoint(note, trusted.name)
            open_checkpoint(note, NoteVerifier.of(trusted.name, history.key_at(entry.seq)))
            proof = log.json("/v1/log/proof/inclusion", index=entry.seq, size=period.first)
            problem = verify_in_checkpoint(entry, _b64(proof["proof"]), handover)
        except LedgerError as exc:
            raise MonitorAlarm(f"the handover checkpoint of size {period.first}: {exc}") from exc
        if problem is not None:
            raise MonitorAlarm(f"the announcement at seq {entry.seq} is not in its handover")
        handovers.append(handover)
    return history, handovers


def observe(client: httpx.Client, trusted: NoteVerifier, kept_note: str | None) -> Observation:
    """Check the log's latest checkpoint against the one kept from the last run (if any)."""
    log = _Log(client)
    try:
        history, handovers = _history(log, trusted)
        note = log.text("/v1/log/checkpoint")
        latest = history.open_checkpoint(note, trusted.name)
    except (httpx.HTTPError, LedgerError, KeyError, ValueError) as exc:
        raise MonitorAlarm(f"latest checkpoint: {exc}") from exc
    if kept_note is not None:
        try:
            kept = history.open_checkpoint(kept_note, trusted.name)
        except LedgerError as exc:
            raise MonitorAlarm(f"the kept checkpoint no longer verifies: {exc}") from exc
        log.consistent(kept, latest)
    for handover in handovers:
        log.consistent(handover, latest)
    followed = [
        f"key {p.key.key_id} in force from position {p.first} (announced at seq "
        f"{p.announced_seq}, handover co-signed)"
        for p in history.periods[1:]
    ]
    return Observation(latest, note, history, followed)
