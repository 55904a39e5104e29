"""Table tooling: ``python -m tornado_dynasession create-table`` and the async ``create_table()``.

Run against dynalite (no TTL API) and against moto in server mode (which has one).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tornado_dynasession import DynamoDBStore, SessionStoreError, TableSetup, create_table
from tornado_dynasession.__main__ import main
from tornado_dynasession.local import MotoServer
from tornado_dynasession.tables import delete_table

from .support import open_raw_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique(prefix: str) -> str:
    return f"{prefix}-{time.time_ns()}"


def describe(endpoint: str, table: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async with open_raw_client(endpoint) as client:
            description: dict[str, Any] = (await client.describe_table(TableName=table))["Table"]
            return description

    return asyncio.run(run())


def create_table_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command line as a user would, in a fresh interpreter."""
    base_env = {k: v for k, v in os.environ.items() if k != "DYNAMODB_ENDPOINT"}
    return subprocess.run(
        [sys.executable, "-m", "tornado_dynasession", "create-table", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base_env, **(env or {})},
    )


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with MotoServer() as server:
        yield server.endpoint_url


@pytest.fixture
async def admin(dynamodb_endpoint: str) -> AsyncIterator[Any]:
    async with open_raw_client(dynamodb_endpoint) as client:
        yield client


@pytest.fixture
async def moto_admin(moto_endpoint: str) -> AsyncIterator[Any]:
    async with open_raw_client(moto_endpoint) as client:
        yield client


@pytest.fixture
def table_name(dynamodb_endpoint: str) -> Iterator[str]:
    """A table name nobody uses yet on dynalite; whatever a test creates under it is deleted afterwards."""
    name = unique("tables")
    yield name
    asyncio.run(delete_table(name, endpoint_url=dynamodb_endpoint))


# -- the command line ------------------------------------------------------------------------------------------


class CliRun:
    def __init__(self, table: str, first: subprocess.CompletedProcess[str], again: subprocess.CompletedProcess[str]):
        self.table = table
        self.first = first
        self.again = again


@pytest.fixture(scope="module")
def dynalite_cli(dynamodb_endpoint: str) -> Iterator[CliRun]:
    """``create-table`` run twice, in fresh interpreters, against dynalite (which has no TTL API)."""
    name = unique("cli")
    first = create_table_cli("--table", name, "--endpoint-url", dynamodb_endpoint)
    again = create_table_cli("--table", name, "--endpoint-url", dynamodb_endpoint)
    yield CliRun(name, first, again)
    asyncio.run(delete_table(name, endpoint_url=dynamodb_endpoint))


