"""The optional fast backend: an aiodynamo client over aiohttp (``pip install "tornado_dynasession[aiodynamo]"``).

It costs well under half the client CPU of aiobotocore per call. It speaks DynamoDB's JSON wire format directly
through :meth:`aiodynamo.client.Client.send_request` (which signs, sends and retries): the condition expressions
and their attribute names are built once per backend rather than per call, and aiodynamo's own item conversion,
which would turn numbers into floats, is skipped.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import random
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiodynamo.client import Client
from aiodynamo.credentials import Credentials, Key, StaticCredentials
from aiodynamo.errors import (
    AIODynamoError,
    ConditionalCheckFailed,
    InternalDynamoError,
    LimitExceeded,
    NoCredentialsFound,
    ProvisionedThroughputExceeded,
    RequestLimitExceeded,
    ServiceUnavailable,
    TableNotFound,
    Throttled,
    UnknownError,
)
from aiodynamo.http.aiohttp import AIOHTTP
from aiodynamo.models import RetryConfig, RetryTimeout
from yarl import URL

from ..errors import ConfigurationError, SessionStoreError, StoreUnavailableError, TableNotFoundError
from . import AttributeNames, Condition, Item, ItemValue
from ._expressions import (
    ConditionWriter,
    batch_get_request,
    batch_get_result,
    number_from_wire,
    remove_request,
    user_query_request,
    user_query_result,
)

__all__ = ["AiodynamoBackend", "BoundedRetry", "create_backend", "map_aiodynamo_error"]

# aiohttp's keep-alive default is 15 s; aiobotocore uses 12 s. Idle connections are closed before a server does.
_KEEPALIVE_SECONDS = 12.0

_UNAVAILABLE = (
    Throttled,
    ProvisionedThroughputExceeded,
    RequestLimitExceeded,
    LimitExceeded,
    ServiceUnavailable,
    InternalDynamoError,
)


_RETRIED: ContextVar[bool] = ContextVar("tornado_dynasession_retried", default=False)
"""Set when a call of the current task was retried: aiodynamo runs the retry loop in the caller's task."""


@dataclass(frozen=True)
class BoundedRetry(RetryConfig):
    """An aiodynamo ``throttle_config`` that makes at most ``max_attempts`` attempts, with jittered exponential
    backoff (``base_delay_secs`` doubling, capped at ``max_delay_secs``; seconds) between them.

    aiodynamo's own retry configs only stop at a time limit (60 s by default); this one stops at a count as
    well, and ``time_limit_secs`` still caps the whole call.
    """

    max_attempts: int = 3
    base_delay_secs: float = 0.05
    max_delay_secs: float = 1.0

    def delays(self) -> Iterator[float]:
        """The pause before each retry: full jitter over ``base_delay_secs * 2**n``, at most ``max_delay_secs``."""
        for attempt in range(self.max_attempts - 1):
            yield min(random.random() * self.base_delay_secs * 2**attempt, self.max_delay_secs)

    def attempts(self) -> _Attempts:
        """One iteration per attempt, then RetryTimeout, which makes aiodynamo re-raise the last error."""
        return _Attempts(self)


class _Attempts:
    """The iterator behind :meth:`BoundedRetry.attempts`.

    A plain class, not an async generator: a call that succeeds leaves its iterator unfinished, and an unfinished
    async generator costs the event loop a thread-safe wake-up and an ``aclose()`` task when it is collected.
    Ending by raising RetryTimeout (not StopAsyncIteration) makes aiodynamo re-raise the last error instead of
    replacing it with BrokenThrottleConfig.
    """

    __slots__ = ("_config", "_deadline", "_delays", "_started")

    def __init__(self, config: BoundedRetry) -> None:
        self._config = config
        self._deadline = time.monotonic() + config.time_limit_secs
        self._delays: Iterator[float] | None = None
        self._started = False

    def __aiter__(self) -> _Attempts:
        return self

    async def __anext__(self) -> None:
        if not self._started:
            self._started = True
            return
        if self._delays is None:
            self._delays = self._config.delays()
        delay = next(self._delays, None)
        if delay is None or time.monotonic() + delay > self._deadline:
            raise RetryTimeout()
        _RETRIED.set(True)
        await asyncio.sleep(delay)


def _to_wire(value: ItemValue) -> dict[str, str]:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes):
        return {"B": base64.b64encode(value).decode("ascii")}
    if isinstance(value, int):
        return {"N": str(value)}
    raise TypeError(f"cannot store a {type(value).__name__} attribute")


def _from_wire(value: Any) -> ItemValue:
    # A single-key dict is the normal shape; anything else is corrupt and passed through for the store to reject.
    if isinstance(value, dict) and len(value) == 1:
        ((kind, inner),) = value.items()
        if kind == "S" and isinstance(inner, str):
            return inner
        if kind == "N" and isinstance(inner, str):
            return number_from_wire(inner)
        if kind == "B" and isinstance(inner, str):
            try:
                return base64.b64decode(inner, validate=True)
            except binascii.Error:
                pass
    wire: object = value
    return wire


