"""The exception hierarchy: every failure a caller can see is one of these, with the cause chained."""

from __future__ import annotations

__all__ = [
    "CodecError",
    "ConfigurationError",
    "SessionConflictError",
    "SessionStoreError",
    "SessionTooLargeError",
    "StoreUnavailableError",
    "TableNotFoundError",
]


class SessionStoreError(Exception):
    """Base class of every error raised by the session store."""


class TableNotFoundError(SessionStoreError):
    """The DynamoDB table does not exist; the message names the command that creates it."""

    def __init__(self, table: str, hash_key: str, endpoint_url: str | None) -> None:
        endpoint = f" --endpoint-url {endpoint_url}" if endpoint_url else ""
        super().__init__(
            f"DynamoDB table {table!r} does not exist"
            f"{' at ' + endpoint_url if endpoint_url else ''}. The store never creates tables; "
            f"create it with: python -m tornado_dynasession create-table --table {table} "
            f"--hash-key {hash_key}{endpoint}"
        )
        self.table = table


class StoreUnavailableError(SessionStoreError):
    """DynamoDB could not be reached or kept refusing: connection errors, timeouts, throttling after retries."""


class SessionTooLargeError(SessionStoreError):
    """The encoded session would exceed DynamoDB's item size limit; nothing was written."""

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        super().__init__(
            f"session item is {size_bytes} bytes, over DynamoDB's limit of {limit_bytes} bytes "
            f"({size_bytes / 1024:.1f} KiB > {limit_bytes / 1024:.0f} KiB); nothing was written. "
            "Keep large data elsewhere (S3, a table of its own) and store a reference in the session, "
            "or wrap the codec in CompressedCodec."
        )
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


class SessionConflictError(SessionStoreError):
    """With ``locking=True``: another request changed or removed the session since it was loaded."""


class CodecError(SessionStoreError):
    """The codec could not encode a session (names the offending type) or decode a stored one."""


class ConfigurationError(Exception):
    """A required setting is missing or invalid; the message names the setting and how to fix it."""
