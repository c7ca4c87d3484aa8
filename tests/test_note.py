"""C2SP signed notes and checkpoints, against the Go sumdb/note reference vectors."""

from __future__ import annotations

import base64

import pytest

from app.ledger.errors import InvalidSignature
from app.ledger.keys import SigningKey
from app.ledger.log.note import (
    Checkpoint,
    InvalidNote,
    NoteVerifier,
    format_checkpoint,
    open_checkpoint,
    open_note,
    sign_note,
)

# golang.org/x/mod/sumdb/note, note_test.go and the package example.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
NOTE = (
    TEXT
    + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def peter_signing_key() -> SigningKey:
    material = base64.b64decode(PETER_SKEY.split("+", 4)[4])
    assert material[0] == 0x01
    return SigningKey.from_seed(material[1:])


def test_verifier_keys_parse_and_print() -> None:
    for vkey in (PETER_VKEY, ENOCH_VKEY):
        assert str(NoteVerifier.parse(vkey)) == vkey
    assert str(NoteVerifier.of("PeterNeumann", peter_signing_key().public)) == PETER_VKEY


def test_signing_reproduces_the_reference_note() -> None:
    assert sign_note(TEXT, name="PeterNeumann", key=peter_signing_key()) == NOTE
    assert open_note(NOTE, NoteVerifier.parse(PETER_VKEY)) == TEXT


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumann+c74f20a3+AhpcZQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # other algorithm
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
        "PeterNeumann+c74f20a3",
        "PeterNeumann+zz+ARpc",
    ],
)
def test_mangled_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(InvalidNote):
        NoteVerifier.parse(vkey)


def test_tampered_or_foreign_notes_are_refused() -> None:
    peter = NoteVerifier.parse(PETER_VKEY)
    with pytest.raises(InvalidSignature):
        open_note(NOTE.replace("cryptography", "cryptographY"), peter)
    with pytest.raises(InvalidSignature, match="no signature by EnochRoot"):
        open_note(NOTE, NoteVerifier.parse(ENOCH_VKEY))
    for broken in (NOTE[:-1], NOTE.replace("\n\n", "\n"), NOTE.replace("— ", "-- "), NOTE + "\x07"):
        with pytest.raises(InvalidNote):
            open_note(broken, peter)


def test_unknown_signatures_are_ignored() -> None:
    other = sign_note(TEXT, name="EnochRoot", key=SigningKey.generate())
    both = NOTE + other.split("\n\n", 1)[1]
    assert open_note(both, NoteVerifier.parse(PETER_VKEY)) == TEXT


def test_checkpoints_round_trip_and_check_their_origin() -> None:
    key = SigningKey.generate()
    verifier = NoteVerifier.of("goldtrail.example/log", key.public)
    checkpoint = Checkpoint("goldtrail.example/log", 20852163, bytes(range(32)))
    text = format_checkpoint(checkpoint)
    assert text == "goldtrail.example/log\n20852163\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    note = sign_note(text, name="goldtrail.example/log", key=key)
    assert open_checkpoint(note, verifier) == checkpoint
    with pytest.raises(InvalidNote, match="origin"):
        open_checkpoint(note, verifier, origin="other.example/log")
    for bad in ("x\n012\nAAAA\n", "x\n12\nAAAA\n", "x\n\n", "x\n-1\n" + text.split("\n")[2] + "\n"):
        with pytest.raises(InvalidNote):
            open_checkpoint(sign_note(bad, name="goldtrail.example/log", key=key), verifier)
