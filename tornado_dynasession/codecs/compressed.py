""":class:`CompressedCodec`: zlib or zstd around another codec, above a size threshold."""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Mapping
from typing import Any, Literal

from ..errors import CodecError, ConfigurationError
from .base import Codec, _inner_codec, _payload, _restore, decode_with, encode_with

__all__ = ["DEFAULT_MAX_DECOMPRESSED_BYTES", "CompressedCodec"]

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
        encoded = encode_with(self._inner, data)
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
            return decode_with(self._inner, raw)
        header, body = raw[0], bytes(raw[1:])
        if header == _STORED:
            return decode_with(self._inner, body)
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
        return decode_with(self._inner, _restore(header in (_ZLIB_TEXT, _ZSTD_TEXT), payload))

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
