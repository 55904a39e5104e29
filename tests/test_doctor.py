"""``doctor``: a session table's health as a checklist, against real servers (dynalite, and moto for the TTL API).

Most tests call :func:`diagnose` directly; the command line is run in-process (its exit status and output) and, once,
in a child interpreter.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tornado_dynasession import DynamoDBStore, create_table
from tornado_dynasession import __main__ as cli
from tornado_dynasession.doctor import Check, diagnose
from tornado_dynasession.tables import delete_table

from .support import free_port, open_raw_client
from .test_cli import AWS_VARIABLES, run_cli

MakeTable = Callable[..., Awaitable[str]]
INDEX = "by-user"


def check(checks: list[Check], name: str) -> Check:
    """The one check called ``name``."""
    (found,) = [c for c in checks if c.name == name]
    return found


def statuses(checks: list[Check]) -> dict[str, str]:
    return {c.name: c.status for c in checks}


@pytest.fixture(params=["dynalite", "moto"])
def endpoint(request: pytest.FixtureRequest) -> str:
    """Each server in turn, for what both must agree on."""
    return str(request.getfixturevalue("dynamodb_endpoint" if request.param == "dynalite" else "moto_endpoint"))


@pytest.fixture
async def make_table() -> AsyncIterator[MakeTable]:
    """``await make_table(endpoint, **create_table_arguments)``: a table made with a raw CreateTable call (a
    ``SessionID`` hash key and on-demand billing unless the arguments say otherwise); deleted afterwards."""
    made: list[tuple[str, str]] = []

    async def make(endpoint: str, **arguments: Any) -> str:
        name = f"doctor-{uuid.uuid4().hex[:12]}"
        arguments.setdefault("AttributeDefinitions", [{"AttributeName": "SessionID", "AttributeType": "S"}])
        arguments.setdefault("KeySchema", [{"AttributeName": "SessionID", "KeyType": "HASH"}])
        if "ProvisionedThroughput" not in arguments:
            arguments.setdefault("BillingMode", "PAY_PER_REQUEST")
        async with open_raw_client(endpoint) as client:
            await client.create_table(TableName=name, **arguments)
        made.append((endpoint, name))
        return name

    yield make
    for endpoint, name in made:
        await delete_table(name, endpoint_url=endpoint)


@pytest.fixture
async def moto_table(moto_endpoint: str) -> AsyncIterator[str]:
    """A session table on moto made by ``create_table`` (so with TTL on ``Expires``); deleted afterwards."""
    name = f"doctor-{uuid.uuid4().hex[:12]}"
    await create_table(name, endpoint_url=moto_endpoint)
    yield name
    await delete_table(name, endpoint_url=moto_endpoint)


async def put_items(endpoint: str, table: str, *items: dict[str, Any]) -> None:
    async with open_raw_client(endpoint) as client:
        for item in items:
            await client.put_item(TableName=table, Item=item)


def session_item(key: str, *, expires: str | None = None, session: dict[str, str] | None = None) -> dict[str, Any]:
    """An item in the store's layout (live for five minutes), with ``expires`` / ``session`` overridden."""
    return {
        "SessionID": {"S": key},
        "Expires": {"N": expires or str(int(time.time()) + 300)},
        "Session": session or {"S": '{"user": "ada"}'},
    }


def with_user_index(projection: dict[str, Any]) -> dict[str, Any]:
    """CreateTable arguments for a session table with a user index projecting ``projection``."""
    return {
        "AttributeDefinitions": [
            {"AttributeName": "SessionID", "AttributeType": "S"},
            {"AttributeName": "UserID", "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": INDEX,
                "KeySchema": [{"AttributeName": "UserID", "KeyType": "HASH"}],
                "Projection": projection,
            }
        ],
    }


async def run_main(*argv: str) -> int:
    """The command line in-process (in a thread: it runs its own event loop)."""
    return await asyncio.to_thread(cli.main, list(argv))


# -- a healthy table -------------------------------------------------------------------------------------------


async def test_a_table_made_by_create_table_on_moto_is_all_ok(moto_endpoint: str, moto_table: str) -> None:
    checks = await diagnose(moto_table, endpoint_url=moto_endpoint)
    assert statuses(checks) == dict.fromkeys(["server", "table", "status", "key", "ttl", "billing", "items"], "ok")
    assert check(checks, "ttl").detail == "TTL is ENABLED on 'Expires'"


