"""Sharing sessions with an Express app, on our side: the layout presets and express-session's cookie format.

The round trips with the real Node packages are in ``test_express_interop.py``; these tests pin our half down: what
the presets write and read, and that a bad express cookie costs no DynamoDB call.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tornado_dynasession import DynamoDBStore, JsonCodec, OrjsonCodec, create_table
from tornado_dynasession.express import sign, unsign
from tornado_dynasession.tables import delete_table

from .conftest import Serve
from .support import DynamoProxy, open_raw_client

SECRET = "express-and-tornado-share-this-secret"
EXPRESS_ID = "Yb0Xq2z1Jw8tVfR3kLmN4pQs6uWx9AcE"  # express-session's ids: uid-safe(24), 32 characters
NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"


# -- the cookie format ----------------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (and `npm ci`) to run cookie-signature")
def test_the_signature_is_byte_for_byte_the_one_cookie_signature_makes() -> None:
    script = f"console.log(require({json.dumps(str(NODE_MODULES / 'cookie-signature'))}).sign(process.argv[1], "
    script += "process.argv[2]))"
    node = subprocess.run(["node", "-e", script, EXPRESS_ID, SECRET], capture_output=True, text=True, check=True)
    assert urllib.parse.unquote(sign(EXPRESS_ID, SECRET)) == "s:" + node.stdout.strip()


def test_a_signed_value_unsigns_url_encoded_or_not_with_any_listed_secret() -> None:
    value = sign(EXPRESS_ID, SECRET)
    assert value.startswith("s%3A")
    assert unsign(value, [SECRET]) == EXPRESS_ID
    assert unsign(urllib.parse.unquote(value), [SECRET]) == EXPRESS_ID
    assert unsign(value, ["an-old-secret", SECRET]) == EXPRESS_ID


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(sign(EXPRESS_ID, "another-secret"), id="wrong-secret"),
        pytest.param(sign(EXPRESS_ID, SECRET)[:-2] + "AA", id="forged-signature"),
        pytest.param(urllib.parse.unquote(sign(EXPRESS_ID, SECRET))[2:], id="without-s-colon"),
        pytest.param(sign("a|b" * 8, SECRET), id="id-of-another-shape"),
        pytest.param("s:" + EXPRESS_ID, id="no-signature"),
        pytest.param("s%3A%ZZ", id="bad-url-encoding"),
    ],
)
def test_a_bad_express_cookie_is_no_session(value: str) -> None:
    assert unsign(value, [SECRET]) is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(sign(EXPRESS_ID, "another-secret"), id="wrong-secret"),
        pytest.param(sign(EXPRESS_ID, SECRET)[:-2] + "AA", id="forged-signature"),
        pytest.param(urllib.parse.unquote(sign(EXPRESS_ID, SECRET))[2:], id="without-s-colon"),
    ],
)
async def test_a_bad_express_cookie_costs_no_dynamodb_call(serve: Serve, proxy: DynamoProxy, value: str) -> None:
    browser = await serve(secret=SECRET, cookie_format="express")
    proxy.reset()
    reply = await browser.get("/read", cookies={"connect.sid": value})
    assert json.loads(reply.body)["new"] is True
    assert proxy.count() == 0


async def test_the_express_format_sets_connect_sid_and_reads_it_back_url_encoded(
    serve: Serve, proxy: DynamoProxy
) -> None:
    browser = await serve(secret=SECRET, cookie_format="express")
    await browser.get("/set?key=user&value=alice")
    value = browser.cookies["connect.sid"]
    assert value.startswith("s%3A")
    proxy.reset()
    read = json.loads((await browser.get("/read")).body)
    assert read["data"] == {"user": "alice"} and read["id"] == unsign(value, [SECRET])
    assert proxy.calls["UpdateItem"] == 1  # the cookie tells no lifetime: the read slides the expiry


# -- the layout presets ---------------------------------------------------------------------------------------------


async def express_table(endpoint: str, hash_key: str) -> str:
    name = f"express-{time.time_ns()}"
    async with open_raw_client(endpoint) as client:
        await client.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": hash_key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    return name


async def raw_item(endpoint: str, table: str, key: dict[str, Any]) -> dict[str, Any]:
    async with open_raw_client(endpoint) as client:
        item: dict[str, Any] = (await client.get_item(TableName=table, Key=key)).get("Item", {})
    return item


async def test_the_connect_dynamodb_preset_writes_its_layout(dynamodb_endpoint: str) -> None:
    table = await express_table(dynamodb_endpoint, "id")
    async with DynamoDBStore(table, endpoint_url=dynamodb_endpoint, layout="connect-dynamodb", max_age=600) as store:
        await store.set(EXPRESS_ID, {"user": "alice"})
    item = await raw_item(dynamodb_endpoint, table, {"id": {"S": f"sess:{EXPRESS_ID}"}})
    await delete_table(table, endpoint_url=dynamodb_endpoint)
    assert set(item) == {"id", "expires", "type", "sess"}
    assert item["type"] == {"S": "connect-session"}
    stored = json.loads(item["sess"]["S"])
    assert stored["user"] == "alice"
    assert stored["cookie"]["originalMaxAge"] == 600_000
    assert stored["cookie"]["httpOnly"] is True and stored["cookie"]["path"] == "/"
    expires = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(int(item["expires"]["N"])))
    assert stored["cookie"]["expires"] == expires


async def test_log_out_on_a_shared_layout_deletes_the_item_which_express_would_read_as_a_session(
    dynamodb_endpoint: str,
) -> None:
    table = await express_table(dynamodb_endpoint, "id")
    async with DynamoDBStore(table, endpoint_url=dynamodb_endpoint, layout="connect-dynamodb") as store:
        await store.set(EXPRESS_ID, {"user": "alice"})
        assert await store.log_out(EXPRESS_ID) is True
    item = await raw_item(dynamodb_endpoint, table, {"id": {"S": f"sess:{EXPRESS_ID}"}})
    await delete_table(table, endpoint_url=dynamodb_endpoint)
    assert item == {}


async def test_the_express_cookie_object_is_hidden_from_the_data_and_kept_on_write(dynamodb_endpoint: str) -> None:
    table = await express_table(dynamodb_endpoint, "SessionID")
    key = {"SessionID": {"S": EXPRESS_ID}}
    written_by_express = {
        "cookie": {"originalMaxAge": 60_000, "expires": "2000-01-01T00:00:00.000Z", "secure": True, "path": "/"},
        "user": "alice",
    }
    async with open_raw_client(dynamodb_endpoint) as client:
        await client.put_item(
            TableName=table,
            Item={
                **key,
                "Expires": {"N": str(int(time.time()) + 60)},
                "Session": {"S": json.dumps(written_by_express)},
            },
        )
    async with DynamoDBStore(table, endpoint_url=dynamodb_endpoint, layout="express-dynamodb") as store:
        record = await store.load(EXPRESS_ID)
        assert record is not None and record.data == {"user": "alice"}
        saved = await store.save(
            EXPRESS_ID, {"user": "alice", "theme": "dark"}, expires_at=record.expires_at + 60, previous=record
        )
        assert saved is not None
        with pytest.raises(ValueError, match="express-session's own key"):
            await store.set(EXPRESS_ID, {"cookie": "mine"})
    stored = json.loads((await raw_item(dynamodb_endpoint, table, key))["Session"]["S"])
    await delete_table(table, endpoint_url=dynamodb_endpoint)
    assert stored["theme"] == "dark"
    assert stored["cookie"]["secure"] is True  # what the Express app set is kept
    assert stored["cookie"]["expires"] == time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(saved.expires_at))


async def test_a_login_on_a_shared_layout_deletes_the_old_id_instead_of_leaving_a_tombstone(
    dynamodb_endpoint: str,
) -> None:
    # A Node store reads any unexpired item as a session and fails on one without it.
    table = await express_table(dynamodb_endpoint, "SessionID")
    async with DynamoDBStore(table, endpoint_url=dynamodb_endpoint, layout="express-dynamodb") as store:
        await store.set(EXPRESS_ID, {"user": "alice"})
        assert await store.supersede(EXPRESS_ID, until=int(time.time()) + 60)
    assert await raw_item(dynamodb_endpoint, table, {"SessionID": {"S": EXPRESS_ID}}) == {}
    await delete_table(table, endpoint_url=dynamodb_endpoint)


@pytest.mark.parametrize("codec", [OrjsonCodec(), JsonCodec()], ids=["orjson", "json"])
async def test_half_an_emoji_saved_by_express_reads_as_the_replacement_character(
    dynamodb_endpoint: str, codec: OrjsonCodec | JsonCodec
) -> None:
    # "🎉".slice(0, 1) is a valid JavaScript string; JSON.stringify writes it as the escape \ud83c.
    table = await express_table(dynamodb_endpoint, "id")
    sess = '{"cookie":{"originalMaxAge":600000,"httpOnly":true,"path":"/"},"name":"\\ud83c","user":"alice"}'
    async with open_raw_client(dynamodb_endpoint) as client:
        await client.put_item(
            TableName=table,
            Item={
                "id": {"S": f"sess:{EXPRESS_ID}"},
                "expires": {"N": f"{time.time() + 600:.3f}"},
                "type": {"S": "connect-session"},
                "sess": {"S": sess},
            },
        )
    async with DynamoDBStore(table, endpoint_url=dynamodb_endpoint, layout="connect-dynamodb", codec=codec) as store:
        record = await store.load(EXPRESS_ID)
        assert record is not None and record.data == {"name": "\ufffd", "user": "alice"}
        saved = await store.save(EXPRESS_ID, record.data, expires_at=record.expires_at + 60, previous=record)
        assert saved is not None
        assert await store.get(EXPRESS_ID) == {"name": "\ufffd", "user": "alice"}  # stored as valid Unicode now
    stored = (await raw_item(dynamodb_endpoint, table, {"id": {"S": f"sess:{EXPRESS_ID}"}}))["sess"]["S"]
    await delete_table(table, endpoint_url=dynamodb_endpoint)
    assert json.loads(stored)["name"] == "\ufffd"


def test_an_unknown_layout_names_the_presets() -> None:
    with pytest.raises(ValueError, match="'express-dynamodb', 'connect-dynamodb'"):
        DynamoDBStore("sessions", layout="redis")  # type: ignore[arg-type]


async def test_create_table_is_not_needed_for_a_preset_table_made_by_node(dynamodb_endpoint: str) -> None:
    # The Node stores' tables are plain hash-key tables; create_table makes the same one for the preset's key.
    name = f"connect-{time.time_ns()}"
    await create_table(name, hash_key="id", endpoint_url=dynamodb_endpoint)
    async with DynamoDBStore(name, endpoint_url=dynamodb_endpoint, layout="connect-dynamodb") as store:
        await store.set(EXPRESS_ID, {"n": 1})
        assert await store.get(EXPRESS_ID) == {"n": 1}
    await delete_table(name, endpoint_url=dynamodb_endpoint)
