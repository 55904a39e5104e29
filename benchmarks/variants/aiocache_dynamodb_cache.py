"""aiocache-dynamodb: an aiocache backend on aiobotocore that users might pick for sessions.

Its calls are its own: ``get`` is a Query with a filter on the TTL attribute (eventually consistent), ``set`` a
PutItem with a TTL, ``expire`` (our touch) an unconditional UpdateItem, ``delete`` a DeleteItem returning the old
item. It is given a client with the store's pool size, timeouts and retries, so that those match the other
variants, but not the store's CPU tuning, which a user of this cache would not have.
"""

from __future__ import annotations

import importlib.util
from contextlib import AsyncExitStack
from typing import Any

from .base import (
    BenchContext,
    BenchSession,
    MissingSessionError,
    Variant,
    default_aioconfig,
    open_aiobotocore_client,
    register,
)

__all__ = ["AiocacheDynamodb"]


@register
class AiocacheDynamodb(Variant):
    """``DynamoDBCache`` with a JSON serializer, on the benchmark table's attribute names."""

    name = "aiocache-dynamodb"
    order = 60
    summary = "aiocache-dynamodb's DynamoDBCache: get (Query), set with ttl (PutItem), expire (UpdateItem), delete"

    @classmethod
    def unavailable(cls, ctx: BenchContext) -> str | None:
        """Needs the aiocache-dynamodb package, importable beside the installed aiobotocore."""
        if importlib.util.find_spec("aiocache_dynamodb") is None:
            return "not installed: pip install aiocache-dynamodb"
        try:
            import aiocache_dynamodb  # noqa: F401
        except Exception as exc:
            return f"cannot be imported beside the installed aiobotocore: {type(exc).__name__}: {exc}"
        return None

    async def open(self) -> None:
        """The cache on a client with the store's timeouts and pool; values are JSON text in ``Session``."""
        from aiocache.serializers import JsonSerializer  # type: ignore[import-untyped]
        from aiocache_dynamodb import DynamoDBCache

        self._stack = AsyncExitStack()
        client = await open_aiobotocore_client(self.ctx, self._stack, default_aioconfig(self.ctx))
        self.cache: Any = DynamoDBCache(
            table_name=self.ctx.table,
            endpoint_url=self.ctx.endpoint_url,
            region_name=self.ctx.resolved_region() or "us-east-1",
            key_column=self.ctx.hash_key,
            value_column="Session",
            ttl_column="Expires",
            dynamodb_client=client,
            serializer=JsonSerializer(),
        )
        self._ttl = int(self.ctx.max_age)

    async def close(self) -> None:
        """Close the cache and the client."""
        await self.cache.close()
        await self._stack.aclose()

    async def get(self, session: BenchSession) -> None:
        """``cache.get(key)``: a Query filtered on the TTL attribute, then JSON decoding."""
        if await self.cache.get(session.key) is None:
            raise MissingSessionError(f"{self.name}: session {session.key} is not in the table")

    async def set(self, session: BenchSession) -> None:
        """``cache.set(key, data, ttl=...)``: JSON encoding, then a PutItem."""
        await self.cache.set(session.key, session.data, ttl=self._ttl)

    async def touch(self, session: BenchSession) -> None:
        """``cache.expire(key, ttl)``: an unconditional UpdateItem of the TTL attribute."""
        await self.cache.expire(session.key, self._ttl)

    async def destroy(self, session: BenchSession) -> None:
        """``cache.delete(key)``: a DeleteItem returning the old item."""
        await self.cache.delete(session.key)
