"""The storable-value rule that the package's codecs share: what is stored reads back equal, with the same types.

A session is a mapping (it reads back as a plain dict) holding only

- ``dict`` with ``str`` keys, and ``list``, nested at most 254 containers deep, the session itself being the first
  (orjson's limit);
- ``str`` (valid Unicode: no lone surrogates, which UTF-8 cannot carry);
- ``int`` from -2**63 to 2**64 - 1 inclusive, the signed and unsigned 64-bit ranges (what orjson encodes; beware
  that JavaScript, such as the Node store, reads integers beyond 2**53 inexactly);
- finite ``float`` (no NaN or infinity: JSON has none);
- ``bool`` and ``None``.

Anything else raises :class:`CodecError` on encode, naming its type and where it is (``session["cart"][2]``):
tuples and sets, bytes, datetimes, Decimal, UUID, enums, dataclasses, and subclasses of the types above (an
``IntEnum`` or an ``OrderedDict`` would read back as a plain int or dict). Decoding is not checked value by value
(it runs on every request); both JSON codecs read JSON text as orjson does, so that what one reads the other reads
too: ``NaN`` and infinities are invalid JSON, and an integer beyond the 64-bit ranges reads as a float. One
exception to orjson: a lone surrogate (half of a character such as an emoji, which a JavaScript string may hold and
``JSON.stringify`` writes as an escape such as ``\\ud83c``) reads as U+FFFD, the replacement character, so that a
session an Express app saved still reads; saved again, it stores U+FFFD.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import CodecError

_INT_MIN = -(2**63)
"""The smallest int stored: the signed 64-bit minimum, orjson's lower bound (json has none)."""
_INT_MAX = 2**64 - 1
"""The largest int stored: the unsigned 64-bit maximum, orjson's upper bound (json has none)."""
_MAX_DEPTH = 254
"""The deepest nesting of containers stored, the session itself being level 1: orjson encodes no deeper."""
_STORE_ONLY = (
    "Store only dicts with str keys, lists, str, int (64-bit), finite float, bool and None, "
    "or use a codec that handles this type."
)
# The types whose subclasses get a word of explanation: what a subclass would read back as.
_JSON_TYPES: tuple[type, ...] = (bool, int, float, str, dict, list)


class _Unstorable(Exception):
    """Raised by :func:`_check`; ``path`` gathers the keys and indexes on the way out, innermost first."""

    def __init__(self, problem: str, *path: str | int) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = list(path)


def _check(container: dict[Any, Any] | list[Any], depth: int) -> None:
    """Raise :class:`_Unstorable` unless every value in ``container`` (at nesting level ``depth``) is storable.

    Exact ``type(x) is`` tests keep the common path short; the explanation of a problem is only worked out once
    there is one.
    """
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(container, list):
        is_dict, pairs = False, enumerate(container)
    else:  # a dict, or at the top the session's own dict subclass
        is_dict, pairs = True, container.items()
    for segment, value in pairs:
        if is_dict and (type(segment) is not str or (not segment.isascii() and _surrogate_at(segment) >= 0)):
            raise _Unstorable(_key_problem(segment))
        kind = type(value)
        if kind is str:
            if value.isascii() or _surrogate_at(value) < 0:
                continue
        elif kind is int:
            if _INT_MIN <= value <= _INT_MAX:
                continue
        elif kind is bool or value is None:
            continue
        elif kind is dict or kind is list:
            if depth < _MAX_DEPTH:
                try:
                    _check(value, depth + 1)
                except _Unstorable as exc:
                    exc.path.append(segment)
                    raise
                continue
        elif kind is float and value - value == 0:  # finite: NaN and ±inf give NaN
            continue
        raise _Unstorable(_value_problem(value, depth + 1), segment)


def _surrogate_at(text: str) -> int:
    """The index of the first lone surrogate in ``text`` (which UTF-8 cannot encode), or -1."""
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return exc.start
    return -1


def _a(kind: type) -> str:
    name = kind.__name__
    return ("an " if name[:1] in "aeioAEIO" else "a ") + name


def _short_repr(value: object) -> str:
    try:
        text = ascii(value) if isinstance(value, str) else repr(value)
    except Exception:  # a broken __repr__, or an int too long for str()
        return f"<{type(value).__name__}>"
    return text if len(text) <= 40 else text[:37] + "..."


def _key_problem(key: object) -> str:
    if type(key) is str:
        at = _surrogate_at(key)
        return f"has a str key with a lone surrogate at index {at} ({_short_repr(key)}), which UTF-8 cannot carry"
    return f"has a key of type {type(key).__name__} ({_short_repr(key)}): only str keys read back as themselves"


def _value_problem(value: object, level: int) -> str:
    kind = type(value)
    if isinstance(value, str) and kind is str:
        at = _surrogate_at(value)
        return f"is a str with a lone surrogate (U+{ord(value[at]):04X} at index {at}), which UTF-8 cannot carry"
    if isinstance(value, int) and kind is int:
        number = str(value) if value.bit_length() <= 128 else f"of {value.bit_length()} bits"
        return f"is the int {number}, outside the 64-bit range {_INT_MIN}..{_INT_MAX}"
    if kind is float:
        return f"is the float {value!r}, and JSON has no NaN or infinity"
    if kind is dict or kind is list:
        return (
            f"is {_a(kind)} at nesting level {level}, deeper than the {_MAX_DEPTH} levels stored "
            "(does the session contain itself?)"
        )
    if kind is tuple:
        return f"is a tuple, which would read back as a list. {_STORE_ONLY}"
    base = next((json_type for json_type in _JSON_TYPES if isinstance(value, json_type)), None)
    if base is not None:
        plain = "a plain " + base.__name__
        return f"is {_a(kind)} (a subclass of {base.__name__}), which would read back as {plain}. {_STORE_ONLY}"
    return f"is {_a(kind)}, which does not read back as itself. {_STORE_ONLY}"


def _where(exc: _Unstorable) -> str:
    """``session["cart"][2] is a datetime, ...``: the path to the problem, then the problem."""
    segments = exc.path[::-1]
    path = "".join(f"[{_quoted(segment)}]" for segment in (segments if len(segments) <= 12 else segments[:8]))
    if len(segments) > 12:  # nested too deep: the way in is enough
        path += "[...]"
    return f"session{path} {exc.problem}"


def _quoted(segment: str | int) -> str:
    """A key as a double-quoted string (escaped only if it cannot be UTF-8), or an index as a number."""
    if isinstance(segment, int):
        return str(segment)
    text = segment if len(segment) <= 40 else segment[:37] + "..."
    return json.dumps(text, ensure_ascii=_surrogate_at(text) >= 0)


def _storable(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as a dict that reads back as itself, or :class:`CodecError`: what both codecs check before encoding."""
    if not isinstance(data, dict):
        if not isinstance(data, Mapping):
            raise CodecError(f"cannot encode the session: it is {_a(type(data))}, not a dict or other mapping")
        data = dict(data)
    try:
        _check(data, 1)
    except _Unstorable as exc:
        raise CodecError(f"cannot encode the session: {_where(exc)}") from exc
    return data


def _require_dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CodecError(f"stored session decodes to {type(value).__name__}, not a dict")
    return value
