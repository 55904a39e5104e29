"""The codecs, importable from their former path; they live in :mod:`tornado_dynasession.codecs`."""

from .codecs import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    Codec,
    CompressedCodec,
    EncryptedCodec,
    JsonCodec,
    KeyBoundCodec,
    OrjsonCodec,
)
from .codecs.compressed import _zstd_module

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "Codec",
    "CompressedCodec",
    "EncryptedCodec",
    "JsonCodec",
    "KeyBoundCodec",
    "OrjsonCodec",
    "_zstd_module",
]
