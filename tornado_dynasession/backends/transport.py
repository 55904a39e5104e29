"""The transport seam: one call that sends a DynamoDB request in its JSON wire form and returns the decoded answer.

A transport only sends requests and maps its client's failures to the two exceptions below; everything DynamoDB
means by a request or an answer is decided once, in :mod:`~tornado_dynasession.backends.wire`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["NO_CREDENTIALS", "NO_REGION", "ServiceError", "Transport", "Unreachable"]

NO_REGION = "no AWS region: pass options=ClientOptions(region_name=...) to the store or set AWS_DEFAULT_REGION"
"""The :class:`~tornado_dynasession.errors.ConfigurationError` text of every transport without a region."""

NO_CREDENTIALS = (
    "no AWS credentials for DynamoDB: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, an AWS profile, or an "
    "instance role"
)
"""The :class:`~tornado_dynasession.errors.ConfigurationError` text of every transport without credentials."""


class ServiceError(Exception):
    """DynamoDB answered with an error.

    :param code: the error code, without its namespace (``ConditionalCheckFailedException``).
    :param message: the server's message.
    :param body: the decoded error answer (with ``Item`` where a failed condition returns the item).
    :param attempts: how many attempts the call made in all (more than 1: an earlier attempt may have landed).
    :param status: the HTTP status, where known.
    """

    def __init__(
        self, code: str, message: str, *, body: Mapping[str, Any] | None = None, attempts: int = 1, status: int = 400
    ) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.body: Mapping[str, Any] = body or {}
        self.attempts = attempts
        self.status = status


class Unreachable(Exception):
    """No answer came: the connection failed, was reset, or timed out, on every attempt.

    :param detail: what happened on the last attempt.
    :param attempts: how many attempts were made, where the client tells.
    """

    def __init__(self, detail: str, *, attempts: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.attempts = attempts


class Transport(Protocol):
    """Sends DynamoDB requests for one store. It raises :class:`ServiceError`, :class:`Unreachable`, or
    :class:`~tornado_dynasession.errors.ConfigurationError` (no credentials, no region), and nothing else."""

    endpoint: str | None
    """The endpoint URL given by the user, or None for AWS's regional endpoint (for error messages)."""

    binary_as_bytes: bool
    """True when ``B`` values travel as ``bytes`` (botocore's form); False for base64 text (the JSON wire)."""

    async def send(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one request, e.g. ``send("GetItem", {"TableName": ..., "Key": ...})``, and return the answer."""
        ...

    async def close(self) -> None:
        """Release what the transport opened itself (never a caller-owned client)."""
        ...
