"""The :class:`Codec` protocol and its implementations, which turn a session dict into the ``Session`` attribute."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import orjson

from .errors import CodecError

__all__ = ["Codec", "JsonCodec", "OrjsonCodec"]


@runtime_checkable
class Codec(Protocol):
    """Encodes a session dict to ``str`` (stored as type S) or ``bytes`` (stored as type B), and back.

    ``encode`` raises :class:`CodecError` naming the value it cannot serialize. ``decode`` raises
    :class:`CodecError` when the stored value is not a valid encoding of a dict.
    """

    def encode(self, data: Mapping[str, Any]) -> str | bytes:
        """Serialize ``data``."""
        ...

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        """Deserialize what :meth:`encode` produced; the result must be a dict."""
        ...


# orjson says "Type is not JSON serializable: set"; json says "Object of type set is not JSON serializable".
_TYPE_IN_MESSAGE = re.compile(r"serializable: ([\w.]+)|of type ([\w.]+)")


def _encode_error(exc: Exception) -> CodecError:
    match = _TYPE_IN_MESSAGE.search(str(exc))
    offending = (match.group(1) or match.group(2)) if match else "unknown"
    return CodecError(
        f"cannot encode the session: a value of type {offending!r} is not JSON serializable ({exc}). "
        "Store only dicts, lists, strings, numbers, booleans and None, or use a codec that handles this type."
    )


def _require_dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CodecError(f"stored session decodes to {type(value).__name__}, not a dict")
    return value


class OrjsonCodec:
    """The default codec: compact JSON text via orjson (stored as type S, readable by the Node store)."""

    __slots__ = ()

    def encode(self, data: Mapping[str, Any]) -> str:
        """Serialize ``data`` to JSON text."""
        try:
            return orjson.dumps(data).decode()
        except TypeError as exc:  # orjson.JSONEncodeError subclasses TypeError
            raise _encode_error(exc) from exc

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        """Parse JSON text into a dict."""
        try:
            return _require_dict(orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            raise CodecError(f"stored session is not valid JSON: {exc}") from exc


class JsonCodec:
    """The same JSON text through the standard library's :mod:`json`, for environments without orjson tuning."""

    __slots__ = ()

    def encode(self, data: Mapping[str, Any]) -> str:
        """Serialize ``data`` to compact JSON text."""
        try:
            return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise _encode_error(exc) from exc

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        """Parse JSON text into a dict."""
        try:
            return _require_dict(json.loads(raw))
        except (ValueError, UnicodeDecodeError) as exc:
            raise CodecError(f"stored session is not valid JSON: {exc}") from exc
