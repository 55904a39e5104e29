"""Shared fixtures. The DynamoDB server fixtures (``dynamodb_endpoint``, ``dynamodb_table``) come from the package's
own pytest plugin, ``tornado_dynasession.pytest_plugin``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tornado_dynasession import DynamoDBStore

StoreFactory = Callable[..., Awaitable[DynamoDBStore]]


@pytest.fixture
async def make_store(dynamodb_endpoint: str, dynamodb_table: str) -> AsyncIterator[StoreFactory]:
    """Build stores on this test's table (keyword arguments go to DynamoDBStore); all are closed afterwards."""
    stores: list[DynamoDBStore] = []

    async def factory(**kwargs: Any) -> DynamoDBStore:
        kwargs.setdefault("endpoint_url", dynamodb_endpoint)
        store = DynamoDBStore(kwargs.pop("table", dynamodb_table), **kwargs)
        await store.open()
        stores.append(store)
        return store

    yield factory
    for store in stores:
        await store.close()


@pytest.fixture
async def store(make_store: StoreFactory) -> DynamoDBStore:
    """A store with default settings on this test's table."""
    return await make_store()
