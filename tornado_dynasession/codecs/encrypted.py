""":class:`EncryptedCodec`: AES-GCM around another codec, bound to the item's hash key.

The stored value (type B): a version byte, a 4-byte key id (the first 4 bytes of the key's SHA-256), a random
12-byte nonce, then the ciphertext and its 16-byte tag. The version and key id are authenticated as AES-GCM
associated data, followed in version 2 by the UTF-8 bytes of the item's hash key (``store.key_for(sid)``); the
header is always 5 bytes, so no two (header, key) pairs give the same associated data. Version 1 (unbound) has
the version byte and key id alone.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import CodecError, ConfigurationError
from .base import Codec, KeyBoundCodec, _inner_codec, _payload, _restore, decode_with, encode_with

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["EncryptedCodec"]

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

    Needs ``pip install "tornado_dynasession[crypto]"``. Stored as type B in one of two versions (the module
    describes the bytes):

    - Version 2, bound to its item: written by :meth:`encode_for` and read by :meth:`decode_for` (see
      :class:`KeyBoundCodec`), which the store calls. A value copied into another item, or relabelled as
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
        return self._seal(_ENCRYPTED_V1, b"", encode_with(self._inner, data))

    def encode_for(self, key: str, data: Mapping[str, Any]) -> bytes:
        """Like :meth:`encode`, but bound to the item whose hash key is ``key`` (version 2)."""
        binding = _binding(key)
        encoded = encode_with(self._inner, data, bound=self._bound_inner, key=key)
        return self._seal(_ENCRYPTED_V2, binding, encoded)

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        """Authenticate and decrypt an unbound (version 1) ``raw``, then decode it with the wrapped codec."""
        return decode_with(self._inner, self._open(raw, None))

    def decode_for(self, key: str, raw: str | bytes) -> dict[str, Any]:
        """Authenticate and decrypt ``raw`` read from the item whose hash key is ``key``, then decode it.

        Reads version 2 values bound to ``key``, and version 1 values (unbound, written before binding).
        """
        encoded = self._open(raw, _binding(key))
        return decode_with(self._inner, encoded, bound=self._bound_inner, key=key)

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
