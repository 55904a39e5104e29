"""Backend selection, and the behaviours both backends must share at the wire: values, errors, bounds.

The store behaviour itself is specified once, in test_store.py, and runs on every backend through ``make_store``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiodynamo.client import Client
from aiodynamo.credentials import Key, StaticCredentials
from aiodynamo.http.aiohttp import AIOHTTP
from yarl import URL

from tornado_dynasession import (
    DynamoDBStore,
    SessionStoreError,
    StoreUnavailableError,
    TableNotFoundError,
)
from tornado_dynasession.backends import ClientOptions
from tornado_dynasession.backends.aiodynamo import BoundedRetry
from tornado_dynasession.store import BACKEND_NAMES

SID = "s3cr3t-session-id-0123456789abcdef"


@pytest.fixture
async def aiodynamo_client(dynamodb_endpoint: str) -> AsyncIterator[Client]:
    """A caller-owned aiodynamo client on the test server."""
    async with aiohttp.ClientSession() as http:
        yield Client(
            AIOHTTP(http),
            StaticCredentials(Key("local", "local")),
            "us-east-1",
            URL(dynamodb_endpoint),
            throttle_config=BoundedRetry(max_attempts=2),
        )


# -- selection -----------------------------------------------------------------------------------------------------


async def test_the_default_backend_is_aiobotocore(dynamodb_endpoint: str, dynamodb_table: str) -> None:
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        assert store.backend_name == "aiobotocore"


async def test_backend_aiodynamo_by_name_round_trips_every_operation(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    async with DynamoDBStore(dynamodb_table, backend="aiodynamo", endpoint_url=dynamodb_endpoint) as store:
        assert store.backend_name == "aiodynamo"
        await store.set(SID, {"user": "ada", "n": 1})
        record = await store.load(SID)
        assert record is not None
        assert record.data == {"user": "ada", "n": 1}
        saved = await store.save(SID, {"user": "bob"}, expires_at=int(time.time()) + 60, previous=record)
        assert saved is not None
        assert await store.get(SID) == {"user": "bob"}
        assert await store.touch(SID, 120) is True
        await store.destroy(SID)
        assert await store.get(SID) is None
        assert await store.touch(SID) is False


async def test_the_store_closes_the_aiodynamo_client_it_created(dynamodb_endpoint: str, dynamodb_table: str) -> None:
    store = DynamoDBStore(dynamodb_table, backend="aiodynamo", endpoint_url=dynamodb_endpoint)
    await store.open()
    backend = store._backend
    assert backend is not None
    await store.close()
    with pytest.raises(SessionStoreError):
        await backend.get("any", consistent_read=True)


async def test_a_caller_owned_aiodynamo_client_selects_the_aiodynamo_backend_and_stays_open(
    aiodynamo_client: Client, dynamodb_table: str
) -> None:
    store = DynamoDBStore(dynamodb_table, client=aiodynamo_client)
    assert store.backend_name == "aiodynamo"
    await store.set(SID, {"user": "ada"})
    await store.close()
    response = await aiodynamo_client.send_request(
        action="GetItem", payload={"TableName": dynamodb_table, "Key": {"SessionID": {"S": store.key_for(SID)}}}
    )
    assert "Item" in response


async def test_a_backend_name_that_disagrees_with_the_client_is_rejected(aiodynamo_client: Client) -> None:
    with pytest.raises(ValueError, match="does not match the client"):
        DynamoDBStore("sessions", backend="aiobotocore", client=aiodynamo_client)


def test_an_unknown_backend_name_is_rejected_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="'aiobotocore', 'aiodynamo', 'aiohttp'"):
        DynamoDBStore("sessions", backend="boto3")  # type: ignore[arg-type]


def test_selecting_aiodynamo_without_it_installed_raises_configuration_error_naming_the_extra() -> None:
    # A fresh interpreter in which ``import aiodynamo`` fails as it does when the package is not installed.
    program = """
import sys
sys.modules["aiodynamo"] = None
from tornado_dynasession import ConfigurationError, DynamoDBStore
try:
    DynamoDBStore("sessions", backend="aiodynamo")
