"""The default backend: an aiobotocore DynamoDB client, one long-lived client per store."""

from __future__ import annotations

import asyncio
import functools
import platform
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import aiohttp
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from ..errors import (
    ConfigurationError,
    SessionStoreError,
    StoreUnavailableError,
    TableNotFoundError,
)
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

if TYPE_CHECKING:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import AioSession
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef

__all__ = ["AiobotocoreBackend", "client_config", "map_client_error", "shared_session", "user_agent"]

# Codes that mean "the server is there but will not serve you right now": worth a retry, then a 503.
_UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "LimitExceededException",
    }
)


def _to_wire(value: ItemValue) -> AttributeValueTypeDef:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, int):
        return {"N": str(value)}
    raise TypeError(f"cannot store a {type(value).__name__} attribute")


def _from_wire(value: Any) -> ItemValue:
    # A single-key dict is the normal shape; anything else is corrupt and passed through for the store to reject.
    if isinstance(value, dict) and len(value) == 1:
        ((kind, inner),) = value.items()
        if kind == "S" and isinstance(inner, str):
            return inner
        if kind == "B" and isinstance(inner, (bytes, bytearray)):
            return bytes(inner)
        if kind == "N" and isinstance(inner, str):
            return number_from_wire(inner)
    # Any other shape (L, M, SS, BOOL, NULL, ...) is passed through as its wire form: the store rejects it.
    wire: object = value
    return wire


def _item_from_wire(raw: Any) -> Item | None:
    if not isinstance(raw, dict) or not raw:
        return None
    return {name: _from_wire(value) for name, value in raw.items()}


def map_client_error(
    exc: BaseException, *, operation: str, table: str, hash_key: str, endpoint: str | None
) -> Exception:
    """Translate an aiobotocore/aiohttp failure into the library's own error, naming cause and fix."""
    where = endpoint or "the AWS regional endpoint"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = error.get("Message", "")
        attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
        if code == "ResourceNotFoundException":
            return TableNotFoundError(table, hash_key, endpoint)
        if code in _UNAVAILABLE_CODES:
            return StoreUnavailableError(
                f"DynamoDB at {where} refused {operation} on table {table!r} with {code} after {attempts} "
                f"attempt(s): {message}. Retry later; if it is throttling, raise the table's capacity "
                "(or use on-demand) or set session_touch_after to cut touch writes."
            )
        return SessionStoreError(f"DynamoDB at {where} rejected {operation} on table {table!r}: {code}: {message}")
    if isinstance(exc, NoCredentialsError):
        return ConfigurationError(
            f"no AWS credentials for DynamoDB at {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "an AWS profile, or an instance role"
        )
    if isinstance(exc, NoRegionError):
        return ConfigurationError("no AWS region: pass region_name= to the store or set AWS_DEFAULT_REGION")
    if isinstance(exc, (BotoConnectionError, HTTPClientError, aiohttp.ClientError, OSError, asyncio.TimeoutError)):
        return StoreUnavailableError(
            f"DynamoDB server unreachable at {where} during {operation} ({type(exc).__name__}: {exc}). "
            "Check that the server runs and that endpoint_url / DYNAMODB_ENDPOINT points at it."
        )
    if isinstance(exc, BotoCoreError):
        return SessionStoreError(f"DynamoDB client error during {operation} at {where}: {exc}")
    return SessionStoreError(f"unexpected error during {operation} at {where}: {type(exc).__name__}: {exc}")


