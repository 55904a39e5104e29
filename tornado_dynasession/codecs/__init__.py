"""Codecs: turn a session dict into the stored ``Session`` attribute and back.

Every failure of a codec is a :class:`~tornado_dynasession.errors.CodecError`, with the cause chained. One module
each: ``base`` (the protocols), ``rule`` (what the JSON codecs store), ``json``, ``compressed``
and ``encrypted``.
"""

from .base import Codec, KeyBoundCodec, decode_with, encode_with
from .compressed import DEFAULT_MAX_DECOMPRESSED_BYTES, CompressedCodec
from .encrypted import EncryptedCodec
from .json import JsonCodec, OrjsonCodec

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "Codec",
    "CompressedCodec",
    "EncryptedCodec",
    "JsonCodec",
    "KeyBoundCodec",
    "OrjsonCodec",
    "decode_with",
    "encode_with",
]
