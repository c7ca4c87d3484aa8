"""NTAG 424 DNA "Secure Unique NFC" (SUN) messages in AES mode (NXP AN12196 §3, §4).

At every tap the tag writes into its URL:

* ``picc_data``: 16 bytes, AES-128 under the tag's SDM meta-read key (one block, so CBC
  with a zero IV): ``PICCDataTag ‖ UID (7) ‖ SDMReadCtr (3, least significant byte
  first) ‖ 5 random bytes``; ``PICCDataTag`` 0xC7 says the UID and the counter are
  mirrored and the UID is 7 bytes long;
* ``cmac``: 8 bytes, the SDMMAC — AES-CMAC, under the session key
  ``AES-CMAC(SDM file-read key, 3C C3 00 01 00 80 ‖ UID ‖ SDMReadCtr)``, of the bytes the
  tag is configured to MAC (none here: ``SDMMACInputOffset = SDMMACOffset``), keeping the
  bytes at odd positions 1, 3, …, 15 of the 16.

Per-tag keys are diversified from the service's master key by the tag's id, so that one
tag's keys, written onto that tag when it is provisioned, reveal no other tag's.
AES and CMAC are ``cryptography``'s.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.cmac import CMAC

from ..errors import LedgerError

__all__ = [
    "PICC_DATA_TAG",
    "InvalidSun",
    "SunMessage",
    "TagKeys",
    "aes_cmac",
    "make_sun",
    "sdmmac",
    "tag_keys",
    "uid_digest",
    "verify_sun",
]

PICC_DATA_TAG = 0xC7
"""UID mirrored (bit 7), SDMReadCtr mirrored (bit 6), UID length 7 (bits 3–0)."""
UID_LENGTH = 7
MAX_COUNTER = 0xFFFFFF
_SV2_PREFIX = bytes.fromhex("3CC300010080")
_ZERO_IV = bytes(16)


class InvalidSun(LedgerError):
    """A tap URL that the tag's keys did not produce (or that names no counter)."""


@dataclass(frozen=True, slots=True)
class SunMessage:
    uid: bytes
    counter: int


@dataclass(frozen=True, slots=True)
class TagKeys:
    """A tag's two SDM keys, as written onto it when it is provisioned."""

    meta_read: bytes
    file_read: bytes


def aes_cmac(key: bytes, message: bytes) -> bytes:
    """AES-CMAC (NIST SP 800-38B, RFC 4493), 16 bytes."""
    mac = CMAC(algorithms.AES(key))
    mac.update(message)
    return mac.finalize()


def _aes_block(key: bytes, block: bytes, *, decrypt: bool) -> bytes:
    cipher = Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV))
    worker = cipher.decryptor() if decrypt else cipher.encryptor()
    return worker.update(block) + worker.finalize()


def tag_keys(master: bytes, tag_id: str) -> TagKeys:
    """The tag's keys: ``AES-CMAC(master, 0x01 ‖ "goldtrail/sdm-meta-read/v1" ‖ 0x00 ‖ id)``
    and likewise ``0x02 ‖ "goldtrail/sdm-file-read/v1"`` (PROTOCOL.md §21.1)."""
    name = tag_id.encode("ascii")
    return TagKeys(
        meta_read=aes_cmac(master, b"\x01goldtrail/sdm-meta-read/v1\x00" + name),
        file_read=aes_cmac(master, b"\x02goldtrail/sdm-file-read/v1\x00" + name),
    )


def uid_digest(master: bytes, uid: bytes) -> str:
    """The UID as public documents show it: HMAC-SHA256 under a key only the service holds
    (``AES-CMAC(master, 0x03 ‖ "goldtrail/uid-digest/v1")``), hex — so a UID read off a
    tag by anyone's phone cannot be looked up, and the ledger's digest names no UID."""
    key = aes_cmac(master, b"\x03goldtrail/uid-digest/v1")
    return hmac.new(key, uid, "sha256").hexdigest()


def sdmmac(file_read_key: bytes, uid: bytes, counter: int, mac_input: bytes = b"") -> bytes:
    """The 8-byte SDMMAC of a tap (AN12196 §3.4): CMAC under the session MAC key, truncated
    to the bytes at odd positions."""
    session = aes_cmac(file_read_key, _SV2_PREFIX + uid + counter.to_bytes(3, "little"))
    return aes_cmac(session, mac_input)[1::2]


def _decrypt_picc_data(meta_read_key: bytes, picc_data: bytes) -> SunMessage:
    if len(picc_data) != 16:
        raise InvalidSun(f"picc_data is {len(picc_data)} bytes; AES mode writes 16")
    plain = _aes_block(meta_read_key, picc_data, decrypt=True)
    if plain[0] != PICC_DATA_TAG:
        raise InvalidSun("picc_data does not decrypt under this tag's key")
    return SunMessage(
        uid=plain[1 : 1 + UID_LENGTH],
        counter=int.from_bytes(plain[1 + UID_LENGTH : 4 + UID_LENGTH], "little"),
    )


def verify_sun(keys: TagKeys, picc_data: bytes, mac: bytes) -> SunMessage:
    """The tag's UID and read counter, if the tag's keys produced this message; else
    InvalidSun. The MAC is compared in constant time."""
    message = _decrypt_picc_data(keys.meta_read, picc_data)
    if len(mac) != 8:
        raise InvalidSun(f"cmac is {len(mac)} bytes; the SDMMAC is 8")
    if not hmac.compare_digest(sdmmac(keys.file_read, message.uid, message.counter), mac):
        raise InvalidSun("the SDMMAC does not match: not written by this tag")
    return message


def make_sun(
    keys: TagKeys, uid: bytes, counter: int, *, padding: bytes | None = None
) -> tuple[bytes, bytes]:
    """What a tag writes at a tap: (picc_data, cmac). For a tag simulator and the tests."""
    if len(uid) != UID_LENGTH or not 0 <= counter <= MAX_COUNTER:
        raise ValueError("a 7-byte UID and a 24-bit counter")
    pad = os.urandom(5) if padding is None else padding
    plain = bytes([PICC_DATA_TAG]) + uid + counter.to_bytes(3, "little") + pad
    return _aes_block(keys.meta_read, plain, decrypt=False), sdmmac(keys.file_read, uid, counter)
