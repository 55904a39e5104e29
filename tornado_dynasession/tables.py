"""Explicit table tooling: create the session table (on-demand, TTL on ``Expires``). Never on the request path."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from .backends.aiobotocore import map_client_error, shared_session
from .errors import SessionStoreError
from .store import client_kwargs, endpoint_from_env

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["TableSetup", "create_table", "delete_table", "open_admin_client"]


@dataclass(frozen=True, slots=True)
class TableSetup:
    """What :func:`create_table` did.

    :param created: False when the table already existed with the same key.
    :param ttl: ``"enabled"``, ``"already enabled"``, or ``"unsupported"`` (the server has no TTL API).
    """

    table: str
    created: bool
    ttl: str


async def open_admin_client(
    stack: AsyncExitStack, endpoint_url: str | None = None, region_name: str | None = None
) -> DynamoDBClient:
    """An aiobotocore DynamoDB client for admin calls, closed with ``stack``."""
    from aiobotocore.config import AioConfig

    config = AioConfig(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "total_max_attempts": 3})
    client: DynamoDBClient = await stack.enter_async_context(
        shared_session().create_client("dynamodb", config=config, **client_kwargs(endpoint_url, region_name))
    )
    return client


async def create_table(
    table: str,
    *,
    hash_key: str = "SessionID",
    expires_attribute: str = "Expires",
    endpoint_url: str | None = None,
    region_name: str | None = None,
    client: DynamoDBClient | None = None,
    wait_timeout: float = 300.0,
) -> TableSetup:
    """Create an on-demand session table, wait until it is ACTIVE, and enable TTL on ``expires_attribute``.

    Idempotent for a table that already exists with the same hash key. Raises :class:`SessionStoreError` when
    the table exists with another key, or on any other failure. ``endpoint_url`` defaults to
    ``$DYNAMODB_ENDPOINT``; ``wait_timeout`` is in seconds.
    """
    endpoint_url = endpoint_url or endpoint_from_env()
    async with AsyncExitStack() as stack:
        if client is None:
            client = await open_admin_client(stack, endpoint_url, region_name)
        created = False
        try:
            await client.create_table(
                TableName=table,
                AttributeDefinitions=[{"AttributeName": hash_key, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
            created = True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise _admin_error(exc, "CreateTable", table, hash_key, endpoint_url) from exc
        except Exception as exc:
            raise _admin_error(exc, "CreateTable", table, hash_key, endpoint_url) from exc

        deadline = time.monotonic() + wait_timeout
        while True:
            try:
                description = (await client.describe_table(TableName=table))["Table"]
            except Exception as exc:
                raise _admin_error(exc, "DescribeTable", table, hash_key, endpoint_url) from exc
            key_schema = [k["AttributeName"] for k in description.get("KeySchema", []) if k["KeyType"] == "HASH"]
            if key_schema != [hash_key] or len(description.get("KeySchema", [])) != 1:
                raise SessionStoreError(
                    f"table {table!r} already exists with key schema {description.get('KeySchema')}, not a single "
                    f"hash key {hash_key!r}: pass --hash-key with its hash key, or choose another table name"
                )
            if description.get("TableStatus") == "ACTIVE":
                break
            if time.monotonic() > deadline:
                raise SessionStoreError(f"table {table!r} was not ACTIVE after {wait_timeout} s")
            await asyncio.sleep(0.2)

        try:
            ttl = await _enable_ttl(client, table, expires_attribute)
        except Exception as exc:
            raise _admin_error(exc, "UpdateTimeToLive", table, hash_key, endpoint_url) from exc
        return TableSetup(table=table, created=created, ttl=ttl)


async def _enable_ttl(client: DynamoDBClient, table: str, attribute: str) -> str:
    try:
        current = await client.describe_time_to_live(TableName=table)
        spec = current.get("TimeToLiveDescription", {})
        if spec.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and spec.get("AttributeName") == attribute:
            return "already enabled"
        await client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute}
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("UnknownOperationException", "UnrecognizedClientException", "NotImplementedError") or (
            "UnknownOperation" in code
        ):
            return "unsupported"
        raise
    return "enabled"


async def delete_table(
    table: str,
    *,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    client: DynamoDBClient | None = None,
) -> None:
    """Delete a table; a missing table is not an error. For tests and benchmarks."""
    endpoint_url = endpoint_url or endpoint_from_env()
    async with AsyncExitStack() as stack:
        if client is None:
            client = await open_admin_client(stack, endpoint_url, region_name)
        try:
            await client.delete_table(TableName=table)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise _admin_error(exc, "DeleteTable", table, "", endpoint_url) from exc


def _admin_error(exc: BaseException, operation: str, table: str, hash_key: str, endpoint: str | None) -> Exception:
    return map_client_error(exc, operation=operation, table=table, hash_key=hash_key, endpoint=endpoint)
