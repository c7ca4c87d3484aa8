"""The service key's history: which key signed what, followed through rotations (PROTOCOL.md §19).

The service key signs receipts, registry records, summaries and checkpoints. It
is rotated by appending a ``service_key`` entry — an announcement of the next key,
signed (and receipted) by the key in force — so the log itself tells every
verifier which key signed which position:

* the entry at ``seq`` is signed by the key in force before it: the genesis key,
  or the key announced by the latest announcement at a seq below ``seq``;
* the checkpoint of ``size`` entries is signed by the key in force after its last
  entry, so the checkpoint that first holds an announcement is the new key's.

Both rules are one function of a *position*, ``key_at(position)``: a key announced
at seq ``a`` is in force from position ``a + 1``. The service also co-signs the
handover checkpoint (size ``a + 1``) with the old key, so a monitor that trusts only
the old key can verify the state that holds the announcement.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..canonical import canonical_bytes
from ..errors import FieldError, LedgerError
from ..keys import PublicKey
from ..records import SERVICE_KEY_TYPE
from .note import Checkpoint, NoteVerifier, open_checkpoint, parse_checkpoint_text

__all__ = [
    "SERVICE_KEY_TYPE",
    "KeyPeriod",
    "ServiceKeyHistory",
    "service_key_record",
]


def service_key_record(*, previous: PublicKey, new: PublicKey, announced_at: str) -> dict[str, Any]:
    """The body of an announcement: the key in force hands over to ``new``."""
    return {
        "type": SERVICE_KEY_TYPE,
        "previous_key": previous.key_id,
        "previous_public_key": previous.b64,
        "key": new.key_id,
        "public_key": new.b64,
        "announced_at": announced_at,
    }


@dataclass(frozen=True, slots=True)
class KeyPeriod:
    """One service key and the first position it signs."""

    key: PublicKey
    first: int
    announced_seq: int | None
    """The seq of the announcement that handed over to this key (None for the genesis key)."""

    def to_json(self, origin: str) -> dict[str, Any]:
        return {
            "key": self.key.key_id,
            "public_key": self.key.b64,
            "verifier_key": str(NoteVerifier.of(origin, self.key)),
            "first_position": self.first,
            "announced_seq": self.announced_seq,
        }


class ServiceKeyHistory:
    """The service keys in the order they were in force, from the genesis key on."""

    def __init__(self, genesis: PublicKey) -> None:
        self.periods: list[KeyPeriod] = [KeyPeriod(genesis, 0, None)]

    @classmethod
    def from_announcements(
        cls, announcements: Iterable[Any], *, current: PublicKey
    ) -> ServiceKeyHistory:
        """The history stated by announcement entries (``LedgerEntry``, in seq order), each
        signed by the key it hands over from; without any, ``current`` alone.

        Raises LedgerError naming the first announcement that does not follow.
        """
        entries = list(announcements)
        if not entries:
            return cls(current)
        genesis = PublicKey.from_b64(
            str(entries[0].body.get("previous_public_key")),
            field=f"service key announcement {entries[0].seq}.previous_public_key",
        )
        history = cls(genesis)
        for entry in entries:
            signer = history.key_at(entry.seq)
            signer.verify(
                canonical_bytes(entry.body),
                entry.signature_bytes(),
                what=f"service key announcement at seq {entry.seq}",
            )
            history.announce(entry.seq, entry.body)
        return history

    @property
    def current(self) -> PublicKey:
        return self.periods[-1].key

    @property
    def rotated(self) -> bool:
        return len(self.periods) > 1

    def key_at(self, position: int) -> PublicKey:
        """The key that signs the entry at seq ``position`` or the checkpoint of ``position``
        entries."""
        index = bisect_right([p.first for p in self.periods], position) - 1
        return self.periods[max(index, 0)].key

    def holds(self, key: PublicKey) -> bool:
        return any(p.key.raw == key.raw for p in self.periods)

    def announce(self, seq: int, body: dict[str, Any]) -> None:
        """Follow the announcement at ``seq`` (its signature checked by the caller).

        Raises FieldError if it does not hand over from the key in force at ``seq``.
        """
        where = f"service key announcement {seq}"
        if body.get("type") != SERVICE_KEY_TYPE:
            raise FieldError(f"{where}.type", f"must be {SERVICE_KEY_TYPE}")
        if seq < self.periods[-1].first:
            raise FieldError(where, "announcements must be followed in seq order")
        in_force = self.key_at(seq)
        if (
            body.get("previous_public_key") != in_force.b64
            or body.get("previous_key") != in_force.key_id
        ):
            raise FieldError(
                f"{where}.previous_key",
                f"hands over from {body.get('previous_key')}, but {in_force.key_id} is in force",
            )
        new = PublicKey.from_b64(str(body.get("public_key")), field=f"{where}.public_key")
        if body.get("key") != new.key_id:
            raise FieldError(f"{where}.key", "is not the id of public_key")
        if self.holds(new):
            raise FieldError(f"{where}.public_key", "a service key is never used twice")
        self.periods.append(KeyPeriod(new, seq + 1, seq))

    def verifier(self, origin: str, size: int) -> NoteVerifier:
        return NoteVerifier.of(origin, self.key_at(size))

    def open_checkpoint(self, note: str, origin: str) -> Checkpoint:
        """A checkpoint verified with the key in force at its size; LedgerError if not."""
        try:
            size = parse_checkpoint_text(note).size
        except LedgerError:
            size = 0
        return open_checkpoint(note, self.verifier(origin, size))

    def pinned_check(self, pinned: PublicKey) -> str | None:
        """None if ``pinned`` is one of the keys, else why it does not anchor the history."""
        if self.holds(pinned):
            return None
        return f"the pinned key {pinned.key_id} is none of the service keys the log names"

    def to_json(self, origin: str) -> list[dict[str, Any]]:
        return [period.to_json(origin) for period in self.periods]
