"""``create-table --layout`` and ``doctor --layout``: the tools know the tables an express-session store writes.

TTL is checked on moto (dynalite has no TTL API); the items are checked on dynalite. A table written by the real
Express app is checked in ``test_express_interop.py``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tornado_dynasession import DynamoDBStore
from tornado_dynasession import __main__ as cli
from tornado_dynasession.doctor import Check, diagnose
from tornado_dynasession.layouts import LAYOUTS
from tornado_dynasession.tables import delete_table

from .support import open_raw_client

EXPRESS_ID = "Yb0Xq2z1Jw8tVfR3kLmN4pQs6uWx9AcE"  # express-session's ids: uid-safe(24), 32 characters


async def run_main(*argv: str) -> int:
    """The command line in-process (in a thread: it runs its own event loop)."""
    return await asyncio.to_thread(cli.main, list(argv))


@pytest.fixture
async def table_name() -> AsyncIterator[list[tuple[str, str]]]:
    """Names of tables a test made, as (endpoint, name), deleted afterwards."""
    made: list[tuple[str, str]] = []
    yield made
    for endpoint, name in made:
        await delete_table(name, endpoint_url=endpoint)


def new_table(made: list[tuple[str, str]], endpoint: str) -> str:
    name = f"layout-{uuid.uuid4().hex[:12]}"
    made.append((endpoint, name))
    return name


def connect_dynamodb_item(key: str, *, expires: float | None = None) -> dict[str, Any]:
    """An item exactly as connect-dynamodb 3.0.5 writes it: fractional ``expires``, ``type``, JSON in ``sess``."""
    return {
        "id": {"S": key},
        "expires": {"N": f"{time.time() + 600 if expires is None else expires:.3f}"},
        "type": {"S": "connect-session"},
        "sess": {"S": '{"cookie":{"originalMaxAge":600000,"httpOnly":true,"path":"/"},"user":"alice"}'},
    }


async def put_items(endpoint: str, table: str, *items: dict[str, Any]) -> None:
    async with open_raw_client(endpoint) as client:
        for item in items:
            await client.put_item(TableName=table, Item=item)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


# -- create-table --layout -------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
async def test_create_table_with_a_layout_makes_its_key_and_enables_ttl_on_its_expiry(
    moto_endpoint: str, table_name: list[tuple[str, str]], layout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    preset = LAYOUTS[layout]
    table = new_table(table_name, moto_endpoint)
    assert await run_main("create-table", "--table", table, "--layout", layout, "--endpoint-url", moto_endpoint) == 0
    assert f"TTL on {preset.expires}: enabled" in capsys.readouterr().out
    async with open_raw_client(moto_endpoint) as client:
        description = (await client.describe_table(TableName=table))["Table"]
        ttl = (await client.describe_time_to_live(TableName=table))["TimeToLiveDescription"]
    assert description["KeySchema"] == [{"AttributeName": preset.hash_key, "KeyType": "HASH"}]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", preset.expires)
    checks = await diagnose(table, layout=layout, endpoint_url=moto_endpoint)
    assert all(check.status == "ok" for check in checks), checks
    assert by_name(checks)["ttl"].detail == f"TTL is ENABLED on {preset.expires!r}"


async def test_create_table_refuses_a_hash_key_that_contradicts_the_layout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = await run_main("create-table", "--table", "t", "--layout", "connect-dynamodb", "--hash-key", "SessionID")
    assert status == 2
    assert "contradicts --layout connect-dynamodb, whose hash key is id: drop --hash-key" in capsys.readouterr().err


# -- doctor --layout -------------------------------------------------------------------------------------------


async def test_doctor_with_the_layout_finds_connect_dynamodb_sessions_healthy(
    dynamodb_endpoint: str, table_name: list[tuple[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    table = new_table(table_name, dynamodb_endpoint)
    assert (
        await run_main(
            "create-table", "--table", table, "--layout", "connect-dynamodb", "--endpoint-url", dynamodb_endpoint
        )
        == 0
    )
    await put_items(dynamodb_endpoint, table, connect_dynamodb_item(f"sess:{EXPRESS_ID}"))
    async with DynamoDBStore(table, endpoint_url=dynamodb_endpoint, layout="connect-dynamodb") as store:
        await store.set("ours-" + EXPRESS_ID, {"user": "bob"})
    capsys.readouterr()
    status = await run_main(
        "doctor", "--table", table, "--layout", "connect-dynamodb", "--endpoint-url", dynamodb_endpoint
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "ok    2 items sampled (one Scan, Limit 25): 2 ok, in the connect-dynamodb layout" in out
    assert "ok    key: a single hash key 'id' of type S" in out
    assert "fractional" not in out and "delete" not in out


async def test_doctor_without_the_layout_points_at_it_instead_of_advising_to_delete_live_sessions(
    dynamodb_endpoint: str, table_name: list[tuple[str, str]]
) -> None:
    table = new_table(table_name, dynamodb_endpoint)
    assert (
        await run_main(
            "create-table", "--table", table, "--layout", "connect-dynamodb", "--endpoint-url", dynamodb_endpoint
        )
        == 0
    )
    await put_items(dynamodb_endpoint, table, connect_dynamodb_item(f"sess:{EXPRESS_ID}"))
    checks = by_name(await diagnose(table, hash_key="id", endpoint_url=dynamodb_endpoint))
    assert checks["items"].status == "fix"
    assert "1 in the connect-dynamodb layout (written by the Node store)" in checks["items"].detail
    assert (
        "layout='connect-dynamodb'" in checks["items"].detail and "--layout connect-dynamodb" in checks["items"].detail
    )
    assert "delete" not in checks["items"].detail


async def test_doctor_on_a_connect_dynamodb_table_without_layout_or_hash_key_names_the_layout(
    dynamodb_endpoint: str, table_name: list[tuple[str, str]]
) -> None:
    table = new_table(table_name, dynamodb_endpoint)
    assert (
        await run_main(
            "create-table", "--table", table, "--layout", "connect-dynamodb", "--endpoint-url", dynamodb_endpoint
        )
        == 0
    )
    key = by_name(await diagnose(table, endpoint_url=dynamodb_endpoint))["key"]
    assert key.status == "fix"
    assert "pass --layout connect-dynamodb (and layout='connect-dynamodb' to DynamoDBStore)" in key.detail


async def test_doctor_with_the_layout_still_reports_items_the_store_cannot_read(
    dynamodb_endpoint: str, table_name: list[tuple[str, str]]
) -> None:
    table = new_table(table_name, dynamodb_endpoint)
    assert (
        await run_main(
            "create-table", "--table", table, "--layout", "connect-dynamodb", "--endpoint-url", dynamodb_endpoint
        )
        == 0
    )
    milliseconds = connect_dynamodb_item(f"sess:{EXPRESS_ID}", expires=time.time() * 1000 + 600_000)
    foreign = connect_dynamodb_item("not-a-session")
    await put_items(dynamodb_endpoint, table, milliseconds, foreign)
    items = [
        c for c in await diagnose(table, layout="connect-dynamodb", endpoint_url=dynamodb_endpoint) if c.name == "items"
    ]
    assert [(c.status, c.detail.split(" (key")[0]) for c in items] == [
        ("fix", "2 items sampled (one Scan, Limit 25): 0 ok, 1 with expires in milliseconds"),
        ("info", "2 items sampled (one Scan, Limit 25): 0 ok, 1 without the 'sess:' key prefix"),
    ]
