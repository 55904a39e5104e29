"""The :class:`Codec` protocol, which turns a session dict into the ``Session`` attribute, and what wrappers share."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from ..errors import CodecError, ConfigurationError

__all__ = ["Codec", "KeyBoundCodec", "decode_with", "encode_with"]

_T = TypeVar("_T")


@runtime_checkable
class Codec(Protocol):
    """Encodes a session dict to ``str`` (stored as type S) or ``bytes`` (stored as type B), and back.

    ``encode`` raises :class:`CodecError` naming the value it cannot serialize. ``decode`` raises
    :class:`CodecError` when the stored value is not a valid encoding of a dict. The package's codecs share one
    rule, what is stored reads back equal with the same types (:mod:`tornado_dynasession.codecs.rule`).
    """

    def encode(self, data: Mapping[str, Any]) -> str | bytes:
        """Serialize ``data``."""
        ...

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        """Deserialize what :meth:`encode` produced; the result must be a dict."""
        ...


@runtime_checkable
class KeyBoundCodec(Codec, Protocol):
    """A codec that binds what it stores to the item's hash key (the stored key, not the raw session id); the store
    calls these instead of encode/decode when the codec has them.

    ``key`` is the value of the item's hash key attribute, ``store.key_for(sid)``: the base64url SHA-256 of the
    session id by default, the raw id only with ``hash_ids=False``. What :meth:`encode_for` writes for one key must
    make :meth:`decode_for` raise :class:`CodecError` under any other key, so that a value copied from one item
    into another does not read there. ``decode_for`` may also accept values written by the plain
    :meth:`~Codec.encode` (unbound), which is how a table migrates to binding. Error messages must never include
    ``key``: with ``hash_ids=False`` it is a usable session id.
    """

    def encode_for(self, key: str, data: Mapping[str, Any]) -> str | bytes:
        """Serialize ``data`` for the item whose hash key is ``key``."""
        ...

    def decode_for(self, key: str, raw: str | bytes) -> dict[str, Any]:
        """Deserialize ``raw`` read from the item whose hash key is ``key``; the result must be a dict."""
        ...


# -- what the wrapping codecs share --------------------------------------------------------------------------


def _payload(encoded: str | bytes) -> tuple[bool, bytes]:
    """The wrapped codec's output as bytes, and whether it was text (so that decode hands back the same type)."""
    if isinstance(encoded, str):
        return True, encoded.encode()
    if isinstance(encoded, (bytes, bytearray)):
        return False, bytes(encoded)
    raise CodecError(f"the wrapped codec returned {type(encoded).__name__}, not str or bytes")


def _restore(is_text: bool, payload: bytes) -> str | bytes:
    if not is_text:
        return payload
    try:
        return payload.decode()
    except UnicodeDecodeError as exc:
        raise CodecError(f"stored session text is not valid UTF-8: {exc}") from exc


def _inner_codec(inner: Codec | None, wrapper: str) -> Codec:
    if inner is None:
        from .json import OrjsonCodec  # the default codec, which itself needs nothing from here

        return OrjsonCodec()
    if not isinstance(inner, Codec):
        raise ConfigurationError(f"{wrapper} wraps a Codec (with encode and decode), not {type(inner).__name__}")
    return inner


def encode_with(
    codec: Codec, data: Mapping[str, Any], *, bound: KeyBoundCodec | None = None, key: str = ""
) -> str | bytes:
    """``codec``'s encoding of ``data``, through ``bound.encode_for(key, ...)`` when the codec binds to the item's
    hash key. Whatever the codec raises reaches the caller as a :class:`CodecError`, its cause chained."""
    encode = codec.encode if bound is None else functools.partial(bound.encode_for, key)
    return _mapped(codec, encode, data, "encoding the session", "a codec reports what it cannot encode as CodecError")


def decode_with(codec: Codec, raw: str | bytes, *, bound: KeyBoundCodec | None = None, key: str = "") -> dict[str, Any]:
    """``codec``'s decoding of ``raw``, through ``bound.decode_for(key, ...)`` when the codec binds to the item's
    hash key. Whatever the codec raises reaches the caller as a :class:`CodecError`, its cause chained."""
    decode = codec.decode if bound is None else functools.partial(bound.decode_for, key)
    return _mapped(codec, decode, raw, "decoding the stored session", "written by another codec, or corrupt?")


def _mapped(codec: Codec, call: Callable[[Any], _T], value: Any, doing: str, hint: str) -> _T:
    try:
        return call(value)
    except CodecError:
        raise
    except Exception as exc:
        raise CodecError(f"{type(codec).__name__} raised {type(exc).__name__} {doing}: {exc} ({hint})") from exc