except ConfigurationError as exc:
    print("ConfigurationError:", exc)
"""
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.startswith("ConfigurationError:")
    assert 'pip install "tornado_dynasession[aiodynamo]"' in result.stdout


# -- the wire ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKEND_NAMES)
async def test_both_backends_hand_the_store_the_same_plain_values(
    backend: str, raw_client: Any, dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    await raw_client.put_item(
        TableName=dynamodb_table,
        Item={
            "SessionID": {"S": "k"},
            "Text": {"S": "héllo"},
            "Whole": {"N": "1700000000"},
            "Negative": {"N": "-3"},
            "Fraction": {"N": "1.5"},
            "Blob": {"B": b"\x00\xffbin"},
            "Flag": {"BOOL": True},
            "Nested": {"L": [{"S": "a"}]},
        },
    )
    async with DynamoDBStore(dynamodb_table, backend=backend, endpoint_url=dynamodb_endpoint) as store:
        assert store._backend is not None
        item = await store._backend.get("k", consistent_read=True)
    assert item == {
        "SessionID": "k",
        "Text": "héllo",
        "Whole": 1700000000,
        "Negative": -3,
        "Fraction": 1.5,  # fractional: a float (the Node connect-dynamodb store writes Expires that way)
        "Blob": b"\x00\xffbin",
        "Flag": {"BOOL": True},
        "Nested": {"L": [{"S": "a"}]},
    }


@pytest.mark.parametrize("backend", BACKEND_NAMES)
async def test_a_binary_attribute_written_by_either_backend_reads_back_as_bytes(
    backend: str, raw_client: Any, dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    async with DynamoDBStore(dynamodb_table, backend=backend, endpoint_url=dynamodb_endpoint) as store:
        assert store._backend is not None
        assert await store._backend.put({"SessionID": "k", "Blob": b"\x00\xff", "Expires": 5}, None)
    response = await raw_client.get_item(TableName=dynamodb_table, Key={"SessionID": {"S": "k"}})
    assert response["Item"]["Blob"] == {"B": b"\x00\xff"}
    assert response["Item"]["Expires"] == {"N": "5"}


# -- errors and bounds ---------------------------------------------------------------------------------------------


async def test_a_missing_table_with_aiodynamo_names_the_create_table_command(dynamodb_endpoint: str) -> None:
    async with DynamoDBStore("no-such-session-table", backend="aiodynamo", endpoint_url=dynamodb_endpoint) as store:
        with pytest.raises(TableNotFoundError) as caught:
            await store.get(SID)
    message = str(caught.value)
    assert "python -m tornado_dynasession create-table --table no-such-session-table" in message
    assert f"--endpoint-url {dynamodb_endpoint}" in message
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize("backend", BACKEND_NAMES)
async def test_an_unreachable_server_raises_store_unavailable_naming_the_endpoint_within_a_bound(
    backend: str, unused_tcp_port: int
) -> None:
    endpoint = f"http://127.0.0.1:{unused_tcp_port}"
    async with DynamoDBStore(
        "sessions",
        backend=backend,
        endpoint_url=endpoint,
        options=ClientOptions(connect_timeout=0.5, read_timeout=0.5, max_attempts=2),
    ) as store:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as caught:
            await asyncio.wait_for(store.set(SID, {"user": "ada"}), timeout=30)
        assert time.monotonic() - started < 5
    assert endpoint in str(caught.value)
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize("backend", BACKEND_NAMES)
async def test_a_server_that_never_answers_gets_max_attempts_attempts_then_store_unavailable(backend: str) -> None:
    connections: list[asyncio.StreamWriter] = []

    async def accept_and_stay_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    endpoint = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with DynamoDBStore(
            "sessions",
            backend=backend,
            endpoint_url=endpoint,
            options=ClientOptions(connect_timeout=0.5, read_timeout=0.3, max_attempts=2),
        ) as store:
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as caught:
                await asyncio.wait_for(store.get(SID), timeout=30)
            elapsed = time.monotonic() - started
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
    assert len(connections) == 2
    assert 0.6 <= elapsed < 5
    assert endpoint in str(caught.value)
    assert caught.value.__cause__ is not None