async def test_cli_creates_an_active_on_demand_table_keyed_by_session_id(dynalite_cli: CliRun, admin: Any) -> None:
    assert dynalite_cli.first.returncode == 0, dynalite_cli.first.stderr
    assert dynalite_cli.table in dynalite_cli.first.stdout
    table = (await admin.describe_table(TableName=dynalite_cli.table))["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "SessionID", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "SessionID", "AttributeType": "S"}]


def test_cli_is_idempotent_for_a_table_that_exists_with_the_same_key(dynalite_cli: CliRun) -> None:
    assert dynalite_cli.again.returncode == 0, dynalite_cli.again.stderr
    assert "already exists" in dynalite_cli.again.stdout


def test_cli_on_a_server_without_a_ttl_api_says_so_in_one_line_and_succeeds(dynalite_cli: CliRun) -> None:
    for run in (dynalite_cli.first, dynalite_cli.again):
        assert run.returncode == 0, run.stderr
        ttl_lines = [line for line in run.stdout.splitlines() if "TTL" in line]
        assert len(ttl_lines) == 1
        assert "no TTL API" in ttl_lines[0]
        assert run.stderr == ""


async def test_cli_against_a_server_with_a_ttl_api_enables_ttl_on_expires(moto_endpoint: str, moto_admin: Any) -> None:
    name = unique("cli-ttl")
    result = create_table_cli("--table", name, "--endpoint-url", moto_endpoint)
    assert result.returncode == 0, result.stderr
    assert "TTL on Expires: enabled" in result.stdout
    ttl = (await moto_admin.describe_time_to_live(TableName=name))["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "Expires")
    table = (await moto_admin.describe_table(TableName=name))["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


async def test_cli_refuses_a_table_that_exists_with_another_hash_key(dynamodb_endpoint: str, table_name: str) -> None:
    await create_table(table_name, hash_key="id", endpoint_url=dynamodb_endpoint)
    result = create_table_cli("--table", table_name, "--endpoint-url", dynamodb_endpoint)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert table_name in result.stderr
    assert "'id'" in result.stderr and "SessionID" in result.stderr
    assert "--hash-key" in result.stderr


def test_cli_against_an_unreachable_endpoint_exits_non_zero_with_a_clear_message() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = create_table_cli("--table", "sessions", "--endpoint-url", endpoint)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "unreachable" in result.stderr
    assert endpoint in result.stderr
    assert result.stderr.count("\n") == 1, "one line"


# The command line's options, driven in-process through the same entry point (a fresh interpreter per option
# would only add start-up time).


def test_cli_uses_the_hash_key_option(dynamodb_endpoint: str, table_name: str) -> None:
    assert main(["create-table", "--table", table_name, "--hash-key", "sid", "--endpoint-url", dynamodb_endpoint]) == 0
    assert describe(dynamodb_endpoint, table_name)["KeySchema"] == [{"AttributeName": "sid", "KeyType": "HASH"}]


def test_cli_uses_DYNAMODB_ENDPOINT_when_no_endpoint_is_given(
    dynamodb_endpoint: str, table_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNAMODB_ENDPOINT", dynamodb_endpoint)
    assert main(["create-table", "--table", table_name]) == 0
    assert describe(dynamodb_endpoint, table_name)["TableStatus"] == "ACTIVE"


def test_cli_without_a_table_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["create-table"])
    assert caught.value.code == 2
    assert "--table" in capsys.readouterr().err


# -- the async function ----------------------------------------------------------------------------------------


async def test_create_table_creates_the_table_and_reports_it(dynamodb_endpoint: str, table_name: str) -> None:
    setup = await create_table(table_name, endpoint_url=dynamodb_endpoint)
    assert setup == TableSetup(table=table_name, created=True, ttl="unsupported")
    async with DynamoDBStore(table_name, endpoint_url=dynamodb_endpoint) as store:
        await store.set("a-session", {"user": "ada"})
        assert await store.get("a-session") == {"user": "ada"}


async def test_create_table_is_idempotent_and_keeps_the_data(dynamodb_endpoint: str, table_name: str) -> None:
    await create_table(table_name, endpoint_url=dynamodb_endpoint)
    async with DynamoDBStore(table_name, endpoint_url=dynamodb_endpoint) as store:
        await store.set("a-session", {"user": "ada"})
        again = await create_table(table_name, endpoint_url=dynamodb_endpoint)
        assert again.created is False
        assert await store.get("a-session") == {"user": "ada"}


async def test_create_table_refuses_a_table_with_another_hash_key(dynamodb_endpoint: str, table_name: str) -> None:
    await create_table(table_name, hash_key="id", endpoint_url=dynamodb_endpoint)
    with pytest.raises(SessionStoreError, match=table_name):
        await create_table(table_name, endpoint_url=dynamodb_endpoint)


async def test_create_table_defaults_to_DYNAMODB_ENDPOINT(
    dynamodb_endpoint: str, table_name: str, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNAMODB_ENDPOINT", dynamodb_endpoint)
    assert (await create_table(table_name)).created is True
    assert (await admin.describe_table(TableName=table_name))["Table"]["TableStatus"] == "ACTIVE"


async def test_create_table_uses_a_caller_owned_client_and_leaves_it_open(admin: Any, table_name: str) -> None:
    setup = await create_table(table_name, client=admin)
    assert setup.created is True
    assert table_name in (await admin.list_tables())["TableNames"]


async def test_create_table_against_an_unreachable_endpoint_raises_a_store_error() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(SessionStoreError, match="unreachable") as caught:
        await create_table("sessions", endpoint_url=endpoint)
    assert caught.value.__cause__ is not None


async def test_create_table_enables_ttl_where_the_server_has_a_ttl_api(moto_endpoint: str, moto_admin: Any) -> None:
    name = unique("fn-ttl")
    assert await create_table(name, endpoint_url=moto_endpoint) == TableSetup(table=name, created=True, ttl="enabled")
    again = await create_table(name, endpoint_url=moto_endpoint)
    assert again == TableSetup(table=name, created=False, ttl="already enabled")


async def test_create_table_enables_ttl_on_a_custom_expires_attribute(moto_endpoint: str, moto_admin: Any) -> None:
    name = unique("fn-custom")
    await create_table(name, hash_key="sid", expires_attribute="ttl_at", endpoint_url=moto_endpoint)
    ttl = (await moto_admin.describe_time_to_live(TableName=name))["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl_at")


async def test_delete_table_of_a_missing_table_is_not_an_error(dynamodb_endpoint: str) -> None:
    await delete_table(unique("never-created"), endpoint_url=dynamodb_endpoint)


async def test_delete_table_removes_the_table(dynamodb_endpoint: str, admin: Any) -> None:
    name = unique("doomed")
    await create_table(name, endpoint_url=dynamodb_endpoint)
    await delete_table(name, endpoint_url=dynamodb_endpoint)
    assert name not in (await admin.list_tables())["TableNames"]
