"""The wire layer: the store's nine DynamoDB calls, written once in DynamoDB's JSON wire form over one
:meth:`Transport.send <tornado_dynasession.backends.transport.Transport.send>`, and every failure mapped to the
library's own errors, each naming its cause and its fix."""

from __future__ import annotations

import base64
import binascii
from typing import Any

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
from .transport import ServiceError, Transport, Unreachable

__all__ = ["UNAVAILABLE_CODES", "WireBackend", "item_from_wire", "map_error"]

UNAVAILABLE_CODES = frozenset(
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
"""Codes that mean "the server is there but will not serve you right now": worth a retry, then a 503."""

_CONDITION_FAILED = "ConditionalCheckFailedException"


def map_error(
    exc: ServiceError | Unreachable, *, operation: str, table: str, hash_key: str, where: str | None
) -> Exception:
    """The library's error for a transport failure: what happened, where, and what to do about it."""
    endpoint = where or "the AWS regional endpoint"
    if isinstance(exc, Unreachable):
        return StoreUnavailableError(
            f"DynamoDB server unreachable at {endpoint} during {operation}{_after(exc.attempts)} "
            f"({exc.detail}). Check that the server runs and that endpoint_url / DYNAMODB_ENDPOINT points at it."
        )
    if exc.code == "ResourceNotFoundException":
        return TableNotFoundError(table, hash_key, where)
    if exc.code in UNAVAILABLE_CODES or exc.status >= 500:
        return StoreUnavailableError(
            f"DynamoDB at {endpoint} refused {operation} on table {table!r} with {exc}{_after(exc.attempts)}. "
            "Retry later; if it is throttling, raise the table's capacity (or use on-demand) or set "
            "session_touch_after to cut touch writes."
        )
    return SessionStoreError(f"DynamoDB at {endpoint} rejected {operation} on table {table!r}: {exc}")


def _after(attempts: int | None) -> str:
    return f" after {attempts} attempt(s)" if attempts else ""


def _to_text_wire(value: ItemValue) -> dict[str, str]:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes):
        return {"B": base64.b64encode(value).decode("ascii")}
    if isinstance(value, int):
        return {"N": str(value)}
    raise TypeError(f"cannot store a {type(value).__name__} attribute")


def _to_bytes_wire(value: ItemValue) -> dict[str, Any]:
    if isinstance(value, bytes):
        return {"B": value}
    return _to_text_wire(value)


def _from_wire(value: Any) -> ItemValue:
    # A single-key dict is the normal shape. Any other (L, M, SS, BOOL, NULL, a malformed value) is passed through
    # as its wire form, for the store to reject as corrupt.
    if isinstance(value, dict) and len(value) == 1:
        ((kind, inner),) = value.items()
        if kind == "S" and isinstance(inner, str):
            return inner
        if kind == "N" and isinstance(inner, str):
            return number_from_wire(inner)
        if kind == "B":
            if isinstance(inner, (bytes, bytearray)):
                return bytes(inner)
            if isinstance(inner, str):
                try:
                    return base64.b64decode(inner, validate=True)
                except binascii.Error:
                    pass
    wire: object = value
    return wire


def item_from_wire(raw: Any) -> Item | None:
    """An item in wire form as plain values (see :class:`~tornado_dynasession.backends.Backend`); None for none."""
    if not isinstance(raw, dict) or not raw:
        return None
    return {name: _from_wire(value) for name, value in raw.items()}


