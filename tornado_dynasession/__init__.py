"""tornado_dynasession: async, DynamoDB-backed web sessions for Tornado and Sanic."""

from .codec import Codec, CompressedCodec, EncryptedCodec, JsonCodec, KeyBoundCodec, OrjsonCodec
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
from .session import CookieClaims, CookieOptions, Session, SessionPolicy, new_session_id
from .store import Absence, DynamoDBStore, SessionInfo, SessionRecord
from .tables import TableSetup, create_table
from .telemetry import Telemetry

__all__ = [
    "Absence",
    "Codec",
    "CodecError",
    "CompressedCodec",
    "ConfigurationError",
    "CookieClaims",
    "CookieOptions",
    "DynamoDBStore",
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

__version__ = "0.2.0"
"""The package version; pyproject.toml reads it from here."""
