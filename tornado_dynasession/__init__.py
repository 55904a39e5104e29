"""tornado_dynasession: async, DynamoDB-backed web sessions for Tornado and Sanic."""

from .codec import Codec, JsonCodec, OrjsonCodec
from .errors import (
    CodecError,
    ConfigurationError,
    SessionConflictError,
    SessionStoreError,
    SessionTooLargeError,
    StoreUnavailableError,
    TableNotFoundError,
)
from .store import DynamoDBStore, SessionRecord
from .tables import TableSetup, create_table

__all__ = [
    "Codec",
    "CodecError",
    "ConfigurationError",
    "DynamoDBStore",
    "JsonCodec",
    "OrjsonCodec",
    "SessionConflictError",
    "SessionRecord",
    "SessionStoreError",
    "SessionTooLargeError",
    "StoreUnavailableError",
    "TableNotFoundError",
    "TableSetup",
    "create_table",
]

__version__ = "0.1.0"
