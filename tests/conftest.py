"""Shared fixtures. The DynamoDB server fixtures (``dynamodb_endpoint``, ``dynamodb_table``) come from the package's
own pytest plugin, ``tornado_dynasession.pytest_plugin``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from tornado_dynasession import DynamoDBStore
from tornado_dynasession.backends import ClientOptions
from tornado_dynasession.local import MotoServer
from tornado_dynasession.store import BACKEND_NAMES

from .apps import Stop, start_aiohttp, start_fastapi, start_sanic, start_tornado
from .support import Browser, DynamoProxy, open_raw_client

StoreFactory = Callable[..., Awaitable[DynamoDBStore]]


@pytest.fixture(params=BACKEND_NAMES)
async def make_store(
    request: pytest.FixtureRequest, dynamodb_endpoint: str, dynamodb_table: str
) -> AsyncIterator[StoreFactory]:
    """Build stores on this test's table (keyword arguments go to DynamoDBStore); all are closed afterwards.

    Every test that uses it runs once per backend (``[aiobotocore]``, ``[aiodynamo]``): the backend is passed as
    ``backend=`` unless the test passes its own ``backend`` or ``client``.
    """
    stores: list[DynamoDBStore] = []

    async def factory(**kwargs: Any) -> DynamoDBStore:
        kwargs.setdefault("endpoint_url", dynamodb_endpoint)
        if "backend" not in kwargs and "client" not in kwargs:
            kwargs["backend"] = request.param
        store = DynamoDBStore(kwargs.pop("table", dynamodb_table), **kwargs)
        await store.open()
        stores.append(store)
        return store

    yield factory
    for store in stores:
        await store.close()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode on 127.0.0.1, once per test session: the second conformance target (it has the TTL
    API, returns the old item on a failed condition, and builds a GSI added to an existing table)."""
    # moto logs every request to stderr; MotoServer sends that to a file, so a long run never blocks on a full pipe.
    with MotoServer() as server:
        yield server.endpoint_url


@pytest.fixture
async def raw_client(dynamodb_endpoint: str) -> AsyncIterator[Any]:
    """A plain aiobotocore client on the test server: to read items back, or write ones the store never would."""
    async with open_raw_client(dynamodb_endpoint) as client:
        yield client


@pytest.fixture
async def store(make_store: StoreFactory) -> DynamoDBStore:
    """A store with default settings on this test's table."""
    return await make_store()


# -- adapters under test ---------------------------------------------------------------------------------------

SECRET = "test-secret-" + "x" * 32


@pytest.fixture
async def proxy(dynamodb_endpoint: str) -> AsyncIterator[DynamoProxy]:
    """A counting (and fault-injecting) proxy in front of the DynamoDB server."""
    running = await DynamoProxy(dynamodb_endpoint).start()
    yield running
    await running.stop()


@pytest.fixture
async def counted_store(proxy: DynamoProxy, dynamodb_table: str) -> AsyncIterator[DynamoDBStore]:
    """A store whose every DynamoDB call goes through ``proxy`` and is counted there."""
    async with DynamoDBStore(
        dynamodb_table, endpoint_url=proxy.url, options=ClientOptions(read_timeout=2, max_attempts=2)
    ) as counted:
        yield counted


FRAMEWORKS: dict[str, Callable[..., Awaitable[tuple[str, Stop]]]] = {
    "tornado": start_tornado,
    "sanic": start_sanic,
    "fastapi": start_fastapi,
    "aiohttp": start_aiohttp,
}


@pytest.fixture(params=sorted(FRAMEWORKS))
def framework(request: pytest.FixtureRequest) -> str:
    """The web framework under test: every adapter test runs once per framework."""
    return str(request.param)


Serve = Callable[..., Awaitable[Browser]]


@pytest.fixture
async def serve(framework: str, counted_store: DynamoDBStore) -> AsyncIterator[Serve]:
    """Start the test app for ``framework`` and return a Browser for it.

    Keyword arguments are adapter options (``secret``, ``max_age``, ``touch_after``, ``absolute_max_age``,
    ``key_version``, ``cookie_name``, ...); ``store=`` overrides the counted store (None: no store configured).
    """
    stops: list[Stop] = []
    browsers: list[Browser] = []

    async def start(**options: Any) -> Browser:
        store = options.pop("store", counted_store)
        options.setdefault("secret", SECRET)
        base_url, stop = await FRAMEWORKS[framework](store, **options)
        stops.append(stop)
        browser = Browser(base_url)
        browsers.append(browser)
        return browser

    yield start
    for browser in browsers:
        await browser.close()
    for stop in stops:
        await stop()