def _item_from_wire(raw: Any) -> Item | None:
    if not isinstance(raw, dict) or not raw:
        return None
    return {name: _from_wire(value) for name, value in raw.items()}


def _error_text(exc: BaseException) -> str:
    # aiodynamo passes the decoded error body (``{"__type": ..., "message": ...}``) as the exception's argument.
    body = exc.args[0] if exc.args else None
    if isinstance(body, dict):
        code = str(body.get("__type", type(exc).__name__)).rsplit("#", 1)[-1]
        message = body.get("message") or body.get("Message") or ""
        return f"{code}: {message}" if message else code
    if isinstance(exc, UnknownError):
        return f"HTTP {exc.status}: {exc.body[:200].decode(errors='replace')}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def map_aiodynamo_error(
    exc: BaseException,
    *,
    operation: str,
    table: str,
    hash_key: str,
    endpoint: str | None,
    max_attempts: int | None = None,
) -> Exception:
    """Translate an aiodynamo/aiohttp failure into the library's own error, naming cause and fix."""
    where = endpoint or "the AWS regional endpoint"
    attempts = f" after {max_attempts} attempt(s)" if max_attempts else ""
    if isinstance(exc, TableNotFound):
        return TableNotFoundError(table, hash_key, endpoint)
    if isinstance(exc, _UNAVAILABLE) or (isinstance(exc, UnknownError) and exc.status >= 500):
        return StoreUnavailableError(
            f"DynamoDB at {where} refused {operation} on table {table!r} with {_error_text(exc)}{attempts}. "
            "Retry later; if it is throttling, raise the table's capacity (or use on-demand) or set "
            "session_touch_after to cut touch writes."
        )
    if isinstance(exc, NoCredentialsFound):
        return ConfigurationError(
            f"no AWS credentials for DynamoDB at {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "an AWS profile, or an instance role"
        )
    if isinstance(exc, AIODynamoError):
        return SessionStoreError(f"DynamoDB at {where} rejected {operation} on table {table!r}: {_error_text(exc)}")
    if isinstance(exc, (aiohttp.ClientError, OSError, asyncio.TimeoutError, RetryTimeout)):
        return StoreUnavailableError(
            f"DynamoDB server unreachable at {where} during {operation}{attempts} ({_error_text(exc)}). "
            "Check that the server runs and that endpoint_url / DYNAMODB_ENDPOINT points at it."
        )
    return SessionStoreError(f"unexpected error during {operation} at {where}: {type(exc).__name__}: {exc}")