async def test_on_dynalite_the_missing_ttl_api_is_an_info_line_not_a_fix(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    checks = await diagnose(dynamodb_table, endpoint_url=dynamodb_endpoint)
    assert check(checks, "ttl") == Check(
        "ttl", "info", "this server has no TTL API (fine for local development; on AWS enable TTL)"
    )
    assert {c.name for c in checks if c.status != "ok"} == {"ttl"}


async def test_an_empty_table_is_ok_with_no_items_yet(dynamodb_endpoint: str, dynamodb_table: str) -> None:
    items = check(await diagnose(dynamodb_table, endpoint_url=dynamodb_endpoint), "items")
    assert (items.status, items.detail) == ("ok", f"no items yet in {dynamodb_table!r}")


def test_the_command_prints_the_checklist_and_exits_0_for_a_healthy_table(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    result = run_cli("doctor", "--table", dynamodb_table, "--endpoint-url", dynamodb_endpoint)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"ok    DynamoDB answers at {dynamodb_endpoint}"
    assert f"ok    table {dynamodb_table!r} is ACTIVE" in lines
    assert "info  this server has no TTL API (fine for local development; on AWS enable TTL)" in lines
    assert lines[-1] == "healthy (6 ok, 1 info)"
    assert result.stderr == ""


# -- the table itself ------------------------------------------------------------------------------------------


async def test_a_missing_table_is_a_fix_naming_create_table_with_the_options_given(dynamodb_endpoint: str) -> None:
    checks = await diagnose("doctor-missing", hash_key="id", endpoint_url=dynamodb_endpoint)
    assert [c.name for c in checks] == ["server", "table", "skipped"]
    table = check(checks, "table")
    assert table.status == "fix"
    assert table.detail.endswith(
        f"python -m tornado_dynasession create-table --table doctor-missing --hash-key id "
        f"--endpoint-url {dynamodb_endpoint}"
    )


async def test_a_table_with_another_hash_key_is_a_fix_naming_the_hash_key_option(
    dynamodb_endpoint: str, make_table: MakeTable
) -> None:
    table = await make_table(
        dynamodb_endpoint,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    checks = await diagnose(table, endpoint_url=dynamodb_endpoint)
    key = check(checks, "key")
    assert key.status == "fix"
    assert "HASH 'id' (S)" in key.detail and "pass --hash-key id" in key.detail
    assert checks[-1].name == "skipped"


async def test_a_table_with_a_range_key_is_a_fix_pointing_at_another_table(
    dynamodb_endpoint: str, make_table: MakeTable
) -> None:
    table = await make_table(
        dynamodb_endpoint,
        AttributeDefinitions=[
            {"AttributeName": "SessionID", "AttributeType": "S"},
            {"AttributeName": "At", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "SessionID", "KeyType": "HASH"}, {"AttributeName": "At", "KeyType": "RANGE"}],
    )
    key = check(await diagnose(table, endpoint_url=dynamodb_endpoint), "key")
    assert key.status == "fix"
    assert "RANGE 'At' (N)" in key.detail and "use another table" in key.detail


# -- TTL and billing -------------------------------------------------------------------------------------------


async def test_ttl_never_enabled_is_a_fix_with_the_commands_and_exit_status_1(
    moto_endpoint: str, make_table: MakeTable, capsys: pytest.CaptureFixture[str]
) -> None:
    table = await make_table(moto_endpoint)
    assert await run_main("doctor", "--table", table, "--endpoint-url", moto_endpoint) == 1
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("fix")]
    assert f"TTL is DISABLED on {table!r}: without it the table grows forever" in line
    assert (
        f"aws dynamodb update-time-to-live --table-name {table} --endpoint-url {moto_endpoint} "
        "--time-to-live-specification Enabled=true,AttributeName=Expires"
    ) in line
    assert f"python -m tornado_dynasession create-table --table {table} --endpoint-url {moto_endpoint}" in line


async def test_ttl_on_another_attribute_is_a_fix(moto_endpoint: str, make_table: MakeTable) -> None:
    table = await make_table(moto_endpoint)
    async with open_raw_client(moto_endpoint) as client:
        await client.update_time_to_live(
            TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
        )
    ttl = check(await diagnose(table, endpoint_url=moto_endpoint), "ttl")
    assert ttl.status == "fix"
    assert "TTL is on 'exp', not 'Expires'" in ttl.detail


async def test_doctor_changes_nothing_on_the_table(moto_endpoint: str, make_table: MakeTable) -> None:
    table = await make_table(moto_endpoint)
    await diagnose(table, endpoint_url=moto_endpoint)
    async with open_raw_client(moto_endpoint) as client:
        ttl = await client.describe_time_to_live(TableName=table)
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"


async def test_provisioned_billing_is_info_with_the_capacity(endpoint: str, make_table: MakeTable) -> None:
    table = await make_table(endpoint, ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 3})
    billing = check(await diagnose(table, endpoint_url=endpoint), "billing")
    assert billing.status == "info"
    assert "5 read and 3 write units per second" in billing.detail
    assert "503" in billing.detail and "PAY_PER_REQUEST" in billing.detail


# -- sampled items ---------------------------------------------------------------------------------------------


async def test_items_with_expires_in_milliseconds_are_a_fix_with_their_count(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    milliseconds = str(int(time.time() * 1000) + 300_000)
    await put_items(
        dynamodb_endpoint,
        dynamodb_table,
        session_item("good-one"),
        session_item("millis-1", expires=milliseconds),
        session_item("millis-2", expires=milliseconds),
    )
    (items,) = [c for c in await diagnose(dynamodb_table, endpoint_url=dynamodb_endpoint) if c.name == "items"]
    assert items.status == "fix"
    assert items.detail.startswith("3 items sampled (one Scan, Limit 25): 1 ok, 2 with Expires in milliseconds (keys ")
    assert "Date.now()" in items.detail


async def test_items_with_a_session_of_type_n_are_a_fix_with_their_count(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    await put_items(
        dynamodb_endpoint, dynamodb_table, session_item("good-one"), session_item("number", session={"N": "7"})
    )
    (items,) = [c for c in await diagnose(dynamodb_table, endpoint_url=dynamodb_endpoint) if c.name == "items"]
    assert items.status == "fix"
    assert "2 items sampled (one Scan, Limit 25): 1 ok, 1 with Session of type N (key number…)" in items.detail


async def test_each_kind_of_bad_item_gets_its_own_line(dynamodb_endpoint: str, dynamodb_table: str) -> None:
    await put_items(
        dynamodb_endpoint,
        dynamodb_table,
        session_item("millis", expires=str(int(time.time() * 1000))),
        session_item("number", session={"N": "7"}),
    )
    items = [c for c in await diagnose(dynamodb_table, endpoint_url=dynamodb_endpoint) if c.name == "items"]
    assert [c.status for c in items] == ["fix", "fix"]
    assert {c.detail.split(" (key")[0] for c in items} == {
        "2 items sampled (one Scan, Limit 25): 0 ok, 1 with Expires in milliseconds",
        "2 items sampled (one Scan, Limit 25): 0 ok, 1 with Session of type N",
    }


async def test_a_fractional_expires_is_info_because_the_store_reads_it(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    await put_items(dynamodb_endpoint, dynamodb_table, session_item("from-node", expires=f"{time.time() + 300:.3f}"))
    items = check(await diagnose(dynamodb_table, endpoint_url=dynamodb_endpoint), "items")
    assert items.status == "info"
    assert "1 with a fractional Expires" in items.detail and "connect-dynamodb" in items.detail


async def test_a_login_tombstone_is_ok(dynamodb_endpoint: str, dynamodb_table: str) -> None:
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        await store.set("old-id", {"user": "ada"})
        assert await store.supersede("old-id", until=int(time.time()) + 60)
    items = check(await diagnose(dynamodb_table, endpoint_url=dynamodb_endpoint), "items")
    assert (items.status, items.detail) == ("ok", "1 item sampled (one Scan, Limit 25): 1 ok, in the session layout")


async def test_a_logout_tombstone_is_ok(dynamodb_endpoint: str, dynamodb_table: str) -> None:
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        await store.set("logged-out-id", {"user": "ada"})
        assert await store.log_out("logged-out-id")
    items = check(await diagnose(dynamodb_table, endpoint_url=dynamodb_endpoint), "items")
    assert (items.status, items.detail) == ("ok", "1 item sampled (one Scan, Limit 25): 1 ok, in the session layout")


async def test_an_emptied_sessions_tombstone_is_ok(dynamodb_endpoint: str, dynamodb_table: str) -> None:
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        await store.set("emptied-id", {"cart": "book"})
        loaded = await store.load("emptied-id")
        assert loaded is not None and await store.discard("emptied-id", previous=loaded)
    items = check(await diagnose(dynamodb_table, endpoint_url=dynamodb_endpoint), "items")
    assert (items.status, items.detail) == ("ok", "1 item sampled (one Scan, Limit 25): 1 ok, in the session layout")


async def test_the_sample_never_shows_session_data_or_whole_keys(dynamodb_endpoint: str, dynamodb_table: str) -> None:
    await put_items(
        dynamodb_endpoint,
        dynamodb_table,
        session_item("secret-session-key", expires="12345678901234", session={"S": "secret-session-data"}),
    )
    details = " ".join(c.detail for c in await diagnose(dynamodb_table, endpoint_url=dynamodb_endpoint))
    assert "secret-s…" in details
    assert "secret-session" not in details


# -- the user index --------------------------------------------------------------------------------------------


async def test_a_user_index_projecting_created_and_label_is_ok(dynamodb_endpoint: str, make_table: MakeTable) -> None:
    projection = {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["Created", "Label"]}
    table = await make_table(dynamodb_endpoint, **with_user_index(projection))
    index = check(await diagnose(table, user_index=INDEX, endpoint_url=dynamodb_endpoint), "index")
    assert index == Check(
        "index", "ok", f"index {INDEX!r} is ACTIVE, keyed on 'UserID' (S), projects INCLUDE [Created, Label]"
    )


async def test_the_user_index_made_by_create_table_is_ok(endpoint: str) -> None:
    table = f"doctor-users-{uuid.uuid4().hex[:8]}"
    await create_table(table, endpoint_url=endpoint, user_index=INDEX)
    try:
        checks = await diagnose(table, user_index=INDEX, endpoint_url=endpoint)
    finally:
        await delete_table(table, endpoint_url=endpoint)
    assert check(checks, "index") == Check(
        "index", "ok", f"index {INDEX!r} is ACTIVE, keyed on 'UserID' (S), projects KEYS_ONLY"
    )


async def test_a_user_index_projecting_all_is_a_fix_about_write_cost(
    dynamodb_endpoint: str, make_table: MakeTable
) -> None:
    table = await make_table(dynamodb_endpoint, **with_user_index({"ProjectionType": "ALL"}))
    index = check(await diagnose(table, user_index=INDEX, endpoint_url=dynamodb_endpoint), "index")
    assert index.status == "fix"
    assert "projects ALL" in index.detail and "doubling the write cost" in index.detail


async def test_a_missing_user_index_is_a_fix_naming_create_table_with_the_index(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    index = check(await diagnose(dynamodb_table, user_index=INDEX, endpoint_url=dynamodb_endpoint), "index")
    assert index.status == "fix"
    assert f"python -m tornado_dynasession create-table --table {dynamodb_table} --user-index {INDEX}" in index.detail


# -- mistakes --------------------------------------------------------------------------------------------------


async def test_an_unreachable_endpoint_is_one_line_naming_it_and_how_to_start_a_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    assert await run_main("doctor", "--table", "sessions", "--endpoint-url", endpoint) == 1
    captured = capsys.readouterr()
    assert captured.err == ""
    naming = [line for line in captured.out.splitlines() if endpoint in line]
    assert len(naming) == 1, captured.out
    assert naming[0].startswith("fix   ") and f"python -m tornado_dynasession local --port {port}" in naming[0]


async def test_an_endpoint_without_a_scheme_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert await run_main("doctor", "--table", "sessions", "--endpoint-url", "127.0.0.1:8001") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().endswith("--endpoint-url http://127.0.0.1:8001")


async def test_no_region_for_aws_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (*AWS_VARIABLES, "DYNAMODB_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty-aws-file"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    assert await run_main("doctor", "--table", "sessions") == 2
    assert capsys.readouterr().err == "doctor: no AWS region: pass --region or set AWS_DEFAULT_REGION\n"