def _version_of(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


@functools.cache
def user_agent() -> str:
    """The User-Agent of the store's own aiobotocore client: this library, aiobotocore and Python (aiobotocore's
    session appends ``botocore/<version>`` itself)."""
    from .. import __version__  # here, not at import time: the package imports this module before it is complete

    return (
        f"tornado_dynasession/{__version__} aiobotocore/{_version_of('aiobotocore')} Python/{platform.python_version()}"
    )


def client_config(
    *, connect_timeout: float, read_timeout: float, max_attempts: int, max_pool_connections: int
) -> AioConfig:
    """The AioConfig of the store's own client: timeouts in seconds per attempt, standard retries with backoff up
    to ``max_attempts`` attempts in all, a pool of ``max_pool_connections``, and two options that cut the client
    CPU per call by about a quarter (callgrind, GetItem on loopback; both in botocore for years, so they hold
    across aiobotocore releases):

    - ``user_agent``: a fixed string. Without one, botocore rebuilds its structured User-Agent (SDK, OS, language,
      feature and config metadata, each part sanitised) twice per request, about a quarter of the client's
      instructions; with one it joins the string with any ``user_agent_extra``. ``AWS_SDK_UA_APP_ID`` is then not
      reported.
    - ``parameter_validation=False``: the backend builds every request itself from strings and integers; what
      the client would have caught (a table name under 3 characters, say) DynamoDB refuses with a
      ValidationException instead, a :class:`~tornado_dynasession.errors.SessionStoreError` like any other
      rejection. 2 to 5 % per call.

    Signing, retries and timeouts are untouched.
    """
    from aiobotocore.config import AioConfig

    return AioConfig(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        max_pool_connections=max_pool_connections,
        user_agent=user_agent(),
        parameter_validation=False,
    )


@functools.lru_cache(maxsize=1)
def shared_session() -> AioSession:
    """The process's one aiobotocore session, for every client this package creates.

    A new session re-reads the DynamoDB service model from disk, so a client from a fresh session costs about
    100 ms more than one from a warm session (each store and each create-table call used to pay that).
    """
    from aiobotocore.session import get_session

    return get_session()


class AiobotocoreBackend:
    """Speaks to one table through an aiobotocore DynamoDB client."""

    __slots__ = ("_client", "_close", "_conditions", "_endpoint", "_key_name", "_names", "_table")

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        names: AttributeNames,
        *,
        endpoint_url: str | None,
        close: Any = None,
    ) -> None:
        self._client = client
        self._table = table
        self._conditions = ConditionWriter(names)
        self._names = names
        self._key_name = names.hash_key
        self._endpoint = endpoint_url
        self._close = close

    def _error(self, exc: BaseException, operation: str) -> Exception:
        return map_client_error(
            exc, operation=operation, table=self._table, hash_key=self._key_name, endpoint=self._endpoint
        )

    async def get(self, key: str, *, consistent_read: bool) -> Item | None:
        """One GetItem."""
        try:
            response = await self._client.get_item(
                TableName=self._table, Key={self._key_name: {"S": key}}, ConsistentRead=consistent_read
            )
        except Exception as exc:
            raise self._error(exc, "GetItem") from exc
        return _item_from_wire(response.get("Item"))

    async def put(self, item: Item, condition: Condition | None) -> bool | None:
        """One PutItem, conditional when ``condition`` is given."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Item": {name: _to_wire(value) for name, value in item.items()},
        }
        if condition is not None:
            values = self._conditions.apply(condition, kwargs)
            if values:
                kwargs["ExpressionAttributeValues"] = values
        try:
            await self._client.put_item(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                # A retry that fails its own condition may be failing on our own first attempt, which landed.
                return None if exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) else False
            raise self._error(exc, "PutItem") from exc
        except Exception as exc:
            raise self._error(exc, "PutItem") from exc
        return True

    async def update_expires(self, key: str, expires_at: int, condition: Condition) -> bool:
        """One conditional UpdateItem that sets only ``Expires``."""
        kwargs: dict[str, Any] = {"TableName": self._table, "Key": {self._key_name: {"S": key}}}
        self._conditions.apply_touch(condition, kwargs, expires_at)
        try:
            await self._client.update_item(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise self._error(exc, "UpdateItem") from exc
        except Exception as exc:
            raise self._error(exc, "UpdateItem") from exc
        return True

    async def refresh(self, key: str, expires_at: int, *, now: float, latest: int) -> tuple[bool, Item | None]:
        """One conditional UpdateItem that slides ``Expires`` and returns the item."""
        kwargs: dict[str, Any] = {"TableName": self._table, "Key": {self._key_name: {"S": key}}}
        self._conditions.apply_refresh(kwargs, expires_at, now=now, latest=latest)
        try:
            response = await self._client.update_item(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False, _item_from_wire(exc.response.get("Item"))
            raise self._error(exc, "UpdateItem") from exc
        except Exception as exc:
            raise self._error(exc, "UpdateItem") from exc
        return True, _item_from_wire(response.get("Attributes"))

    async def delete(self, key: str) -> None:
        """One unconditional DeleteItem (idempotent)."""
        try:
            await self._client.delete_item(TableName=self._table, Key={self._key_name: {"S": key}})
        except Exception as exc:
            raise self._error(exc, "DeleteItem") from exc

    async def remove(self, key: str, *, user_key: str | None) -> Item | None:
        """One DeleteItem returning the old item; conditional on its user when ``user_key`` is given."""
        try:
            response = await self._client.delete_item(**remove_request(self._table, self._names, key, user_key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise self._error(exc, "DeleteItem") from exc
        except Exception as exc:
            raise self._error(exc, "DeleteItem") from exc
        return _item_from_wire(response.get("Attributes"))

    async def query_user(
        self, index: str, user_key: str, start: dict[str, Any] | None
    ) -> tuple[list[str], dict[str, Any] | None]:
        """One page of a Query on the user index."""
        request = user_query_request(self._table, index, self._names, user_key, start)
        try:
            response: Any = await self._client.query(**request)
        except Exception as exc:
            raise self._error(exc, "Query") from exc
        return user_query_result(response, self._names)

    async def get_batch(
        self, keys: list[str], attributes: tuple[str, ...], *, consistent_read: bool
    ) -> tuple[list[Item], list[str]]:
        """One BatchGetItem."""
        request = batch_get_request(self._table, self._names, keys, attributes, consistent_read)
        try:
            response: Any = await self._client.batch_get_item(**request)
        except Exception as exc:
            raise self._error(exc, "BatchGetItem") from exc
        found, pending = batch_get_result(response, self._table, self._names)
        return [item for item in map(_item_from_wire, found) if item], pending

    async def close(self) -> None:
        """Close the client if this backend created it."""
        if self._close is not None:
            close, self._close = self._close, None
            await close()
