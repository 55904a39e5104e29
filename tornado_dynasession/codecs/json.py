"""The two JSON codecs, :class:`OrjsonCodec` (the default) and :class:`JsonCodec`: the same text, read the same way."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

import orjson

from ..errors import CodecError
from .rule import _INT_MAX, _INT_MIN, _require_dict, _storable, _surrogate_at

__all__ = ["JsonCodec", "OrjsonCodec"]


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON (only Python's json module reads it)")


def _finite_float(text: str) -> float:
    number = float(text)
    if number - number != 0:
        raise ValueError(f"number {text[:40]} is infinity when parsed as a float")
    return number


def _int_as_orjson_reads_it(text: str) -> int | float:
    number = int(text)
    return number if _INT_MIN <= number <= _INT_MAX else float(number)


def _replace_lone_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD; a surrogate pair held as two code points is joined."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _valid_unicode(value: Any) -> Any:
    """``value`` (as :mod:`json` read it) with every lone surrogate in its strings and keys replaced by U+FFFD."""
    kind = type(value)
    if kind is str:
        return value if value.isascii() or _surrogate_at(value) < 0 else _replace_lone_surrogates(value)
    if kind is list:
        return [_valid_unicode(item) for item in value]
    if kind is dict:
        return {_valid_unicode(key): _valid_unicode(item) for key, item in value.items()}
    return value


def _may_hold_lone_surrogate(raw: str | bytes) -> bool:
    """Whether JSON text can hold a lone surrogate: as an escape (``\\ud83c``), or as a code point of a str."""
    if isinstance(raw, bytes):
        return b"\\u" in raw  # UTF-8 cannot carry a surrogate, so only an escape can make one
    return "\\u" in raw or (not raw.isascii() and _surrogate_at(raw) >= 0)


def _json_loads(raw: str | bytes) -> dict[str, Any]:
    """Parse JSON text with :mod:`json` exactly as orjson would: the same texts refused, the same values read.

    Except for lone surrogates, which orjson refuses: JavaScript strings may hold them (``"🎉".slice(0, 1)``), and
    ``JSON.stringify`` writes them as escapes, so a session an Express app saved can contain one. Each is read as
    U+FFFD, the replacement character, so that the session reads (and is stored as valid Unicode when saved again).
    """
    try:
        if isinstance(raw, str):
            text = _replace_lone_surrogates(raw) if not raw.isascii() and _surrogate_at(raw) >= 0 else raw
        else:  # strict UTF-8 like orjson: json.loads would also take UTF-16 and UTF-32 bytes, and skip a BOM
            text = raw.decode()
        value = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_int_as_orjson_reads_it
        )
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError, JSONDecodeError
        raise CodecError(f"stored session is not valid JSON: {exc}") from exc
    if "\\u" in text:  # an escape can make a lone surrogate
        value = _valid_unicode(value)
    return _require_dict(value)


class OrjsonCodec:
    """The default codec: compact JSON text via orjson (stored as type S, readable by the Node store).

    Stores exactly what ``rule`` describes (dicts with str keys, lists, str, int from -2**63 to 2**64 - 1,
    finite float, bool, None; at most 254 levels deep) and raises :class:`CodecError` naming the path of
    anything else. Reads and writes what :class:`JsonCodec` does. Reads a lone surrogate as U+FFFD (see
    ``rule``), on a slower path taken only for a text orjson refuses.
    """

    __slots__ = ()

    def encode(self, data: Mapping[str, Any]) -> str:
        """Serialize ``data`` to JSON text."""
        return orjson.dumps(_storable(data)).decode()

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        """Parse JSON text into a dict."""
        try:
            return _require_dict(orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            if _may_hold_lone_surrogate(raw):  # the slow path, only for what orjson refuses
                return _json_loads(raw)
            raise CodecError(f"stored session is not valid JSON: {exc}") from exc


class JsonCodec:
    """The same JSON text through the standard library's :mod:`json`, for environments without orjson tuning.

    Follows the same rule as :class:`OrjsonCodec` (``rule``): the same values are stored and refused,
    with the same errors, and each reads what the other writes. The text is the same too, except that some
    floats are spelled differently (``1e-07`` here, ``1e-7`` by orjson); they read back as the same float. Reads a
    lone surrogate as U+FFFD, as :class:`OrjsonCodec` does.
    """

    __slots__ = ()

    def encode(self, data: Mapping[str, Any]) -> str:
        """Serialize ``data`` to compact JSON text."""
        # check_circular=False: the check has already bounded the nesting, so there is no cycle.
        return json.dumps(
            _storable(data), separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False
        )

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        """Parse JSON text into a dict."""
        return _json_loads(raw)
