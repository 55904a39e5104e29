"""tornado_dynasession: async, DynamoDB-backed web sessions for Tornado, Sanic, Starlette/FastAPI and aiohttp.web.

Every name below is imported on first use (PEP 562), so that importing one adapter, say
``tornado_dynasession.sanic``, imports neither another framework's adapter nor optional parts it does not use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backends import AttributeNames, ClientOptions
    from .codecs import Codec, CompressedCodec, EncryptedCodec, JsonCodec, KeyBoundCodec, OrjsonCodec
    from .errors import (
        CodecError,
        ConfigurationError,
        SessionConflictError,
        SessionStoreError,
        SessionTooLargeError,
        StoreUnavailableError,
        TableNotFoundError,
    )
    from .mixin import SessionMixin
    from .policy import CookieClaims, CookieOptions, Session, SessionPolicy, new_session_id
    from .records import Absence, Emptied, SessionInfo, SessionRecord
    from .store import DynamoDBStore
    from .telemetry import Telemetry
    from .tools.tables import TableSetup, create_table

_HOMES = {
    ".backends": ("AttributeNames", "ClientOptions"),
    ".codecs": ("Codec", "CompressedCodec", "EncryptedCodec", "JsonCodec", "KeyBoundCodec", "OrjsonCodec"),
    ".errors": (
        "CodecError",
        "ConfigurationError",
        "SessionConflictError",
        "SessionStoreError",
        "SessionTooLargeError",
        "StoreUnavailableError",
        "TableNotFoundError",
    ),
    ".mixin": ("SessionMixin",),
    ".policy": ("CookieClaims", "CookieOptions", "Session", "SessionPolicy", "new_session_id"),
    ".records": ("Absence", "Emptied", "SessionInfo", "SessionRecord"),
    ".store": ("DynamoDBStore",),
    ".tools.tables": ("TableSetup", "create_table"),
    ".telemetry": ("Telemetry",),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "Absence",
    "AttributeNames",
    "ClientOptions",
    "Codec",
    "CodecError",
    "CompressedCodec",
    "ConfigurationError",
    "CookieClaims",
    "CookieOptions",
    "DynamoDBStore",
    "Emptied",
    "EncryptedCodec",
    "JsonCodec",
    "KeyBoundCodec",
    "OrjsonCodec",
    "Session",
    "SessionConflictError",
    "SessionInfo",
    "SessionMixin",
    "SessionPolicy",
    "SessionRecord",
    "SessionStoreError",
    "SessionTooLargeError",
    "StoreUnavailableError",
    "TableNotFoundError",
    "TableSetup",
    "Telemetry",
    "create_table",
    "new_session_id",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__version__ = "0.2.0"
"""The package version; pyproject.toml reads it from here."""
