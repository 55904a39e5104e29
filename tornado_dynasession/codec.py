"""The :class:`Codec` protocol and its implementations, which turn a session dict into the ``Session`` attribute."""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
import re
import secrets
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Protocol, runtime_checkable

import orjson

from .errors import CodecError, ConfigurationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "Codec",
    "CompressedCodec",
    "EncryptedCodec",
    "JsonCodec",
    "KeyBoundCodec",
    "OrjsonCodec",
]


@runtime_checkable
class Codec(Protocol):
    """Encodes a session dict to ``str`` (stored as type S) or ``bytes`` (stored as type B), and back.

    ``encode`` raises :class:`CodecError` naming the value it cannot serialize. ``decode`` raises
    :class:`CodecError` when the stored value is not a valid encoding of a dict.

    The codecs of this module (:class:`OrjsonCodec`, :class:`JsonCodec`, and the wrappers around them) share
    one rule: what is stored reads back equal, with the same types. A session is a mapping (it reads back as a
    plain dict) holding only

    - ``dict`` with ``str`` keys, and ``list``, nested at most 254 containers deep, the session itself being
      the first (orjson's limit);
    - ``str`` (valid Unicode: no lone surrogates, which UTF-8 cannot carry);
    - ``int`` from -2**63 to 2**64 - 1 inclusive, the signed and unsigned 64-bit ranges (what orjson encodes;
      beware that JavaScript, such as the Node store, reads integers beyond 2**53 inexactly);
    - finite ``float`` (no NaN or infinity: JSON has none);
    - ``bool`` and ``None``.

    Anything else raises :class:`CodecError` on encode, naming its type and where it is (``session["cart"][2]``):
    tuples and sets, bytes, datetimes, Decimal, UUID, enums, dataclasses, and subclasses of the types above
    (an ``IntEnum`` or an ``OrderedDict`` would read back as a plain int or dict). Decoding is not checked
    value by value (it runs on every request); both codecs read JSON text as orjson does, so that what one reads
    the other reads too: ``NaN`` and infinities are invalid JSON, and an integer beyond the 64-bit ranges reads as
    a float. One exception to orjson: a lone surrogate (half of a character such as an emoji, which a JavaScript
    string may hold and ``JSON.stringify`` writes as an escape such as ``\\ud83c``) reads as U+FFFD, the
    replacement character, so that a session an Express app saved still reads; saved again, it stores U+FFFD.
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


# -- the storable-value rule that both JSON codecs enforce -----------------------------------------------------

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

    Exact ``type(x) is`` tests keep it to a few microseconds for a typical session; the explanation of a problem
    is only worked out once there is one.
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

    Stores exactly what :class:`Codec` describes (dicts with str keys, lists, str, int from -2**63 to 2**64 - 1,
    finite float, bool, None; at most 254 levels deep) and raises :class:`CodecError` naming the path of
    anything else. Reads and writes what :class:`JsonCodec` does. Reads a lone surrogate as U+FFFD (see
    :class:`Codec`), on a slower path taken only for a text orjson refuses.
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

    Follows the same rule as :class:`OrjsonCodec` (see :class:`Codec`): the same values are stored and refused,
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


# -- wrappers ----------------------------------------------------------------------------------------------------


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
        return OrjsonCodec()
    if not isinstance(inner, Codec):
        raise ConfigurationError(f"{wrapper} wraps a Codec (with encode and decode), not {type(inner).__name__}")
    return inner


_CRYPTO_INSTALL = 'pip install "tornado_dynasession[crypto]"'
_ENCRYPTED_V1 = 1  # unbound: the associated data is the version byte and key id
_ENCRYPTED_V2 = 2  # bound to the item: the associated data is the version byte, key id and the item's hash key
_KEY_ID_BYTES = 4
_NONCE_BYTES = 12
_TAG_BYTES = 16
_AAD_HEADER_BYTES = 1 + _KEY_ID_BYTES  # version byte and key id: fixed-length, authenticated as associated data
_ENCRYPTED_HEADER_BYTES = _AAD_HEADER_BYTES + _NONCE_BYTES
_AES_KEY_BYTES = (16, 24, 32)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
# The first plaintext byte says what the wrapped codec produced; it is encrypted with the rest.
_PLAIN_BYTES, _PLAIN_TEXT = b"\x00", b"\x01"


def _aesgcm_class() -> type[AESGCM]:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError as exc:
        raise ConfigurationError(f"EncryptedCodec needs the cryptography package: {_CRYPTO_INSTALL} ({exc})") from exc
    return AESGCM


def _key_bytes(position: int, key: object) -> bytes:
    if isinstance(key, (bytes, bytearray)):
        raw = bytes(key)
        what = f"{len(raw)} bytes"
    elif isinstance(key, str):
        if not _BASE64URL.fullmatch(key):
            raise ConfigurationError(
                f"EncryptedCodec key #{position} is a str but not base64url; generate one with "
                "EncryptedCodec.generate_key(), or pass the raw key as bytes"
            )
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
        what = f"a base64url str of {len(raw)} bytes"
    else:
        raise ConfigurationError(
            f"EncryptedCodec key #{position} is {type(key).__name__}: a key is bytes, or a base64url str of them"
        )
    if len(raw) not in _AES_KEY_BYTES:
        raise ConfigurationError(
            f"EncryptedCodec key #{position} is {what}: an AES key is 16, 24 or 32 bytes "
            "(32 recommended; EncryptedCodec.generate_key() makes one)"
        )
    return raw


def _binding(key: object) -> bytes:
    """The item's hash key as the UTF-8 bytes bound into a version-2 value; never quotes the key in an error."""
    if not isinstance(key, str):
        raise CodecError(
            f"EncryptedCodec binds a value to its item's hash key, a str, not {type(key).__name__}: "
            "pass store.key_for(sid)"
        )
    try:
        return key.encode()
    except UnicodeEncodeError as exc:
        raise CodecError(
            f"the item's hash key has a lone surrogate at index {exc.start}, which UTF-8 cannot carry: "
            "pass store.key_for(sid)"
        ) from None


