# Generated from app/ledger/log/note.py by tools/client_core.py: do not edit.
"""C2SP signed notes with Ed25519 keys (c2sp.org/signed-note) and log checkpoints
(c2sp.org/tlog-checkpoint).

A verifier key is written ``<name>+<hex key id>+<base64(0x01 || public key)>``,
where the key id is the first four bytes of
SHA-256(name || 0x0A || 0x01 || public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from ..errors import InvalidSignature, LedgerError
from ..keys import PublicKey, SigningKey

__all__ = [
    "Checkpoint",
    "InvalidNote",
    "NoteVerifier",
    "format_checkpoint",
    "note_key_id",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint_text",
    "sign_note",
]

ED25519 = 0x01
MAX_SIGNATURES = 16
MAX_NOTE_BYTES = 64 * 1024
_SIGNATURE_LINE = re.compile(r"^\u2014 (\S+) ([A-Za-z0-9+/]+=*)$")


class InvalidNote(LedgerError):
    """The text is not a well-formed signed note or checkpoint."""


def note_key_id(name: str, public: PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public.raw).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise InvalidNote(f"key name {name!r} must be non-empty, without spaces or '+'")


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """A trusted Ed25519 note key."""

    name: str
    key_id: bytes
    public: PublicKey

    @classmethod
    def of(cls, name: str, public: PublicKey) -> NoteVerifier:
        _check_name(name)
        return cls(name, note_key_id(name, public), public)

    @classmethod
    def parse(cls, text: str) -> NoteVerifier:
        """Parse ``<name>+<hex id>+<base64 key>``; the id must match the key."""
        name, _, rest = text.strip().partition("+")
        key_id_hex, _, key_b64 = rest.partition("+")
        _check_name(name)
        try:
            key_id = bytes.fromhex(key_id_hex)
            material = base64.b64decode(key_b64, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise InvalidNote(f"verifier key {text!r} is malformed") from exc
        if len(key_id) != 4 or len(material) != 33 or material[0] != ED25519:
            raise InvalidNote("verifier key is not an Ed25519 note key")
        verifier = cls.of(name, PublicKey(material[1:]))
        if verifier.key_id != key_id:
            raise InvalidNote("verifier key id does not match its name and key")
        return verifier

    def __str__(self) -> str:
        material = base64.b64encode(bytes([ED25519]) + self.public.raw).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"


def sign_note(
    text: str, *, name: str, key: SigningKey, cosigners: tuple[SigningKey, ...] = ()
) -> str:
    """The signed note: ``text``, a blank line, and a signature line by ``key`` (then one by
    each of ``cosigners``: a service key handing over co-signs the handover checkpoint)."""
    if not text.endswith("\n"):
        raise InvalidNote("note text must end with a newline")
    lines = []
    for signer in (key, *cosigners):
        verifier = NoteVerifier.of(name, signer.public)
        signature = signer.sign(text.encode("utf-8"))
        blob = base64.b64encode(verifier.key_id + signature).decode()
        lines.append(f"\u2014 {name} {blob}\n")
    return f"{text}\n" + "".join(lines)


def open_note(note: str, verifier: NoteVerifier) -> str:
    """The note's text if ``verifier`` signed it; InvalidNote or InvalidSignature otherwise.

    Signatures of unknown keys are ignored, as the spec requires; a failing
    signature of the known key rejects the whole note.
    """
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise InvalidNote("note is too large")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise InvalidNote("note contains control characters")
    if not note.endswith("\n"):
        raise InvalidNote("note does not end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise InvalidNote("note has no signature block")
    text, block = note[: split + 1], note[split + 2 :]
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise InvalidNote("note has too many signatures")
    verified = False
    for line in lines:
        match = _SIGNATURE_LINE.match(line)
        if match is None:
            raise InvalidNote(f"malformed signature line {line!r}")
        blob = base64.b64decode(match.group(2))
        if len(blob) < 5:
            raise InvalidNote("signature is too short")
        if match.group(1) != verifier.name or blob[:4] != verifier.key_id:
            continue
        verifier.public.verify(text.encode("utf-8"), blob[4:], what=f"note by {verifier.name}")
        verified = True
    if not verified:
        raise InvalidSignature(f"no signature by {verifier.name} ({verifier.key_id.hex()})")
    return text


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def format_checkpoint(checkpoint: Checkpoint) -> str:
    root = base64.b64encode(checkpoint.root).decode()
    return f"{checkpoint.origin}\n{checkpoint.size}\n{root}\n"


def _parse_checkpoint(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise InvalidNote("checkpoint needs an origin, a size and a root, one per line")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not size_text.isdigit() or (size_text.startswith("0") and size_text != "0"):
        raise InvalidNote(f"checkpoint size {size_text!r} is not a decimal without leading zeros")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error as exc:
        raise InvalidNote("checkpoint root is not base64") from exc
    if len(root) != 32:
        raise InvalidNote("checkpoint root is not a SHA-256 hash")
    return Checkpoint(origin, int(size_text), root)


def parse_checkpoint_text(note: str) -> Checkpoint:
    """The checkpoint a signed note states, unverified: to choose the key to verify it with."""
    split = note.rfind("\n\n")
    if split < 0:
        raise InvalidNote("note has no signature block")
    return _parse_checkpoint(note[: split + 1])


def open_checkpoint(note: str, verifier: NoteVerifier, *, origin: str | None = None) -> Checkpoint:
    """A verified checkpoint; its origin must be ``origin`` (default: the key's name)."""
    checkpoint = _parse_checkpoint(open_note(note, verifier))
    expected = origin or verifier.name
    if checkpoint.origin != expected:
        raise InvalidNote(f"checkpoint is for origin {checkpoint.origin!r}, not {expected!r}")
    return checkpoint
