"""Explicit table tooling: create the session table (on-demand, TTL on ``Expires``). Never on the request path."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..backends.aiobotocore import map_client_error, shared_session
from ..backends.factory import client_kwargs
from ..errors import SessionStoreError
from ..store import endpoint_from_env

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["TableSetup", "create_table", "delete_table", "open_admin_client", "user_index_definition"]


@dataclass(frozen=True, slots=True)
class TableSetup:
    """What :func:`create_table` did.

    :param created: False when the table already existed with the same key.
    :param ttl: ``"enabled"``, ``"already enabled"``, or ``"unsupported"`` (the server has no TTL API).
    :param user_index: what happened to the user index: ``"created"`` (with the table), ``"added"`` (to an
        existing table), ``"already exists"``, or None when none was asked for.
    """

    table: str
    created: bool
    ttl: str
    user_index: str | None = None


def user_index_definition(index: str, user_attribute: str = "UserID") -> dict[str, Any]:
    """The user index: a global secondary index on ``user_attribute`` (S) that projects only the keys, so that
    touches (which change only ``Expires``) never write it."""
    return {
        "IndexName": index,
        "KeySchema": [{"AttributeName": user_attribute, "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }


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
    user_index: str | None = None,
    user_attribute: str = "UserID",
) -> TableSetup:
    """Create an on-demand session table, wait until it is ACTIVE, and enable TTL on ``expires_attribute``.

    Idempotent for a table that already exists with the same hash key. With ``user_index`` (a name, such as
    ``"UserIndex"``), the table gets the user index for ``DynamoDBStore(user_index=...)``: created with a new
    table, or added to an existing one (waiting until DynamoDB has built it). Raises :class:`SessionStoreError`
    when the table exists with another key, or on any other failure. ``endpoint_url`` defaults to
    ``$DYNAMODB_ENDPOINT``; ``wait_timeout`` is in seconds.
    """
    endpoint_url = endpoint_url or endpoint_from_env()
    async with AsyncExitStack() as stack:
        if client is None:
            client = await open_admin_client(stack, endpoint_url, region_name)
        created = False
        attributes: list[Any] = [{"AttributeName": hash_key, "AttributeType": "S"}]
        indexes: dict[str, Any] = {}
        if user_index:
            attributes.append({"AttributeName": user_attribute, "AttributeType": "S"})
            indexes["GlobalSecondaryIndexes"] = [user_index_definition(user_index, user_attribute)]
        try:
            await client.create_table(
                TableName=table,
                AttributeDefinitions=attributes,
                KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
                **indexes,
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

        index_state: str | None = None
        if user_index:
            index_state = "created" if created else "already exists"
            if not _index_status(description, user_index):
                updates: list[Any] = [{"Create": user_index_definition(user_index, user_attribute)}]
                try:
                    await client.update_table(
                        TableName=table, AttributeDefinitions=attributes, GlobalSecondaryIndexUpdates=updates
                    )
                except Exception as exc:
                    error = _admin_error(exc, "UpdateTable", table, hash_key, endpoint_url)
                    if type(error) is SessionStoreError:  # refused (dynalite refuses it on an on-demand table)
                        raise SessionStoreError(f"{error}. {_NEW_TABLE_FIX}") from exc
                    raise error from exc
                index_state = "added"
            await _wait_for_index(client, table, user_index, deadline, endpoint_url)

        try:
            ttl = await _enable_ttl(client, table, expires_attribute)
        except Exception as exc:
            raise _admin_error(exc, "UpdateTimeToLive", table, hash_key, endpoint_url) from exc
        return TableSetup(table=table, created=created, ttl=ttl, user_index=index_state)


_NEW_TABLE_FIX = (
    "This server cannot add an index to an existing table (dynalite cannot; DynamoDB and moto can): create the "
    "table anew with --user-index"
)


def _index_status(description: Any, index: str) -> str | None:
    """The status of global secondary index ``index`` in a DescribeTable answer, or None when there is none."""
    for gsi in description.get("GlobalSecondaryIndexes") or []:
        if gsi.get("IndexName") == index:
            return str(gsi.get("IndexStatus") or "ACTIVE")  # servers that build at once may omit it
    return None


async def _wait_for_index(
    client: DynamoDBClient, table: str, index: str, deadline: float, endpoint_url: str | None
) -> None:
    while True:
        try:
            description = (await client.describe_table(TableName=table))["Table"]
        except Exception as exc:
            raise _admin_error(exc, "DescribeTable", table, "", endpoint_url) from exc
        status = _index_status(description, index)
        if status is None:
            raise SessionStoreError(
                f"the server at {endpoint_url or 'AWS'} accepted the user index {index!r} for table {table!r} but did "
                f"not build it. {_NEW_TABLE_FIX}"
            )
        if status == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise SessionStoreError(
                f"the user index {index!r} of table {table!r} was still {status} at the deadline: DynamoDB builds "
                "an index on a large table for a while; run the command again later"
            )
        await asyncio.sleep(1.0)


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
        if is_unknown_operation(exc):
            return "unsupported"
        raise
    return "enabled"


def is_unknown_operation(exc: ClientError) -> bool:
    """Whether ``exc`` is a server's answer to an operation it does not implement (dynalite's to the TTL API)."""
    code = exc.response.get("Error", {}).get("Code", "")
    return code in ("UnknownOperationException", "UnrecognizedClientException", "NotImplementedError") or (
        "UnknownOperation" in code
    )


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