class EncryptedCodec:
    """Wraps a codec and encrypts its output with AES-GCM: a stolen table, backup or stream reveals no session data.

    Needs ``pip install "tornado_dynasession[crypto]"``. Stored as type B, in one of two formats that share a
    layout: a version byte, a 4-byte key id (the first 4 bytes of the key's SHA-256), a random 12-byte nonce, then
    the ciphertext and its 16-byte tag. The version and key id are authenticated with the ciphertext (as AES-GCM
    associated data; the nonce is authenticated by GCM itself).

    - Version 2, bound to its item: written by :meth:`encode_for` and read by :meth:`decode_for` (see
      :class:`KeyBoundCodec`), which the store calls. The associated data is the version byte and key id followed
      by the UTF-8 bytes of the item's hash key (``store.key_for(sid)``). That header is always 5 bytes, so no two
      (header, key) pairs give the same associated data. A value copied into another item, or relabelled as
      version 1, fails authentication there.
    - Version 1, unbound: written by the plain :meth:`encode`; its associated data is the version byte and key
      id alone, so the same value decodes under any session id. :meth:`decode` reads only version 1 and refuses
      version 2, which needs its key: read it with :meth:`decode_for`.

    Migration from version 1: :meth:`decode_for` reads both versions, so sessions written before binding keep
    working, and each is rewritten as version 2 at its next save (a touch that only extends the expiry keeps
    its value). Until then a version-1 value can still be copied between items; once the longest session
    lifetime has passed, none is left.

    Key rotation, for both versions: new values are encrypted with the first key; any listed key decrypts. Put
    the new key first, keep the old one listed for at least the longest session lifetime, then drop it. A value
    whose key is no longer listed, or that was tampered with, truncated, copied from another item or not produced
    by this codec (such as plain JSON text written before encryption was enabled), raises :class:`CodecError`:
    the store treats the session as absent and logs a warning.

    Random nonces: rotate each key before it has encrypted about 2**32 values (each PutItem of a session is one;
    touches are not).

    A wrapped codec that is itself a :class:`KeyBoundCodec` gets the item's key too, through its own
    ``encode_for`` and ``decode_for``.

    :param inner: the codec whose output is encrypted; :class:`OrjsonCodec` by default.
    :param keys: one or more AES keys, each 16, 24 or 32 bytes, or a base64url ``str`` of them (padding optional).
    """

    __slots__ = ("_bound_inner", "_decrypters", "_encrypter", "_inner", "_key_ids")

    def __init__(self, inner: Codec | None = None, *, keys: Sequence[bytes | str]) -> None:
        if isinstance(keys, (str, bytes, bytearray)) or not isinstance(keys, Sequence):
            raise ConfigurationError("EncryptedCodec keys must be a list of keys, e.g. keys=[new_key, old_key]")
        if not keys:
            raise ConfigurationError("EncryptedCodec needs at least one key: keys=[EncryptedCodec.generate_key()]")
        aesgcm = _aesgcm_class()
        self._inner = _inner_codec(inner, "EncryptedCodec")
        # The wrapped codec again when it binds to the item's key too, so that encode_for and decode_for pass it on.
        self._bound_inner: KeyBoundCodec | None = self._inner if isinstance(self._inner, KeyBoundCodec) else None
        self._decrypters: dict[bytes, list[AESGCM]] = {}
        self._key_ids: list[bytes] = []
        seen: dict[bytes, int] = {}
        for position, key in enumerate(keys):
            raw = _key_bytes(position, key)
            if raw in seen:
                raise ConfigurationError(f"EncryptedCodec key #{position} repeats key #{seen[raw]}")
            seen[raw] = position
            key_id = hashlib.sha256(raw).digest()[:_KEY_ID_BYTES]
            cipher = aesgcm(raw)
            # Different keys may share a 4-byte id (a 2**-32 chance): decrypting tries each of them.
            self._decrypters.setdefault(key_id, []).append(cipher)
            self._key_ids.append(key_id)
        self._encrypter = (self._key_ids[0], self._decrypters[self._key_ids[0]][-1])

    @staticmethod
    def generate_key() -> str:
        """A new random 256-bit key, base64url without padding, ready for ``keys=[...]``."""
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()

    @property
    def key_ids(self) -> list[str]:
        """The keys' ids in hex, in order (the first encrypts); safe to log, they reveal nothing of the keys."""
        return [key_id.hex() for key_id in self._key_ids]

    def __repr__(self) -> str:
        return f"EncryptedCodec({self._inner!r}, key_ids={self.key_ids})"

    def encode(self, data: Mapping[str, Any]) -> bytes:
        """Encode ``data`` with the wrapped codec, then encrypt it with the first key, unbound (version 1)."""
        return self._seal(_ENCRYPTED_V1, b"", self._inner.encode(data))

    def encode_for(self, key: str, data: Mapping[str, Any]) -> bytes:
        """Like :meth:`encode`, but bound to the item whose hash key is ``key`` (version 2)."""
        binding = _binding(key)
        bound = self._bound_inner
        encoded = self._inner.encode(data) if bound is None else bound.encode_for(key, data)
        return self._seal(_ENCRYPTED_V2, binding, encoded)

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        """Authenticate and decrypt an unbound (version 1) ``raw``, then decode it with the wrapped codec."""
        return self._inner.decode(self._open(raw, None))

    def decode_for(self, key: str, raw: str | bytes) -> dict[str, Any]:
        """Authenticate and decrypt ``raw`` read from the item whose hash key is ``key``, then decode it.

        Reads version 2 values bound to ``key``, and version 1 values (unbound, written before binding).
        """
        encoded = self._open(raw, _binding(key))
        bound = self._bound_inner
        return self._inner.decode(encoded) if bound is None else bound.decode_for(key, encoded)

    def _seal(self, version: int, binding: bytes, encoded: str | bytes) -> bytes:
        is_text, payload = _payload(encoded)
        key_id, cipher = self._encrypter
        header = bytes((version,)) + key_id
        nonce = os.urandom(_NONCE_BYTES)
        plaintext = (_PLAIN_TEXT if is_text else _PLAIN_BYTES) + payload
        return header + nonce + cipher.encrypt(nonce, plaintext, header + binding)

    def _open(self, raw: str | bytes, binding: bytes | None) -> str | bytes:
        """The wrapped codec's output that ``raw`` encrypts; ``binding`` is the item's key, None for :meth:`decode`."""
        if not isinstance(raw, (bytes, bytearray)):
            raise CodecError(f"stored session is {type(raw).__name__}, not the binary value EncryptedCodec writes")
        if len(raw) < _ENCRYPTED_HEADER_BYTES + _TAG_BYTES + 1:
            raise CodecError(f"stored session is {len(raw)} bytes, too short to be encrypted: truncated?")
        version = raw[0]
        if version == _ENCRYPTED_V2:
            if binding is None:
                raise CodecError(
                    "stored session has encryption format version 2, which is bound to its item: "
                    "read it with decode_for(key, raw), not decode(raw)"
                )
            bound_to = binding
        elif version == _ENCRYPTED_V1:
            bound_to = b""
        else:
            raise CodecError(
                f"stored session has encryption format version {version}, this codec reads versions 1 and 2: "
                "written by a newer release, or not by EncryptedCodec?"
            )
        header = bytes(raw[:_AAD_HEADER_BYTES])
        key_id = header[1:]
        candidates = self._decrypters.get(key_id)
        if not candidates:
            raise CodecError(
                f"stored session was encrypted with key id {key_id.hex()}, which is not among the configured "
                f"keys {self.key_ids} (a retired key?)"
            )
        from cryptography.exceptions import InvalidTag

        nonce = bytes(raw[_AAD_HEADER_BYTES:_ENCRYPTED_HEADER_BYTES])
        ciphertext = bytes(raw[_ENCRYPTED_HEADER_BYTES:])
        for cipher in candidates:
            try:
                plaintext = cipher.decrypt(nonce, ciphertext, header + bound_to)
                break
            except InvalidTag:
                continue
        else:
            if version == _ENCRYPTED_V2:
                raise CodecError(
                    f"stored session fails authentication with key id {key_id.hex()} for this item: "
                    "tampered, corrupt, or copied from another item"
                )
            raise CodecError(f"stored session fails authentication with key id {key_id.hex()}: tampered or corrupt")
        kind, payload = plaintext[:1], plaintext[1:]
        if kind not in (_PLAIN_TEXT, _PLAIN_BYTES):
            raise CodecError("stored session decrypts to an unknown payload kind")
        return _restore(kind == _PLAIN_TEXT, payload)