class AiodynamoBackend:
    """Speaks to one table through an aiodynamo :class:`~aiodynamo.client.Client`."""

    __slots__ = (
        "_client",
        "_close",
        "_conditions",
        "_endpoint",
        "_key_name",
        "_max_attempts",
        "_names",
        "_send",
        "_table",
    )

    def __init__(
        self,
        client: Client,
        table: str,
        names: AttributeNames,
        *,
        endpoint_url: str | None,
        close: Any = None,
        max_attempts: int | None = None,
    ) -> None:
        self._client = client
        self._send = client.send_request
        self._table = table
        self._key_name = names.hash_key
        self._endpoint = endpoint_url or (str(client.endpoint) if client.endpoint is not None else None)
        self._close = close
        self._max_attempts = max_attempts
        self._conditions = ConditionWriter(names)
        self._names = names

    def _error(self, exc: BaseException, operation: str) -> Exception:
        return map_aiodynamo_error(
            exc,
            operation=operation,
            table=self._table,
            hash_key=self._key_name,
            endpoint=self._endpoint,
            max_attempts=self._max_attempts,
        )

    async def get(self, key: str, *, consistent_read: bool) -> Item | None:
        """One GetItem."""
        payload = {"TableName": self._table, "Key": {self._key_name: {"S": key}}, "ConsistentRead": consistent_read}
        try:
            response = await self._send(action="GetItem", payload=payload)
        except Exception as exc:
            raise self._error(exc, "GetItem") from exc
        return _item_from_wire(response.get("Item"))

    async def put(self, item: Item, condition: Condition | None) -> bool | None:
        """One PutItem, conditional when ``condition`` is given."""
        payload: dict[str, Any] = {
            "TableName": self._table,
            "Item": {name: _to_wire(value) for name, value in item.items()},
        }
        if condition is not None:
            values = self._conditions.apply(condition, payload)
            if values:
                payload["ExpressionAttributeValues"] = values
        retried = _RETRIED.set(False)
        try:
            await self._send(action="PutItem", payload=payload)
        except ConditionalCheckFailed:
            # A retry that fails its own condition may be failing on our own first attempt, which landed.
            return None if _RETRIED.get() else False
        except Exception as exc:
            raise self._error(exc, "PutItem") from exc
        finally:
            _RETRIED.reset(retried)
        return True

    async def update_expires(self, key: str, expires_at: int, condition: Condition) -> bool:
        """One conditional UpdateItem that sets only ``Expires``."""
        payload: dict[str, Any] = {"TableName": self._table, "Key": {self._key_name: {"S": key}}}
        self._conditions.apply_touch(condition, payload, expires_at)
        try:
            await self._send(action="UpdateItem", payload=payload)
        except ConditionalCheckFailed:
            return False
        except Exception as exc:
            raise self._error(exc, "UpdateItem") from exc
        return True

    async def refresh(self, key: str, expires_at: int, *, now: float, latest: int) -> tuple[bool, Item | None]:
        """One conditional UpdateItem that slides ``Expires`` and returns the item."""
        payload: dict[str, Any] = {"TableName": self._table, "Key": {self._key_name: {"S": key}}}
        self._conditions.apply_refresh(payload, expires_at, now=now, latest=latest)
        try:
            response = await self._send(action="UpdateItem", payload=payload)
        except ConditionalCheckFailed as exc:
            body = exc.args[0] if exc.args else None
            return False, _item_from_wire(body.get("Item") if isinstance(body, dict) else None)
        except Exception as exc:
            raise self._error(exc, "UpdateItem") from exc
        return True, _item_from_wire(response.get("Attributes"))

    async def delete(self, key: str) -> None:
        """One unconditional DeleteItem (idempotent)."""
        try:
            await self._send(
                action="DeleteItem", payload={"TableName": self._table, "Key": {self._key_name: {"S": key}}}
            )
        except Exception as exc:
            raise self._error(exc, "DeleteItem") from exc

    async def remove(self, key: str, *, user_key: str | None) -> Item | None:
        """One DeleteItem returning the old item; conditional on its user when ``user_key`` is given."""
        try:
            response = await self._send(
                action="DeleteItem", payload=remove_request(self._table, self._names, key, user_key)
            )
        except ConditionalCheckFailed:
            return None
        except Exception as exc:
            raise self._error(exc, "DeleteItem") from exc
        return _item_from_wire(response.get("Attributes"))

    async def query_user(
        self, index: str, user_key: str, start: dict[str, Any] | None
    ) -> tuple[list[str], dict[str, Any] | None]:
        """One page of a Query on the user index."""
        payload = user_query_request(self._table, index, self._names, user_key, start)
        try:
            response = await self._send(action="Query", payload=payload)
        except Exception as exc:
            raise self._error(exc, "Query") from exc
        return user_query_result(response, self._names)

    async def get_batch(
        self, keys: list[str], attributes: tuple[str, ...], *, consistent_read: bool
    ) -> tuple[list[Item], list[str]]:
        """One BatchGetItem."""
        payload = batch_get_request(self._table, self._names, keys, attributes, consistent_read)
        try:
            response = await self._send(action="BatchGetItem", payload=payload)
        except Exception as exc:
            raise self._error(exc, "BatchGetItem") from exc
        found, pending = batch_get_result(response, self._table, self._names)
        return [item for item in map(_item_from_wire, found) if item], pending

    async def close(self) -> None:
        """Close the HTTP session if this backend created it."""
        if self._close is not None:
            close, self._close = self._close, None
            await close()


def create_backend(
    table: str,
    names: AttributeNames,
    *,
    endpoint_url: str | None,
    region_name: str | None,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
    max_pool_connections: int,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
) -> AiodynamoBackend:
    """A backend with its own aiohttp session and aiodynamo client, closed by :meth:`AiodynamoBackend.close`.

    Must run inside the event loop. Timeouts are in seconds, per attempt, as in the aiobotocore path; explicit
    keys (the store passes dummy ones for a loopback endpoint) win over aiodynamo's credential chain.
    """
    region = region_name or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if not region:
        raise ConfigurationError("no AWS region: pass region_name= to the store or set AWS_DEFAULT_REGION")
    credentials: Credentials
    if aws_access_key_id and aws_secret_access_key:
        credentials = StaticCredentials(Key(aws_access_key_id, aws_secret_access_key))
    else:
        credentials = Credentials.auto()
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max_pool_connections, keepalive_timeout=_KEEPALIVE_SECONDS),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout),
    )
    # The time limit only stops a retry from starting once the attempts so far could have used up their timeouts.
    throttle = BoundedRetry(
        time_limit_secs=max_attempts * (connect_timeout + read_timeout) + 1.0, max_attempts=max_attempts
    )
    client = Client(
        AIOHTTP(session),
        credentials,
        region,
        URL(endpoint_url) if endpoint_url else None,
        throttle_config=throttle,
    )
    return AiodynamoBackend(
        client, table, names, endpoint_url=endpoint_url, close=session.close, max_attempts=max_attempts
    )
