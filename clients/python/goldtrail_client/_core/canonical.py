# Generated from app/ledger/canonical.py by tools/client_core.py: do not edit.
"""Strict JSON in, RFC 8785 (JCS) canonical bytes out.

The ledger signs and hashes only canonical bytes. Parsing is strict so that two
readers can never disagree about what was signed: duplicate object keys, NaN and
Infinity, integers outside the I-JSON safe range (RFC 7493 §2.2), lone
surrogates, excessive nesting, long strings and long lists are refused with the
path of the offending field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import rfc8785

from .errors import CanonicalizationError, MalformedInput

__all__ = ["JsonLimits", "canonical_bytes", "check_limits", "decimal_of", "parse_strict"]

SAFE_INTEGER = 2**53 - 1


@dataclass(frozen=True, slots=True)
class JsonLimits:
    """Bounds on untrusted JSON; every bound is checked with the field's path."""

    max_depth: int = 8
    max_string: int = 2048
    max_list: int = 256
    max_keys: int = 128


DEFAULT_LIMITS = JsonLimits()


def _reject_constant(name: str) -> Any:
    raise MalformedInput("body", f"{name} is not allowed in JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedInput("body", f"duplicate object key {key!r}")
        result[key] = value
    return result


# 2^53 - 1 has 16 digits: a longer integer literal is never converted (Python refuses
# literals beyond 4,300 digits with an error of its own); the walk below refuses it by path.
_MAX_INTEGER_DIGITS = 16


class _UnsafeInteger:
    """Stands for an integer literal too long to be safe, until the walk names its path."""


_UNSAFE = _UnsafeInteger()


def _safe_int(text: str) -> int | _UnsafeInteger:
    return _UNSAFE if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS else int(text)


def parse_strict(raw: bytes, *, limits: JsonLimits = DEFAULT_LIMITS) -> Any:
    """Parse UTF-8 JSON bytes strictly and check them against ``limits``.

    Raises ``MalformedInput`` naming the field and the reason.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput("body", f"not UTF-8 at byte {exc.start}") from exc
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_reject_constant,
            parse_int=_safe_int,
        )
    except RecursionError as exc:
        raise MalformedInput("body", "nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise MalformedInput("body", f"invalid JSON: {exc.msg} at line {exc.lineno}") from exc
    check_limits(value, path="body", limits=limits)
    return value


def check_limits(value: Any, *, path: str, limits: JsonLimits = DEFAULT_LIMITS) -> None:
    """Walk ``value`` and raise ``MalformedInput`` at the first bound it breaks."""
    _check(value, path, 0, limits)


def _check(value: Any, path: str, depth: int, limits: JsonLimits) -> None:
    if depth > limits.max_depth:
        raise MalformedInput(path, f"nested deeper than {limits.max_depth} levels")
    if isinstance(value, str):
        _check_string(value, path, limits)
    elif isinstance(value, bool) or value is None:
        return
    elif value is _UNSAFE:
        raise MalformedInput(path, "integer outside the I-JSON safe range ±(2^53-1)")
    elif isinstance(value, int):
        if abs(value) > SAFE_INTEGER:
            raise MalformedInput(path, "integer outside the I-JSON safe range ±(2^53-1)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise MalformedInput(path, "number is not finite")
    elif isinstance(value, list):
        if len(value) > limits.max_list:
            raise MalformedInput(path, f"list longer than {limits.max_list} items")
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", depth + 1, limits)
    elif isinstance(value, dict):
        if len(value) > limits.max_keys:
            raise MalformedInput(path, f"object has more than {limits.max_keys} keys")
        for key, item in value.items():
            _check_string(key, f"{path}.{key}", limits)
            _check(item, f"{path}.{key}", depth + 1, limits)
    else:
        raise MalformedInput(path, f"unsupported JSON type {type(value).__name__}")


def _check_string(value: str, path: str, limits: JsonLimits) -> None:
    if len(value) > limits.max_string:
        raise MalformedInput(path, f"string longer than {limits.max_string} characters")
    if "\x00" in value:
        raise MalformedInput(path, "string holds U+0000 (NUL), which the ledger does not accept")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedInput(path, "string holds a lone surrogate") from exc


def _json_agrees(value: Any) -> bool:
    """Whether the standard library's sorted, compact JSON of ``value`` is its RFC 8785 form.

    It is when every key sorts the same by code point as by UTF-16 code unit (no
    character at or above U+D800), every integer is safe, and every float is
    written the same by Python and ECMAScript (not integral, no exponent).
    """
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if abs(item) > SAFE_INTEGER:
                return False
        elif kind is float:
            if not math.isfinite(item) or item.is_integer() or "e" in repr(item):
                return False
        elif kind is list:
            pending.extend(item)
        elif kind is dict:
            for key in item:
                if type(key) is not str or (key and max(key) >= "\ud800"):
                    return False
            pending.extend(item.values())
        else:
            return False
    return True


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 canonical form of a JSON value (UTF-8, sorted keys, ES6 numbers).

    Most ledger JSON is written identically by the standard library's C encoder
    (sorted keys, no spaces): that is used when ``_json_agrees`` says so, and the
    ``rfc8785`` package otherwise; a property test holds the two equal.
    """
    if _json_agrees(value):
        try:
            text = json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            )
            return text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CanonicalizationError("body", "a string holds a lone surrogate") from exc
    try:
        return bytes(rfc8785.dumps(value))
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalizationError("body", str(exc)) from exc
    except UnicodeEncodeError as exc:
        raise CanonicalizationError("body", "a string holds a lone surrogate") from exc


def decimal_of(number: int | float) -> Decimal:
    """The exact decimal a JSON number stands for in the ledger.

    It is the number as RFC 8785 writes it (the shortest form that round-trips),
    so ``499.8`` is exactly 499.8 and ``855.0`` is exactly 855, in every
    implementation, whatever its binary floating point does.
    """
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise TypeError("decimal_of takes a JSON number")
    if isinstance(number, int):
        if abs(number) > SAFE_INTEGER:
            raise CanonicalizationError("body", f"integer {number} is outside the safe range")
        return Decimal(number)
    if not math.isfinite(number):
        raise CanonicalizationError("body", f"{number} is not a JSON number")
    if number.is_integer() and abs(number) <= SAFE_INTEGER:
        return Decimal(int(number))
    # Python's repr and RFC 8785 (ECMAScript Number::toString) both give the shortest
    # digits that round-trip, the closest to the binary value when several do; only
    # the spelling differs, which Decimal reads either way — except that RFC 8785
    # writes integers below 10^21 without an exponent (tested against the encoder).
    shortest = Decimal(repr(number))
    if number.is_integer() and abs(number) < 1e21:
        return shortest.quantize(Decimal(1))
    return shortest