DEFAULT_MAX_DECOMPRESSED_BYTES = 4 * 1024 * 1024
"""CompressedCodec's default cap on a decompressed session: 4 MiB."""

# Header bytes of a compressed value. 0xF4-0xF8 never start UTF-8 text, so they cannot be confused with
# uncompressed JSON, whether stored as a string or as bytes.
_STORED = 0xF4  # escapes an uncompressed binary value that happens to start with a header byte
_ZLIB_TEXT, _ZLIB_BYTES, _ZSTD_TEXT, _ZSTD_BYTES = 0xF5, 0xF6, 0xF7, 0xF8
_HEADERS = frozenset((_STORED, _ZLIB_TEXT, _ZLIB_BYTES, _ZSTD_TEXT, _ZSTD_BYTES))
_ZSTD_INSTALL = 'pip install "tornado_dynasession[zstd]" (or run on Python 3.14+, which has compression.zstd)'


def _uncompressed(encoded: str | bytes, payload: bytes) -> str | bytes:
    """The wrapped codec's output stored as it is, escaped when binary output could pass for a header."""
    if isinstance(encoded, str) or payload[:1] == b"" or payload[0] not in _HEADERS:
        return encoded
    return bytes((_STORED,)) + payload


def _zstd_module() -> Any | None:
    """Python 3.14's ``compression.zstd``, else the ``zstandard`` package, else None."""
    for name in ("compression.zstd", "zstandard"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _zstd_compress(zstd: Any, payload: bytes, level: int | None) -> bytes:
    if zstd.__name__ == "compression.zstd":
        return zstd.compress(payload, level=level)  # type: ignore[no-any-return]
    return zstd.ZstdCompressor(level=3 if level is None else level).compress(payload)  # type: ignore[no-any-return]


def _zstd_decompress(zstd: Any, data: bytes, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the single zstd frame ``data``; never trusts the frame's declared size."""
    if zstd.__name__ == "compression.zstd":
        decompressor = zstd.ZstdDecompressor()
        out: bytes = decompressor.decompress(data, max_length=limit + 1)
        if len(out) <= limit and (not decompressor.eof or decompressor.unused_data):
            raise CodecError("stored session's zstd data is truncated or has trailing bytes")
        return out
    with zstd.ZstdDecompressor().stream_reader(data) as reader:
        out = reader.read(limit + 1)
    return out


class CompressedCodec:
    """Wraps a codec and compresses its output above a size threshold, so a large session costs fewer write units.

    Values smaller than ``min_size_bytes``, or that do not shrink, are stored exactly as the wrapped codec made
    them (JSON text stays type S). Compressed values are type B: one header byte naming the algorithm, then the
    compressed data. Decoding accepts both, whichever codec wrote them, so a table can switch from
    ``OrjsonCodec()`` to ``CompressedCodec(OrjsonCodec())`` without losing its sessions (not back, though).

    zstd needs Python 3.14's ``compression.zstd`` or the ``zstandard`` package. Every process that reads the
    table must be able to decompress what any process writes, which is why zlib is the default; choose
    ``algorithm="zstd"`` only once zstd is installed everywhere. A value that cannot be decompressed (corrupt,
    truncated, zstd without zstd, or larger than ``max_decompressed_bytes``) raises :class:`CodecError`, so the
    store treats the session as absent.

    To combine with encryption, compress first: ``EncryptedCodec(CompressedCodec(OrjsonCodec()), keys=...)``
    (ciphertext does not compress).

    :param inner: the codec whose output is compressed; :class:`OrjsonCodec` by default.
    :param min_size_bytes: compress only encoded sessions of at least this many bytes; 1024.
    :param algorithm: ``"zlib"`` (standard library, the default: every host can read it), ``"zstd"``, or None:
        zstd when installed, else zlib.
    :param level: the compression level; None for the algorithm's default (zlib 6, zstd 3).
    :param max_decompressed_bytes: refuse to decompress beyond this many bytes (a decompression bomb guard),
        and refuse to encode a session larger than this, since it could not be read back; 4 MiB.
    """

    __slots__ = ("_inner", "_zstd", "algorithm", "level", "max_decompressed_bytes", "min_size_bytes")

    def __init__(
        self,
        inner: Codec | None = None,
        *,
        min_size_bytes: int = 1024,
        algorithm: Literal["zlib", "zstd"] | None = "zlib",
        level: int | None = None,
        max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
    ) -> None:
        self._inner = _inner_codec(inner, "CompressedCodec")
        for name, value in (("min_size_bytes", min_size_bytes), ("max_decompressed_bytes", max_decompressed_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(f"CompressedCodec {name} must be a whole number of bytes >= 0, not {value!r}")
        if max_decompressed_bytes < min_size_bytes:
            raise ConfigurationError(
                f"CompressedCodec max_decompressed_bytes ({max_decompressed_bytes}) is below min_size_bytes "
                f"({min_size_bytes}): no compressed session could be read back"
            )
        if algorithm not in ("zlib", "zstd", None):
            raise ConfigurationError(f'CompressedCodec algorithm must be "zlib", "zstd" or None, not {algorithm!r}')
        if level is not None and (isinstance(level, bool) or not isinstance(level, int)):
            raise ConfigurationError(f"CompressedCodec level must be an int or None, not {level!r}")
        self._zstd = _zstd_module()
        if algorithm == "zstd" and self._zstd is None:
            raise ConfigurationError(f'CompressedCodec(algorithm="zstd") needs zstd: {_ZSTD_INSTALL}')
        self.algorithm: Literal["zlib", "zstd"] = algorithm or ("zstd" if self._zstd is not None else "zlib")
        """The algorithm new values are compressed with."""
        if level is not None and self.algorithm == "zlib" and not -1 <= level <= 9:
            raise ConfigurationError(f"CompressedCodec zlib level must be in -1..9, not {level}")
        self.level = level
        self.min_size_bytes = min_size_bytes
        self.max_decompressed_bytes = max_decompressed_bytes

    def __repr__(self) -> str:
        return f"CompressedCodec({self._inner!r}, algorithm={self.algorithm!r}, min_size_bytes={self.min_size_bytes})"

    def encode(self, data: Mapping[str, Any]) -> str | bytes:
        """Encode ``data`` with the wrapped codec; compress the result when it is large enough and shrinks."""
        encoded = self._inner.encode(data)
        # A code point is at most 4 UTF-8 bytes: short text is below the threshold without encoding it.
        if isinstance(encoded, str) and len(encoded) * 4 < self.min_size_bytes:
            return encoded
        is_text, payload = _payload(encoded)
        if len(payload) < self.min_size_bytes:
            return _uncompressed(encoded, payload)
        if len(payload) > self.max_decompressed_bytes:
            raise CodecError(
                f"cannot encode the session: it is {len(payload)} bytes encoded, over CompressedCodec's "
                f"max_decompressed_bytes={self.max_decompressed_bytes}, so it could not be read back"
            )
        if self.algorithm == "zstd":
            header = _ZSTD_TEXT if is_text else _ZSTD_BYTES
            compressed = _zstd_compress(self._zstd, payload, self.level)
        else:
            header = _ZLIB_TEXT if is_text else _ZLIB_BYTES
            compressed = zlib.compress(payload, -1 if self.level is None else self.level)
        if len(compressed) + 1 >= len(payload):
            return _uncompressed(encoded, payload)
        return bytes((header,)) + compressed

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        """Decompress ``raw`` if it is compressed (at most ``max_decompressed_bytes``), then decode it."""
        if isinstance(raw, str) or not raw or raw[0] not in _HEADERS:
            return self._inner.decode(raw)
        header, body = raw[0], bytes(raw[1:])
        if header == _STORED:
            return self._inner.decode(body)
        limit = self.max_decompressed_bytes
        if header in (_ZLIB_TEXT, _ZLIB_BYTES):
            payload = self._inflate(body, limit)
        else:
            if self._zstd is None:
                raise CodecError(f"stored session is zstd-compressed, and zstd is not installed here: {_ZSTD_INSTALL}")
            try:
                payload = _zstd_decompress(self._zstd, body, limit)
            except CodecError:
                raise
            except Exception as exc:  # each zstd binding has its own error type
                raise CodecError(f"stored session's zstd data is corrupt: {exc}") from exc
        if len(payload) > limit:
            raise CodecError(
                f"stored session decompresses to more than max_decompressed_bytes={limit}: refused "
                "(a decompression bomb, or a cap set lower than when it was written)"
            )
        return self._inner.decode(_restore(header in (_ZLIB_TEXT, _ZSTD_TEXT), payload))

    @staticmethod
    def _inflate(body: bytes, limit: int) -> bytes:
        decompressor = zlib.decompressobj()
        try:
            payload = decompressor.decompress(body, limit + 1)
        except zlib.error as exc:
            raise CodecError(f"stored session's zlib data is corrupt: {exc}") from exc
        if len(payload) <= limit and (not decompressor.eof or decompressor.unused_data):
            raise CodecError("stored session's zlib data is truncated or has trailing bytes")
        return payload
