"""Writing and removing the items that measured operations read, touch and delete. Never timed.

Items have the store's layout, ``{hash_key: S, "Expires": N, "Session": S}``, so that every variant reads the same
thing. Writes go in BatchWriteItem calls of 25 items, several in flight at once.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from tornado_dynasession.tables import open_admin_client
from tornado_dynasession.telemetry import item_bytes as package_item_bytes

from .variants import BenchSession

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["Seeder", "item_bytes"]

_BATCH = 25  # DynamoDB's limit per BatchWriteItem


def item_bytes(item: dict[str, Any]) -> int:
    """The size of a wire-format item as DynamoDB bills it (:func:`tornado_dynasession.telemetry.item_bytes`, the
    package's rule, on the item's plain values)."""
    plain: dict[str, object] = {}
    for name, value in item.items():
        ((kind, inner),) = value.items()
        if kind == "S":
            plain[name] = inner
        elif kind == "B":
            plain[name] = bytes(inner)
        elif kind == "N":
            plain[name] = int(inner) if inner.lstrip("-").isdigit() else float(inner)
        else:
            raise ValueError(f"item_bytes sizes S, N and B attributes only, not {kind}")
    size = package_item_bytes(plain)
    assert size is not None
    return size


class Seeder:
    """An admin client that puts and deletes benchmark items in bulk; use as an async context manager.

    :param max_age: seconds from now that seeded items expire.
    :param parallel: BatchWriteItem calls in flight at once.
    """

    def __init__(
        self,
        *,
        endpoint_url: str,
        region_name: str | None,
        table: str,
        hash_key: str,
        max_age: float,
        parallel: int = 4,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region_name = region_name
        self.table = table
        self.hash_key = hash_key
        self.max_age = max_age
        self.parallel = parallel
        self._stack = AsyncExitStack()
        self._client: DynamoDBClient | None = None

    async def __aenter__(self) -> Seeder:
        self._client = await open_admin_client(self._stack, self.endpoint_url, self.region_name)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stack.aclose()

    async def put(self, sessions: Sequence[BenchSession]) -> None:
        """Write each session as a live item, expiring ``max_age`` seconds from now."""
        expires = str(math.ceil(time.time() + self.max_age))
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        self.hash_key: {"S": session.key},
                        "Expires": {"N": expires},
                        "Session": {"S": session.encoded},
                    }
                }
            }
            for session in sessions
        ]
        await self._write(requests)

    async def item_bytes(self, key: str) -> int:
        """The stored size (see :func:`item_bytes`) of the item with hash key ``key``, read back from the table."""
        assert self._client is not None, "use Seeder as an async context manager"
        response = await self._client.get_item(
            TableName=self.table, Key={self.hash_key: {"S": key}}, ConsistentRead=True
        )
        if "Item" not in response:
            raise RuntimeError(f"item {key} is not in the table")
        return item_bytes(dict(response["Item"]))

    async def delete(self, keys: Iterable[str]) -> None:
        """Delete the items with these hash keys (missing ones are no error)."""
        await self._write([{"DeleteRequest": {"Key": {self.hash_key: {"S": key}}}} for key in dict.fromkeys(keys)])

    async def _write(self, requests: list[dict[str, Any]]) -> None:
        assert self._client is not None, "use Seeder as an async context manager"
        client = self._client
        limit = asyncio.Semaphore(self.parallel)

        async def write_batch(batch: list[dict[str, Any]]) -> None:
            async with limit:
                pending: Any = {self.table: batch}
                for attempt in range(10):
                    response = await client.batch_write_item(RequestItems=pending)
                    pending = response.get("UnprocessedItems") or {}
                    if not pending:
                        return
                    await asyncio.sleep(0.05 * (attempt + 1))
                raise RuntimeError(f"BatchWriteItem left {len(pending.get(self.table, []))} items unprocessed")

        await asyncio.gather(*(write_batch(requests[i : i + _BATCH]) for i in range(0, len(requests), _BATCH)))
