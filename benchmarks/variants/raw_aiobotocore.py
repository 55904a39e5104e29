"""The floor for our client: the store's DynamoDB calls made directly on an aiobotocore client configured as the
store's, with orjson for the session, and nothing else (no key hashing, no size check, no error mapping).

``raw-aiobotocore-default`` makes the same calls on a client without the store's CPU tuning (only its timeouts,
retries and pool size): what the store's client cost before the tuning, measured in the same run.
"""

from __future__ import annotations

import math
import time
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import orjson
from botocore.exceptions import ClientError

from .base import (
    BenchSession,
    MissingSessionError,
    Variant,
    default_aioconfig,
    open_aiobotocore_client,
    register,
    store_aioconfig,
)

if TYPE_CHECKING:
    from aiobotocore.config import AioConfig

__all__ = ["RawAiobotocore", "RawAiobotocoreDefault"]


@register
class RawAiobotocore(Variant):
    """GetItem / PutItem / conditional UpdateItem / DeleteItem on an aiobotocore client."""

    name = "raw-aiobotocore"
    order = 30
    summary = "the store's four DynamoDB calls made directly on an aiobotocore client configured as the store's"

    def config(self) -> AioConfig:
        """The client's configuration: the store's own."""
        return store_aioconfig(self.ctx)

    async def open(self) -> None:
        """Create the client with :meth:`config`."""
        self._stack = AsyncExitStack()
        self.client = await open_aiobotocore_client(self.ctx, self._stack, self.config())
        self._table = self.ctx.table
        self._hash_key = self.ctx.hash_key

    async def close(self) -> None:
        """Close the client."""
        await self._stack.aclose()

    async def get(self, session: BenchSession) -> None:
        """Consistent GetItem, then decode the session."""
        response = await self.client.get_item(
            TableName=self._table, Key={self._hash_key: {"S": session.key}}, ConsistentRead=True
        )
        item = response.get("Item")
        if item is None:
            raise MissingSessionError(f"{self.name}: session {session.key} is not in the table")
        orjson.loads(item["Session"]["S"])

    async def set(self, session: BenchSession) -> None:
        """Encode the session, then an unconditional PutItem."""
        await self.client.put_item(
            TableName=self._table,
            Item={
                self._hash_key: {"S": session.key},
                "Expires": {"N": str(math.ceil(time.time() + self.ctx.max_age))},
                "Session": {"S": orjson.dumps(session.data).decode()},
            },
        )

    async def touch(self, session: BenchSession) -> None:
        """UpdateItem ``SET Expires`` on condition ``Expires > now``."""
        now = time.time()
        try:
            await self.client.update_item(
                TableName=self._table,
                Key={self._hash_key: {"S": session.key}},
                UpdateExpression="SET #e = :exp",
                ConditionExpression="#e > :now",
                ExpressionAttributeNames={"#e": "Expires"},
                ExpressionAttributeValues={
                    ":exp": {"N": str(math.ceil(now + self.ctx.max_age))},
                    ":now": {"N": str(int(now))},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise MissingSessionError(f"{self.name}: session {session.key} was not live") from exc
            raise

    async def destroy(self, session: BenchSession) -> None:
        """DeleteItem."""
        await self.client.delete_item(TableName=self._table, Key={self._hash_key: {"S": session.key}})


@register
class RawAiobotocoreDefault(RawAiobotocore):
    """The same calls on a client with the store's timeouts, retries and pool size, without its CPU tuning."""

    name = "raw-aiobotocore-default"
    order = 35
    summary = (
        "raw-aiobotocore on a client without the store's CPU tuning (no fixed User-Agent, parameter validation "
        "on): the store's client before its CPU tuning"
    )

    def config(self) -> AioConfig:
        """The store's timeouts, retries and pool size only."""
        return default_aioconfig(self.ctx)