class WireBackend:
    """A :class:`~tornado_dynasession.backends.Backend` over any transport: one table, one attribute naming."""

    __slots__ = ("_conditions", "_key_name", "_names", "_send", "_table", "_to_wire", "transport")

    def __init__(self, transport: Transport, table: str, names: AttributeNames) -> None:
        self.transport = transport
        """The transport the calls go through."""
        self._send = transport.send
        self._table = table
        self._names = names
        self._key_name = names.hash_key
        self._conditions = ConditionWriter(names)
        self._to_wire = _to_bytes_wire if transport.binary_as_bytes else _to_text_wire

    async def _call(self, operation: str, payload: dict[str, Any], *, conditional: bool = False) -> Any:
        """Send one request: its answer, or, when ``conditional``, the :class:`ServiceError` of a failed
        condition. Every other failure is raised as the library's own error, with the cause chained."""
        try:
            return await self._send(operation, payload)
        except ServiceError as exc:
            if conditional and exc.code == _CONDITION_FAILED:
                return exc
            raise self._error(exc, operation) from exc
        except Unreachable as exc:
            raise self._error(exc, operation) from exc
        except (SessionStoreError, ConfigurationError):
            raise
        except Exception as exc:
            where = self.transport.endpoint or "the AWS regional endpoint"
            raise SessionStoreError(
                f"unexpected error during {operation} at {where}: {type(exc).__name__}: {exc}"
            ) from exc

    def _error(self, exc: ServiceError | Unreachable, operation: str) -> Exception:
        return map_error(
            exc, operation=operation, table=self._table, hash_key=self._key_name, where=self.transport.endpoint
        )

    def _key(self, key: str) -> dict[str, Any]:
        return {"TableName": self._table, "Key": {self._key_name: {"S": key}}}

    async def get(self, key: str, *, consistent_read: bool) -> Item | None:
        """One GetItem."""
        payload = self._key(key)
        payload["ConsistentRead"] = consistent_read
        return item_from_wire((await self._call("GetItem", payload)).get("Item"))

    async def put(self, item: Item, condition: Condition | None) -> bool | None:
        """One PutItem, conditional when ``condition`` is given; None when a retried attempt failed its condition
        (an earlier attempt may have landed and lost its answer)."""
        to_wire = self._to_wire
        payload: dict[str, Any] = {
            "TableName": self._table,
            "Item": {name: to_wire(value) for name, value in item.items()},
        }
        return await self._write("PutItem", payload, condition)

    async def _write(self, operation: str, payload: dict[str, Any], condition: Condition | None) -> bool | None:
        """Send a write with ``condition`` written into it: True, False when the condition failed, or None when it
        failed on a retried attempt (an earlier attempt may have landed and lost its answer, so the caller must
        look)."""
        if condition is not None:
            values = self._conditions.apply(condition, payload)
            if values:
                payload["ExpressionAttributeValues"] = values
        answer = await self._call(operation, payload, conditional=True)
        if isinstance(answer, ServiceError):
            return None if answer.attempts > 1 else False
        return True

    async def update_expires(self, key: str, expires_at: int, condition: Condition) -> bool:
        """One conditional UpdateItem that sets only ``Expires``."""
        payload = self._key(key)
        self._conditions.apply_touch(condition, payload, expires_at)
        return not isinstance(await self._call("UpdateItem", payload, conditional=True), ServiceError)

    async def refresh(self, key: str, expires_at: int, *, now: float, latest: int) -> tuple[bool, Item | None]:
        """One conditional UpdateItem that slides ``Expires`` and returns the item as it was."""
        payload = self._key(key)
        self._conditions.apply_refresh(payload, expires_at, now=now, latest=latest)
        answer = await self._call("UpdateItem", payload, conditional=True)
        if isinstance(answer, ServiceError):
            return False, item_from_wire(answer.body.get("Item"))
        return True, item_from_wire(answer.get("Attributes"))

    async def delete(self, key: str, condition: Condition | None = None) -> bool | None:
        """One DeleteItem, conditional when ``condition`` is given (deleting a missing item is not an error); None
        when a retried attempt failed its condition."""
        return await self._write("DeleteItem", self._key(key), condition)

    async def remove(self, key: str, *, user_key: str | None, replacement: Item | None = None) -> Item | None:
        """One DeleteItem returning the old item, or a PutItem of ``replacement``; conditional on its user when
        ``user_key`` is given."""
        to_wire = self._to_wire
        wire_item = None if replacement is None else {name: to_wire(value) for name, value in replacement.items()}
        operation = "DeleteItem" if replacement is None else "PutItem"
        answer = await self._call(
            operation, remove_request(self._table, self._names, key, user_key, wire_item), conditional=True
        )
        if isinstance(answer, ServiceError):
            return None
        return item_from_wire(answer.get("Attributes"))

    async def query_user(
        self, index: str, user_key: str, start: dict[str, Any] | None
    ) -> tuple[list[str], dict[str, Any] | None]:
        """One page of a Query on the user index."""
        answer = await self._call("Query", user_query_request(self._table, index, self._names, user_key, start))
        return user_query_result(answer, self._names)

    async def get_batch(
        self, keys: list[str], attributes: tuple[str, ...], *, consistent_read: bool
    ) -> tuple[list[Item], list[str]]:
        """One BatchGetItem."""
        payload = batch_get_request(self._table, self._names, keys, attributes, consistent_read)
        found, pending = batch_get_result(await self._call("BatchGetItem", payload), self._table, self._names)
        return [item for item in map(item_from_wire, found) if item], pending

    async def close(self) -> None:
        """Close the transport (which leaves a caller-owned client open)."""
        await self.transport.close()
