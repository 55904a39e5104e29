"""Metering: a transport wrapper that tells the traced call it runs in which DynamoDB calls it made, and their cost."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ..backends.transport import ServiceError
from ..backends.wire import item_from_wire
from .billing import item_bytes, read_units, write_units

if TYPE_CHECKING:
    from ..backends import AttributeNames
    from ..backends.transport import Transport

__all__ = ["MeteredTransport"]


class _Call:
    """What one traced store call did, gathered while it runs (by its inner calls and its DynamoDB calls)."""

    __slots__ = ("calls", "consistent", "count", "decision", "first", "item_bytes", "outcome", "reads", "writes")

    def __init__(self, decision: str | None) -> None:
        self.decision = decision
        self.outcome: str | None = None
        self.first: str | None = None  # the first DynamoDB call
        self.calls = 0
        self.consistent: bool | None = None
        self.item_bytes: int | None = None
        self.reads = 0.0
        self.writes = 0
        self.count: int | None = None

    def dynamodb(self, name: str) -> None:
        self.calls += 1
        if self.first is None:
            self.first = name

    def seen(self, size: int | None) -> None:
        if size is not None and (self.item_bytes is None or size > self.item_bytes):
            self.item_bytes = size

    def read(self, size: int | None, consistent: bool) -> None:
        self.reads += read_units(size, consistent=consistent)
        self.consistent = consistent
        self.seen(size)

    def write(self, size: int | None) -> None:
        self.writes += write_units(size if size is not None else self.item_bytes)
        self.seen(size)


_call: ContextVar[_Call | None] = ContextVar("tornado_dynasession_call", default=None)


class MeteredTransport:
    """A transport that tells the traced call it runs in which DynamoDB calls it made, what sizes it saw and what
    units they cost (:func:`read_units`, :func:`write_units`), from the requests and answers themselves."""

    def __init__(self, inner: Transport, names: AttributeNames) -> None:
        self.inner = inner
        self.names = names
        self.endpoint = inner.endpoint
        self.binary_as_bytes = inner.binary_as_bytes

    async def send(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        call = _call.get()
        if call is None:
            return await self.inner.send(operation, payload)
        call.dynamodb(operation)
        try:
            answer = await self.inner.send(operation, payload)
        except ServiceError as exc:
            if exc.code == "ConditionalCheckFailedException":  # billed like a write that went through
                sizes = (_wire_bytes(exc.body.get("Item")), _wire_bytes(payload.get("Item")))
                call.write(max((size for size in sizes if size is not None), default=None))
            raise
        if operation == "GetItem":
            call.read(_wire_bytes(answer.get("Item")), bool(payload.get("ConsistentRead")))
        elif operation == "PutItem":
            # The larger of the new and the old item, when the old one is returned (a revoke's tombstone).
            sizes = (_wire_bytes(payload.get("Item")), _wire_bytes(answer.get("Attributes")))
            call.write(max((size for size in sizes if size is not None), default=None))
        elif operation in ("UpdateItem", "DeleteItem"):
            call.write(_wire_bytes(answer.get("Attributes")))
        elif operation == "Query":
            # An entry of the keys-only index holds the table's key and the index's. Index reads are eventually
            # consistent, billed per started 4 KB of the whole page.
            user_key = payload["ExpressionAttributeValues"][":u"]["S"]
            entry = len(self.names.user.encode()) + len(user_key.encode())
            size = sum((_wire_bytes(item) or 0) + entry for item in answer.get("Items", []))
            call.reads += read_units(size, consistent=False)
        elif operation == "BatchGetItem":
            ((table, request),) = payload["RequestItems"].items()
            consistent = bool(request.get("ConsistentRead"))
            found = answer.get("Responses", {}).get(table, [])
            pending = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            for item in found:
                call.reads += read_units(_wire_bytes(item), consistent=consistent)
            call.reads += (len(request["Keys"]) - len(found) - len(pending)) * read_units(None, consistent=consistent)
        return answer

    async def close(self) -> None:
        await self.inner.close()


def _wire_bytes(raw: Any) -> int | None:
    """An item's size by DynamoDB's rules, from its wire form; None for no item."""
    return item_bytes(item_from_wire(raw))
