"""DynamoDBStore against a real DynamoDB-compatible server over HTTP: layout, expiry, conditions, errors.

Every assertion about what is stored is made with a plain aiobotocore client (``raw``), never through the store.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import math
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

import orjson
import pytest
from aiohttp import web

from tornado_dynasession import (
    CodecError,
    DynamoDBStore,
    JsonCodec,
    OrjsonCodec,
    SessionConflictError,
    SessionRecord,
    SessionStoreError,
    SessionTooLargeError,
    StoreUnavailableError,
    TableNotFoundError,
)
from tornado_dynasession.backends import AttributeNames, ClientOptions
from tornado_dynasession.records import MAX_ITEM_BYTES, MAX_LIFETIME_SECONDS, Absence, Emptied
from tornado_dynasession.store import BACKEND_NAMES
from tornado_dynasession.tables import create_table, delete_table

StoreFactory = Callable[..., Awaitable[DynamoDBStore]]

SID = "s3cr3t-session-id-0123456789abcdef"
TEN_YEARS_AND_A_DAY = 10 * 366 * 86400 + 86400


def hashed(sid: str) -> str:
    """What a store with hash_ids=True keys the item by: the unpadded base64url SHA-256 of the id."""
    return base64.urlsafe_b64encode(hashlib.sha256(sid.encode()).digest()).rstrip(b"=").decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Raw:
    """Plain DynamoDB calls on the test's table, bypassing the store."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    async def put(self, item: dict[str, Any]) -> None:
        await self.client.put_item(TableName=self.table, Item=item)

    async def get(self, key: str, hash_key: str = "SessionID") -> dict[str, Any] | None:
        response = await self.client.get_item(TableName=self.table, Key={hash_key: {"S": key}}, ConsistentRead=True)
        item: dict[str, Any] | None = response.get("Item")
        return item

    async def scan(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self.client.scan(TableName=self.table, ConsistentRead=True))["Items"]
        return items


@pytest.fixture(scope="module")
def module_table(dynamodb_endpoint: str) -> Iterator[str]:
    name = f"store-tests-{time.time_ns()}"
    asyncio.run(create_table(name, endpoint_url=dynamodb_endpoint))
    yield name
    asyncio.run(delete_table(name, endpoint_url=dynamodb_endpoint))


@pytest.fixture
async def dynamodb_table(module_table: str, raw_client: Any) -> str:
    """Overrides the plugin's table-per-test: this module's one table, emptied before each test (much cheaper)."""
    for item in (await raw_client.scan(TableName=module_table, ConsistentRead=True))["Items"]:
        await raw_client.delete_item(TableName=module_table, Key={"SessionID": item["SessionID"]})
    return module_table


@pytest.fixture
def raw(raw_client: Any, dynamodb_table: str) -> Raw:
    return Raw(raw_client, dynamodb_table)


def live_item(sid: str = SID, *, expires: int | None = None, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A well-formed item as the store writes it (hashed key)."""
    return {
        "SessionID": {"S": hashed(sid)},
        "Expires": {"N": str(int(time.time()) + 300 if expires is None else expires)},
        "Session": {"S": json.dumps({"user": "ada"} if data is None else dict(data))},
    }


class BytesCodec:
    """A codec that stores binary: orjson bytes."""

    def encode(self, data: Mapping[str, Any]) -> bytes:
        return orjson.dumps(data)

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        value = orjson.loads(raw)
        assert isinstance(value, dict)
        return value


# -- round trips ---------------------------------------------------------------------------------------------------


async def test_set_then_get_returns_the_data(store: DynamoDBStore) -> None:
    data = {"user": "ada", "roles": ["admin"], "n": 3, "ratio": 0.5, "ok": True, "none": None, "nested": {"a": [1]}}
    await store.set(SID, data)
    assert await store.get(SID) == data


async def test_get_of_an_unknown_id_returns_none(store: DynamoDBStore) -> None:
    assert await store.get("never-set") is None


async def test_non_ascii_data_round_trips(store: DynamoDBStore) -> None:
    data = {"name": "Zoë Ångström", "emoji": "🍪", "cjk": "会话"}
    await store.set(SID, data)
    assert await store.get(SID) == data


async def test_set_replaces_the_whole_session(store: DynamoDBStore) -> None:
    await store.set(SID, {"a": 1, "b": 2})
    await store.set(SID, {"c": 3})
    assert await store.get(SID) == {"c": 3}


async def test_sessions_with_different_ids_are_independent(store: DynamoDBStore) -> None:
    await store.set("id-one", {"n": 1})
    await store.set("id-two", {"n": 2})
    await store.destroy("id-one")
    assert await store.get("id-one") is None
    assert await store.get("id-two") == {"n": 2}


async def test_destroy_removes_the_session(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    await store.destroy(SID)
    assert await store.get(SID) is None
    assert await raw.scan() == []


async def test_destroy_is_idempotent(store: DynamoDBStore) -> None:
    await store.destroy("never-set")
    await store.set(SID, {"user": "ada"})
    await store.destroy(SID)
    await store.destroy(SID)
    assert await store.get(SID) is None


async def test_an_empty_session_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="session id"):
        await DynamoDBStore("any-table", endpoint_url=f"http://127.0.0.1:{free_port()}").get("")


async def test_json_codec_and_orjson_codec_read_each_others_items(make_store: StoreFactory) -> None:
    with_orjson = await make_store(codec=OrjsonCodec())
    with_json = await make_store(codec=JsonCodec())
    await with_orjson.set("written-by-orjson", {"name": "Zoë", "n": [1, 2]})
    await with_json.set("written-by-json", {"name": "Zoë", "n": [1, 2]})
    assert await with_json.get("written-by-orjson") == {"name": "Zoë", "n": [1, 2]}
    assert await with_orjson.get("written-by-json") == {"name": "Zoë", "n": [1, 2]}


def test_the_default_codec_is_orjson() -> None:
    assert isinstance(DynamoDBStore("any-table").codec, OrjsonCodec)


# -- client ownership and configuration ----------------------------------------------------------------------------


async def test_a_caller_owned_client_stays_open_after_the_store_closes(raw_client: Any, dynamodb_table: str) -> None:
    store = DynamoDBStore(dynamodb_table, client=raw_client)
    await store.set(SID, {"user": "ada"})
    await store.close()
    response = await raw_client.get_item(TableName=dynamodb_table, Key={"SessionID": {"S": hashed(SID)}})
    assert "Item" in response


async def test_the_store_is_an_async_context_manager_with_its_own_client(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        await store.set(SID, {"user": "ada"})
        assert await store.get(SID) == {"user": "ada"}


async def test_the_endpoint_defaults_to_DYNAMODB_ENDPOINT(
    dynamodb_endpoint: str, dynamodb_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNAMODB_ENDPOINT", dynamodb_endpoint)
    async with DynamoDBStore(dynamodb_table) as store:
        await store.set(SID, {"user": "ada"})
        assert await store.get(SID) == {"user": "ada"}


async def test_each_operation_is_exactly_one_request_and_never_a_describe_table(
    raw_client: Any, dynamodb_table: str
) -> None:
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    raw_client.meta.events.register("before-call.dynamodb", record)
    store = DynamoDBStore(dynamodb_table, client=raw_client)
    await store.set(SID, {"user": "ada"})
    await store.get(SID)
    await store.touch(SID)
    record_ = await store.load(SID)
    await store.save(SID, {"user": "bob"}, expires_at=int(time.time()) + 60, previous=record_)
    await store.destroy(SID)
    assert calls == ["PutItem", "GetItem", "UpdateItem", "GetItem", "PutItem", "DeleteItem"]


# -- lifetimes -----------------------------------------------------------------------------------------------------


async def test_the_default_lifetime_is_300_seconds_in_integer_epoch_seconds(store: DynamoDBStore, raw: Raw) -> None:
    before = time.time()
    await store.set(SID, {"user": "ada"})
    after = time.time()
    item = await raw.get(hashed(SID))
    assert item is not None
    expires = item["Expires"]["N"]
    assert expires.isdigit()
    assert math.ceil(before + 300) <= int(expires) <= math.ceil(after + 300)


async def test_the_store_max_age_sets_the_default_lifetime(make_store: StoreFactory, raw: Raw) -> None:
    store = await make_store(max_age=60)
    before = time.time()
    await store.set(SID, {"user": "ada"})
    after = time.time()
    item = await raw.get(hashed(SID))
    assert item is not None
    assert math.ceil(before + 60) <= int(item["Expires"]["N"]) <= math.ceil(after + 60)


async def test_max_age_passed_to_set_overrides_the_store_default(store: DynamoDBStore, raw: Raw) -> None:
    before = time.time()
    await store.set(SID, {"user": "ada"}, max_age=7200)
    after = time.time()
    item = await raw.get(hashed(SID))
    assert item is not None
    assert math.ceil(before + 7200) <= int(item["Expires"]["N"]) <= math.ceil(after + 7200)


async def test_a_fractional_max_age_is_accepted_and_rounded_up_to_a_whole_second(
    store: DynamoDBStore, raw: Raw
) -> None:
    before = time.time()
    await store.set(SID, {"user": "ada"}, max_age=90.25)
    after = time.time()
    item = await raw.get(hashed(SID))
    assert item is not None
    assert item["Expires"]["N"].isdigit()
    assert math.ceil(before + 90.25) <= int(item["Expires"]["N"]) <= math.ceil(after + 90.25)


async def test_a_session_with_the_longest_allowed_lifetime_is_served(store: DynamoDBStore) -> None:
    await store.set(SID, {"user": "ada"}, max_age=MAX_LIFETIME_SECONDS)
    assert await store.get(SID) == {"user": "ada"}


async def test_a_session_is_gone_once_its_lifetime_has_passed(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"}, max_age=1)
    assert await store.get(SID) == {"user": "ada"}
    item = await raw.get(hashed(SID))
    assert item is not None
    await asyncio.sleep(max(0.0, int(item["Expires"]["N"]) - time.time()) + 0.05)
    assert await store.get(SID) is None
    assert await store.touch(SID) is False


INVALID_MAX_AGES: list[Any] = [0, -1, -0.5, True, False, TEN_YEARS_AND_A_DAY, float("nan"), float("inf"), "300", None]


@pytest.mark.parametrize("max_age", INVALID_MAX_AGES, ids=repr)
def test_an_invalid_store_max_age_is_rejected(max_age: Any) -> None:
    with pytest.raises((ValueError, TypeError), match="max_age"):
        DynamoDBStore("any-table", max_age=max_age)


async def test_set_with_an_invalid_max_age_raises_and_writes_nothing(store: DynamoDBStore, raw: Raw) -> None:
    for max_age in [0, -1, True, TEN_YEARS_AND_A_DAY, float("nan")]:
        with pytest.raises((ValueError, TypeError), match="max_age"):
            await store.set(SID, {"user": "ada"}, max_age=max_age)
    assert await raw.scan() == []


async def test_touch_with_an_invalid_max_age_raises_and_changes_nothing(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    before = await raw.get(hashed(SID))
    for max_age in [0, -1, True, TEN_YEARS_AND_A_DAY]:
        with pytest.raises((ValueError, TypeError), match="max_age"):
            await store.touch(SID, max_age=max_age)
    assert await raw.get(hashed(SID)) == before


# -- the raw item layout -------------------------------------------------------------------------------------------


async def test_set_writes_exactly_the_hash_key_expires_and_session_attributes(store: DynamoDBStore, raw: Raw) -> None:
    data = {"user": "ada", "cart": [1, 2, 3]}
    await store.set(SID, data)
    item = await raw.get(hashed(SID))
    assert item is not None
    assert set(item) == {"SessionID", "Expires", "Session"}
    assert item["SessionID"] == {"S": hashed(SID)}
    assert set(item["Expires"]) == {"N"}
    assert item["Expires"]["N"].isdigit()
    assert set(item["Session"]) == {"S"}
    assert json.loads(item["Session"]["S"]) == data


async def test_the_session_attribute_is_compact_json_text(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada", "cart": [1, 2]})
    item = await raw.get(hashed(SID))
    assert item is not None
    assert item["Session"]["S"] == '{"user":"ada","cart":[1,2]}'


async def test_hashed_ids_are_the_unpadded_base64url_sha256_of_the_id(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    (item,) = await raw.scan()
    key = item["SessionID"]["S"]
    assert key == base64.urlsafe_b64encode(hashlib.sha256(SID.encode()).digest()).decode().rstrip("=")
    assert len(key) == 43
    assert "=" not in key and "+" not in key and "/" not in key


async def test_with_hashed_ids_the_raw_id_appears_nowhere_in_the_table(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    await store.touch(SID)
    assert SID not in repr(await raw.scan())


async def test_with_hash_ids_false_the_raw_id_is_the_key(make_store: StoreFactory, raw: Raw) -> None:
    store = await make_store(hash_ids=False)
    await store.set(SID, {"user": "ada"})
    (item,) = await raw.scan()
    assert item["SessionID"] == {"S": SID}
    assert await store.get(SID) == {"user": "ada"}


async def test_an_item_in_the_node_store_layout_is_read(make_store: StoreFactory, raw: Raw) -> None:
    store = await make_store(hash_ids=False)
    await raw.put(
        {
            "SessionID": {"S": SID},
            "Expires": {"N": str(int(time.time()) + 300)},
            "Session": {"S": '{"cookie":{"path":"/"},"user":"ada"}'},
        }
    )
    assert await store.get(SID) == {"cookie": {"path": "/"}, "user": "ada"}


async def test_a_bytes_codec_stores_a_binary_session_attribute(make_store: StoreFactory, raw: Raw) -> None:
    store = await make_store(codec=BytesCodec())
    await store.set(SID, {"user": "ada"})
    item = await raw.get(hashed(SID))
    assert item is not None
    assert set(item) == {"SessionID", "Expires", "Session"}
    assert item["Session"] == {"B": b'{"user":"ada"}'}
    assert await store.get(SID) == {"user": "ada"}


@pytest.fixture
def custom_table(dynamodb_endpoint: str) -> Iterator[str]:
    name = f"custom-{time.time_ns()}"
    asyncio.run(create_table(name, hash_key="sid", expires_attribute="ttl_at", endpoint_url=dynamodb_endpoint))
    yield name
    asyncio.run(delete_table(name, endpoint_url=dynamodb_endpoint))


async def test_custom_hash_key_and_attribute_names_are_used(
    make_store: StoreFactory, raw_client: Any, custom_table: str
) -> None:
    store = await make_store(
        table=custom_table, names=AttributeNames(hash_key="sid", expires="ttl_at", session="payload")
    )
    await store.set(SID, {"user": "ada"})
    assert await store.touch(SID) is True
    assert await store.get(SID) == {"user": "ada"}
    item = await Raw(raw_client, custom_table).get(hashed(SID), hash_key="sid")
    assert item is not None
    assert set(item) == {"sid", "ttl_at", "payload"}
    assert json.loads(item["payload"]["S"]) == {"user": "ada"}
    await store.destroy(SID)
    assert await Raw(raw_client, custom_table).scan() == []


async def test_a_hash_key_that_does_not_match_the_table_raises_a_store_error(make_store: StoreFactory) -> None:
    store = await make_store(names=AttributeNames(hash_key="not_the_key"))
    with pytest.raises(SessionStoreError) as caught:
        await store.get(SID)
    assert caught.value.__cause__ is not None


# -- expiry --------------------------------------------------------------------------------------------------------


async def test_an_expired_item_still_in_the_table_is_not_served(
    store: DynamoDBStore, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    await raw.put(live_item(expires=int(time.time()) - 10))
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await store.get(SID) is None
        assert await store.load(SID) is None
    assert caplog.records == [], "an expired item is not corrupt"


async def test_an_item_expiring_this_very_second_is_not_served(store: DynamoDBStore, raw: Raw) -> None:
    await raw.put(live_item(expires=int(time.time())))
    assert await store.get(SID) is None


async def test_touch_does_not_revive_an_expired_item(store: DynamoDBStore, raw: Raw) -> None:
    expired = live_item(expires=int(time.time()) - 10)
    await raw.put(expired)
    assert await store.touch(SID) is False
    assert await raw.get(hashed(SID)) == expired
    assert await store.get(SID) is None


async def test_touch_with_expires_at_does_not_revive_an_expired_item(store: DynamoDBStore, raw: Raw) -> None:
    expired = live_item(expires=int(time.time()) - 10)
    await raw.put(expired)
    assert await store.touch(SID, expires_at=int(time.time()) + 600) is False
    assert await raw.get(hashed(SID)) == expired


# -- touch ---------------------------------------------------------------------------------------------------------


async def test_touch_on_a_missing_session_returns_false_and_creates_nothing(store: DynamoDBStore, raw: Raw) -> None:
    assert await store.touch(SID) is False
    assert await raw.scan() == []


async def test_touch_never_recreates_a_destroyed_session(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    await store.destroy(SID)
    assert await store.touch(SID) is False
    assert await raw.scan() == []
    assert await store.get(SID) is None


async def test_touch_on_a_live_session_moves_expires_and_returns_true(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"}, max_age=60)
    before = time.time()
    assert await store.touch(SID, max_age=3600) is True
    after = time.time()
    item = await raw.get(hashed(SID))
    assert item is not None
    assert math.ceil(before + 3600) <= int(item["Expires"]["N"]) <= math.ceil(after + 3600)


async def test_touch_without_max_age_uses_the_store_default(make_store: StoreFactory, raw: Raw) -> None:
    store = await make_store(max_age=900)
    await store.set(SID, {"user": "ada"}, max_age=60)
    before = time.time()
    assert await store.touch(SID) is True
    after = time.time()
    item = await raw.get(hashed(SID))
    assert item is not None
    assert math.ceil(before + 900) <= int(item["Expires"]["N"]) <= math.ceil(after + 900)


async def test_touch_with_expires_at_sets_exactly_that_value(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    target = int(time.time()) + 12345
    assert await store.touch(SID, expires_at=target) is True
    item = await raw.get(hashed(SID))
    assert item is not None
    assert item["Expires"] == {"N": str(target)}
    record = await store.load(SID)
    assert record is not None and record.expires_at == target


async def test_touch_changes_only_expires(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"}, max_age=60)
    before = await raw.get(hashed(SID))
    assert await store.touch(SID, max_age=600) is True
    after = await raw.get(hashed(SID))
    assert before is not None and after is not None
    assert set(after) == set(before)
    assert after["Session"] == before["Session"]
    assert after["SessionID"] == before["SessionID"]
    assert after["Expires"] != before["Expires"]


# -- load and save -------------------------------------------------------------------------------------------------


async def test_load_returns_a_record_with_data_and_expiry(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    record = await store.load(SID)
    item = await raw.get(hashed(SID))
    assert item is not None
    assert isinstance(record, SessionRecord)
    assert record.data == {"user": "ada"}
    assert record.expires_at == int(item["Expires"]["N"])
    assert record.created_at is None
    assert record.version == 0  # set() writes the Node store's three attributes, without a Version


async def test_load_of_a_missing_session_returns_none(store: DynamoDBStore) -> None:
    assert await store.load(SID) is None


async def test_save_of_a_new_id_stores_the_session_with_its_creation_time(store: DynamoDBStore, raw: Raw) -> None:
    now = int(time.time())
    saved = await store.save(SID, {"user": "ada"}, expires_at=now + 600, created_at=now)
    assert saved is not None and saved.data == {"user": "ada"}
    item = await raw.get(hashed(SID))
    assert item is not None
    assert item["Expires"] == {"N": str(now + 600)}
    assert item["Created"] == {"N": str(now)}
    record = await store.load(SID)
    assert record is not None
    assert (record.data, record.expires_at, record.created_at) == ({"user": "ada"}, now + 600, now)


async def test_saving_a_new_session_over_an_existing_id_raises_conflict(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    before = await raw.get(hashed(SID))
    with pytest.raises(SessionConflictError):
        await store.save(SID, {"user": "mallory"}, expires_at=int(time.time()) + 600)
    assert await raw.get(hashed(SID)) == before


async def test_save_with_previous_updates_a_live_session(store: DynamoDBStore) -> None:
    await store.set(SID, {"n": 1})
    previous = await store.load(SID)
    assert previous is not None
    saved = await store.save(SID, {"n": 2}, expires_at=int(time.time()) + 600, previous=previous)
    assert saved is not None
    assert await store.get(SID) == {"n": 2}


async def test_save_never_resurrects_a_destroyed_session(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    previous = await store.load(SID)
    await store.destroy(SID)
    assert await store.save(SID, {"user": "ada", "n": 2}, expires_at=int(time.time()) + 600, previous=previous) is None
    assert await raw.scan() == []


async def test_save_never_overwrites_an_expired_session(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    previous = await store.load(SID)
    expired = live_item(expires=int(time.time()) - 5)
    await raw.put(expired)
    assert await store.save(SID, {"user": "ada", "n": 2}, expires_at=int(time.time()) + 600, previous=previous) is None
    assert await raw.get(hashed(SID)) == expired


async def test_versions_start_at_one_and_increment(make_store: StoreFactory, raw: Raw) -> None:
    store = await make_store()
    first = await store.save(SID, {"n": 1}, expires_at=int(time.time()) + 600)
    assert first is not None and first.version == 1
    loaded = await store.load(SID)
    assert loaded is not None and loaded.version == 1
    second = await store.save(SID, {"n": 2}, expires_at=int(time.time()) + 600, previous=loaded)
    assert second is not None and second.version == 2
    item = await raw.get(hashed(SID))
    assert item is not None and item["Version"] == {"N": "2"}
    reloaded = await store.load(SID)
    assert reloaded is not None and (reloaded.version, reloaded.data) == (2, {"n": 2})


async def test_a_save_on_a_stale_previous_returns_none_and_writes_nothing(make_store: StoreFactory, raw: Raw) -> None:
    store = await make_store()
    await store.save(SID, {"n": 1}, expires_at=int(time.time()) + 600)
    stale = await store.load(SID)
    fresh = await store.load(SID)
    assert stale is not None and fresh is not None
    await store.save(SID, {"n": 2, "by": "first"}, expires_at=int(time.time()) + 600, previous=fresh)
    before = await raw.get(hashed(SID))
    assert await store.save(SID, {"n": 2, "by": "second"}, expires_at=int(time.time()) + 600, previous=stale) is None
    assert await raw.get(hashed(SID)) == before


async def test_an_item_written_by_set_is_at_version_zero(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"n": 1})
    loaded = await store.load(SID)
    assert loaded is not None and loaded.version == 0
    saved = await store.save(SID, {"n": 2}, expires_at=int(time.time()) + 600, previous=loaded)
    assert saved is not None and saved.version == 1
    item = await raw.get(hashed(SID))
    assert item is not None and item["Version"] == {"N": "1"}


async def test_saving_over_a_destroyed_session_returns_none_and_creates_nothing(store: DynamoDBStore, raw: Raw) -> None:
    await store.save(SID, {"n": 1}, expires_at=int(time.time()) + 600)
    loaded = await store.load(SID)
    await store.destroy(SID)
    assert await store.save(SID, {"n": 2}, expires_at=int(time.time()) + 600, previous=loaded) is None
    assert await raw.scan() == []


async def test_saving_a_new_session_under_a_taken_id_raises_conflict_and_writes_nothing(
    store: DynamoDBStore, raw: Raw
) -> None:
    await store.save(SID, {"n": 1}, expires_at=int(time.time()) + 600)
    before = await raw.get(hashed(SID))
    with pytest.raises(SessionConflictError, match="already taken"):
        await store.save(SID, {"n": 2}, expires_at=int(time.time()) + 600)
    assert await raw.get(hashed(SID)) == before


# -- corrupt items -------------------------------------------------------------------------------------------------


def _corrupt(**attributes: Any) -> Callable[[], dict[str, Any]]:
    """An item with the given attributes replaced (None removes one); built at test time so Expires is current."""

    def build() -> dict[str, Any]:
        item = live_item()
        for name, value in attributes.items():
            if value is None:
                del item[name]
            else:
                item[name] = value(item) if callable(value) else value
        return item

    return build


CORRUPT_ITEMS = {
    "session missing": _corrupt(Session=None),
    "session not json": _corrupt(Session={"S": "{not json"}),
    "session json list": _corrupt(Session={"S": "[1, 2, 3]"}),
    "session json number": _corrupt(Session={"S": "42"}),
    "session json string": _corrupt(Session={"S": '"ada"'}),
    "session empty string": _corrupt(Session={"S": ""}),
    "session as number type": _corrupt(Session={"N": "42"}),
    "session binary garbage": _corrupt(Session={"B": b"\xff\xfe\x00garbage"}),
    "session as map": _corrupt(Session={"M": {"user": {"S": "ada"}}}),
    "session as list": _corrupt(Session={"L": [{"S": "ada"}]}),
    "session as bool": _corrupt(Session={"BOOL": True}),
    "expires missing": _corrupt(Expires=None),
    "expires as string": _corrupt(Expires=lambda _item: {"S": str(int(time.time()) + 300)}),
    "expires negative": _corrupt(Expires={"N": "-5"}),
    "expires in milliseconds": _corrupt(Expires=lambda _item: {"N": str(int(time.time() * 1000) + 300_000)}),
    "expires huge": _corrupt(Expires={"N": str(10**30)}),
    "expires as bool": _corrupt(Expires={"BOOL": True}),
}


@pytest.mark.parametrize("build", CORRUPT_ITEMS.values(), ids=CORRUPT_ITEMS.keys())
async def test_a_corrupt_item_is_absent_and_logged_without_the_raw_id(
    store: DynamoDBStore, raw: Raw, caplog: pytest.LogCaptureFixture, build: Callable[[], dict[str, Any]]
) -> None:
    await raw.put(build())
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await store.get(SID) is None
    warnings = [r for r in caplog.records if r.name == "tornado_dynasession" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert SID not in caplog.text
    assert hashed(SID) not in caplog.text


async def test_load_of_a_corrupt_item_returns_none_and_logs(
    store: DynamoDBStore, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ["session not json", "session missing", "expires huge"]:
        caplog.clear()
        await raw.put(CORRUPT_ITEMS[name]())
        with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
            assert await store.load(SID) is None, name
        assert "corrupt" in caplog.text, name


async def test_a_non_numeric_version_is_corrupt(
    store: DynamoDBStore, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    await raw.put({**live_item(), "Version": {"S": "one"}})
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await store.load(SID) is None
    assert "corrupt" in caplog.text


async def test_a_codec_that_breaks_the_protocol_on_decode_is_treated_as_corrupt(
    make_store: StoreFactory, raw: Raw, caplog: pytest.LogCaptureFixture
) -> None:
    class ExplodingCodec(OrjsonCodec):
        def decode(self, raw: str | bytes) -> dict[str, Any]:
            raise RuntimeError("boom")

    store = await make_store(codec=ExplodingCodec())
    await raw.put(live_item())
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await store.get(SID) is None
    assert "RuntimeError" in caplog.text


async def test_set_repairs_a_corrupt_item(store: DynamoDBStore, raw: Raw) -> None:
    await raw.put(CORRUPT_ITEMS["session not json"]())
    await store.set(SID, {"user": "ada"})
    assert await store.get(SID) == {"user": "ada"}


# -- oversize sessions ---------------------------------------------------------------------------------------------


async def test_an_oversize_session_raises_naming_its_size_and_the_limit() -> None:
    with pytest.raises(SessionTooLargeError) as caught:
        await DynamoDBStore("any-table", endpoint_url=f"http://127.0.0.1:{free_port()}").set(
            SID, {"blob": "x" * (401 * 1024)}
        )
    error = caught.value
    assert error.limit_bytes == MAX_ITEM_BYTES == 400 * 1024
    assert error.size_bytes > error.limit_bytes
    assert str(error.size_bytes) in str(error)
    assert str(error.limit_bytes) in str(error)
    assert isinstance(error, SessionStoreError)


async def test_an_oversize_session_leaves_the_stored_item_untouched(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    before = await raw.get(hashed(SID))
    with pytest.raises(SessionTooLargeError):
        await store.set(SID, {"blob": "x" * (401 * 1024)})
    assert await raw.get(hashed(SID)) == before


async def test_an_oversize_session_is_refused_before_any_network_call(dynamodb_table: str) -> None:
    nowhere = DynamoDBStore(
        dynamodb_table, endpoint_url=f"http://127.0.0.1:{free_port()}", options=ClientOptions(max_attempts=1)
    )
    try:
        with pytest.raises(SessionTooLargeError):
            await nowhere.set(SID, {"blob": "x" * (401 * 1024)})
        with pytest.raises(SessionTooLargeError):
            await nowhere.save(SID, {"blob": "x" * (401 * 1024)}, expires_at=int(time.time()) + 60)
    finally:
        await nowhere.close()


async def test_save_refuses_an_oversize_session_and_leaves_the_item_untouched(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    previous = await store.load(SID)
    before = await raw.get(hashed(SID))
    with pytest.raises(SessionTooLargeError):
        await store.save(SID, {"blob": "x" * (401 * 1024)}, expires_at=int(time.time()) + 60, previous=previous)
    assert await raw.get(hashed(SID)) == before


async def test_the_size_limit_counts_utf8_bytes_not_characters() -> None:
    store = DynamoDBStore("any-table", endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SessionTooLargeError) as caught:
        await store.set(SID, {"text": "é" * 205_000})  # 205,000 characters, 410,000 bytes in UTF-8
    assert caught.value.size_bytes > 410_000


async def test_a_session_just_under_the_limit_is_stored(store: DynamoDBStore) -> None:
    data = {"blob": "x" * (390 * 1024)}
    await store.set(SID, data)
    assert await store.get(SID) == data


# -- encode failures -----------------------------------------------------------------------------------------------


class Widget:
    pass


async def test_an_unencodable_value_raises_codec_error_naming_its_type_and_writes_nothing(
    make_store: StoreFactory, raw: Raw
) -> None:
    stores = [await make_store(codec=OrjsonCodec()), await make_store(codec=JsonCodec())]
    await stores[0].set(SID, {"user": "ada"})
    before = await raw.get(hashed(SID))
    for store in stores:
        for value, type_name in [({1, 2}, "set"), (Widget(), "Widget")]:
            with pytest.raises(CodecError, match=type_name) as caught:
                await store.set(SID, {"user": "ada", "bad": value})
            assert caught.value.__cause__ is not None
            with pytest.raises(CodecError, match=type_name):
                await store.save(SID, {"bad": value}, expires_at=int(time.time()) + 60)
    assert await raw.get(hashed(SID)) == before


# -- errors --------------------------------------------------------------------------------------------------------

OPERATIONS: dict[str, Callable[[DynamoDBStore], Any]] = {
    "get": lambda store: store.get(SID),
    "load": lambda store: store.load(SID),
    "set": lambda store: store.set(SID, {"user": "ada"}),
    "save": lambda store: store.save(SID, {"user": "ada"}, expires_at=int(time.time()) + 60),
    "touch": lambda store: store.touch(SID),
    "destroy": lambda store: store.destroy(SID),
}


@pytest.mark.parametrize("backend", BACKEND_NAMES)
async def test_a_missing_table_raises_table_not_found_naming_the_table_and_the_command(
    dynamodb_endpoint: str, backend: str
) -> None:
    async with DynamoDBStore("no-such-session-table", endpoint_url=dynamodb_endpoint, backend=backend) as store:
        for name, operation in OPERATIONS.items():
            with pytest.raises(TableNotFoundError) as caught:
                await operation(store)
            message = str(caught.value)
            assert "no-such-session-table" in message, name
            assert "python -m tornado_dynasession create-table --table no-such-session-table" in message, name
            assert caught.value.__cause__ is not None, name
            assert isinstance(caught.value, SessionStoreError)


async def _get_fails_unavailable_within_bound(endpoint: str, backend: str) -> StoreUnavailableError:
    """A get on ``endpoint`` (0.5 s timeouts, 2 attempts) raises StoreUnavailableError naming the endpoint, with
    its cause chained, well within 10 s."""
    store = DynamoDBStore(
        "sessions",
        endpoint_url=endpoint,
        backend=backend,
        options=ClientOptions(connect_timeout=0.5, read_timeout=0.5, max_attempts=2),
    )
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as caught:
            await asyncio.wait_for(store.get(SID), timeout=30)
        assert time.monotonic() - started < 10
    finally:
        await store.close()
    assert endpoint in str(caught.value)
    assert caught.value.__cause__ is not None
    return caught.value


@pytest.mark.parametrize("backend", BACKEND_NAMES)
async def test_an_unreachable_server_raises_store_unavailable_within_the_timeout(backend: str) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    error = await _get_fails_unavailable_within_bound(endpoint, backend)
    assert isinstance(error, SessionStoreError)


@pytest.mark.parametrize("backend", BACKEND_NAMES)
async def test_every_operation_on_an_unreachable_server_raises_store_unavailable(backend: str) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    async with DynamoDBStore(
        "sessions", endpoint_url=endpoint, backend=backend, options=ClientOptions(max_attempts=1)
    ) as store:
        for name, operation in OPERATIONS.items():
            with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1") as caught:
                await asyncio.wait_for(operation(store), timeout=30)
            assert caught.value.__cause__ is not None, name


@pytest.mark.parametrize("backend", BACKEND_NAMES)
async def test_a_server_that_never_answers_raises_store_unavailable_after_the_read_timeout(backend: str) -> None:
    with socket.socket() as silent:  # accepts connections (in the kernel backlog) and never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        await _get_fails_unavailable_within_bound(f"http://127.0.0.1:{silent.getsockname()[1]}", backend)


@pytest.fixture
async def throttling_server() -> AsyncIterator[tuple[str, list[str]]]:
    """A DynamoDB look-alike on 127.0.0.1 that answers every call with ThrottlingException; records each attempt."""
    attempts: list[str] = []

    async def throttle(request: web.Request) -> web.Response:
        attempts.append(request.headers.get("X-Amz-Target", "").rpartition(".")[2])
        return web.json_response(
            {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate of requests exceeded"},
            status=400,
            content_type="application/x-amz-json-1.0",
        )

    app = web.Application()
    app.router.add_post("/{tail:.*}", throttle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", attempts
    await runner.cleanup()


@pytest.mark.parametrize("backend", BACKEND_NAMES)
async def test_throttling_that_outlasts_the_retries_raises_store_unavailable_after_max_attempts(
    throttling_server: tuple[str, list[str]], backend: str
) -> None:
    endpoint, attempts = throttling_server
    async with DynamoDBStore(
        "sessions", endpoint_url=endpoint, backend=backend, options=ClientOptions(max_attempts=2)
    ) as store:
        with pytest.raises(StoreUnavailableError, match="Throttl") as caught:
            await asyncio.wait_for(store.get(SID), timeout=30)
    assert attempts == ["GetItem", "GetItem"]
    assert caught.value.__cause__ is not None


# -- items written by the Node connect-dynamodb store --------------------------------------------------------------

NODE_SID = "sess:" + "nOde-s3ss10n-id-0123456789abcdef"


@pytest.fixture(scope="module")
def node_module_table(dynamodb_endpoint: str) -> Iterator[str]:
    """A table keyed the way connect-dynamodb keys its table: hash key ``id``, TTL on ``expires``."""
    name = f"connect-dynamodb-{time.time_ns()}"
    asyncio.run(create_table(name, hash_key="id", expires_attribute="expires", endpoint_url=dynamodb_endpoint))
    yield name
    asyncio.run(delete_table(name, endpoint_url=dynamodb_endpoint))


@pytest.fixture
async def node_raw(node_module_table: str, raw_client: Any) -> Raw:
    """Raw calls on the connect-dynamodb table, emptied before each test."""
    for item in (await raw_client.scan(TableName=node_module_table, ConsistentRead=True))["Items"]:
        await raw_client.delete_item(TableName=node_module_table, Key={"id": item["id"]})
    return Raw(raw_client, node_module_table)


@pytest.fixture
async def node_store(make_store: StoreFactory, node_raw: Raw) -> DynamoDBStore:
    """A store configured to read connect-dynamodb's table as that store writes it."""
    return await make_store(
        table=node_raw.table, hash_ids=False, names=AttributeNames(hash_key="id", expires="expires", session="sess")
    )


NODE_SESSION_DATA: dict[str, Any] = {"user": "ada"}


def connect_dynamodb_item(sid: str, *, expires_text: str) -> dict[str, Any]:
    """An item exactly as connect-dynamodb 3.0.5 writes it: ``expires`` in fractional epoch seconds, the session
    (with express-session's ``cookie`` object) as compact JSON text in ``sess``."""
    cookie_expires = datetime.fromtimestamp(float(expires_text), timezone.utc).isoformat(timespec="milliseconds")
    session = {
        "cookie": {
            "originalMaxAge": 3600000,
            "expires": cookie_expires.replace("+00:00", "Z"),
            "httpOnly": True,
            "path": "/",
        },
        **NODE_SESSION_DATA,
    }
    return {
        "id": {"S": sid},
        "expires": {"N": expires_text},
        "type": {"S": "connect-session"},
        "sess": {"S": json.dumps(session, separators=(",", ":"))},
    }


async def test_load_of_a_connect_dynamodb_item_floors_its_fractional_expires(
    node_store: DynamoDBStore, node_raw: Raw
) -> None:
    whole_second = int(time.time()) + 3600
    item = connect_dynamodb_item(NODE_SID, expires_text=f"{whole_second}.995")
    await node_raw.put(item)
    record = await node_store.load(NODE_SID)
    assert record is not None
    assert record.data == json.loads(item["sess"]["S"])
    assert record.expires_at == whole_second
    assert type(record.expires_at) is int


async def test_get_serves_the_session_of_a_connect_dynamodb_item(node_store: DynamoDBStore, node_raw: Raw) -> None:
    item = connect_dynamodb_item(NODE_SID, expires_text=f"{time.time() + 3600:.3f}")
    await node_raw.put(item)
    data = await node_store.get(NODE_SID)
    assert data == json.loads(item["sess"]["S"])
    assert data is not None and data["user"] == "ada"


async def test_touch_of_a_connect_dynamodb_item_writes_a_whole_second_expires_and_nothing_else(
    node_store: DynamoDBStore, node_raw: Raw
) -> None:
    item = connect_dynamodb_item(NODE_SID, expires_text=f"{int(time.time()) + 3600}.995")
    await node_raw.put(item)
    before = time.time()
    assert await node_store.touch(NODE_SID, max_age=600) is True
    after = time.time()
    touched = await node_raw.get(NODE_SID, hash_key="id")
    assert touched is not None
    assert touched["expires"]["N"].isdigit()
    assert math.ceil(before + 600) <= int(touched["expires"]["N"]) <= math.ceil(after + 600)
    assert {name: value for name, value in touched.items() if name != "expires"} == {
        name: value for name, value in item.items() if name != "expires"
    }


async def test_a_fractional_expires_in_the_past_is_expired_not_corrupt(store: DynamoDBStore, raw: Raw) -> None:
    await raw.put({**live_item(), "Expires": {"N": f"{time.time() - 0.5:.3f}"}})
    assert await store.load(SID) is None
    assert await store.lookup(SID) is Absence.EXPIRED


async def test_a_fractional_expires_in_milliseconds_is_still_corrupt(store: DynamoDBStore, raw: Raw) -> None:
    await raw.put({**live_item(), "Expires": {"N": f"{time.time() * 1000 + 300_000:.3f}"}})
    assert await store.lookup(SID) is Absence.CORRUPT


def _expires_of(item: dict[str, Any] | None) -> float:
    """The raw item's Expires as a number (servers may normalise ``.100`` to ``.1``)."""
    assert item is not None
    return float(item["Expires"]["N"])


async def _early_in_a_second(offset: float = 0.3) -> int:
    """Sleep until ``offset`` seconds past a whole epoch second, and return that whole second."""
    await asyncio.sleep((offset - time.time() % 1) % 1)
    return math.floor(time.time())


async def test_touch_does_not_revive_a_fractional_expires_that_passed_earlier_in_this_second(
    store: DynamoDBStore, raw: Raw
) -> None:
    this_second = await _early_in_a_second()
    just_expired = {**live_item(), "Expires": {"N": f"{this_second}.100"}}  # 0.2 s ago
    await raw.put(just_expired)
    assert await store.touch(SID, max_age=600) is False
    assert _expires_of(await raw.get(hashed(SID))) == this_second + 0.1
    assert await store.lookup(SID) is Absence.EXPIRED


async def test_save_does_not_overwrite_a_fractional_expires_that_passed_earlier_in_this_second(
    store: DynamoDBStore, raw: Raw
) -> None:
    await store.set(SID, {"user": "ada"})
    previous = await store.load(SID)
    assert previous is not None
    this_second = await _early_in_a_second()
    just_expired = {**live_item(), "Expires": {"N": f"{this_second}.100"}}  # 0.2 s ago
    await raw.put(just_expired)
    assert await store.save(SID, {"user": "ada", "n": 2}, expires_at=this_second + 600, previous=previous) is None
    stored = await raw.get(hashed(SID))
    assert _expires_of(stored) == this_second + 0.1
    assert stored is not None and stored["Session"] == just_expired["Session"]


# -- superseded ids (tombstones) -----------------------------------------------------------------------------------


async def test_supersede_of_a_live_session_returns_true_and_the_id_stops_loading(store: DynamoDBStore) -> None:
    await store.set(SID, {"user": "ada"})
    assert await store.supersede(SID, until=int(time.time()) + 300) is True
    assert await store.load(SID) is None
    assert await store.get(SID) is None


async def test_lookup_of_a_superseded_id_says_superseded_and_logs_nothing(
    store: DynamoDBStore, caplog: pytest.LogCaptureFixture
) -> None:
    await store.set(SID, {"user": "ada"})
    await store.supersede(SID, until=int(time.time()) + 300)
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await store.lookup(SID) is Absence.SUPERSEDED
    assert caplog.records == [], "a tombstone is not corrupt"


async def test_supersede_leaves_a_tombstone_with_no_session_data_expiring_at_until(
    store: DynamoDBStore, raw: Raw
) -> None:
    await store.set(SID, {"user": "ada"})
    until = int(time.time()) + 300
    await store.supersede(SID, until=until)
    item = await raw.get(hashed(SID))
    assert item is not None
    assert set(item) == {"SessionID", "Expires", "Superseded"}
    assert item["Expires"] == {"N": str(until)}
    assert item["Superseded"] == {"N": str(until)}


async def test_touch_of_a_superseded_id_returns_false_and_leaves_the_tombstone(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    await store.supersede(SID, until=int(time.time()) + 300)
    tombstone = await raw.get(hashed(SID))
    assert await store.touch(SID, max_age=3600) is False
    assert await raw.get(hashed(SID)) == tombstone


async def test_save_over_a_superseded_id_returns_none_and_leaves_the_tombstone(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    previous = await store.load(SID)
    assert previous is not None
    await store.supersede(SID, until=int(time.time()) + 300)
    tombstone = await raw.get(hashed(SID))
    assert await store.save(SID, {"user": "ada", "n": 2}, expires_at=int(time.time()) + 600, previous=previous) is None
    assert await raw.get(hashed(SID)) == tombstone


async def test_supersede_of_a_missing_id_returns_false_and_writes_nothing(store: DynamoDBStore, raw: Raw) -> None:
    assert await store.supersede(SID, until=int(time.time()) + 300) is False
    assert await raw.scan() == []


async def test_supersede_of_an_expired_session_returns_false_and_leaves_it_as_it_was(
    store: DynamoDBStore, raw: Raw
) -> None:
    expired = live_item(expires=int(time.time()) - 10)
    await raw.put(expired)
    assert await store.supersede(SID, until=int(time.time()) + 300) is False
    assert await raw.get(hashed(SID)) == expired


# -- logged-out ids (tombstones) ------------------------------------------------------------------------------------


async def test_log_out_leaves_a_tombstone_without_session_data_that_outlives_a_retried_call(
    make_store: StoreFactory, raw: Raw
) -> None:
    options = ClientOptions(connect_timeout=1, read_timeout=2, max_attempts=4)
    store = await make_store(options=options)
    await store.set(SID, {"user": "ada"})
    before = int(time.time())
    assert await store.log_out(SID) is True
    item = await raw.get(hashed(SID))
    assert item is not None and set(item) == {"SessionID", "Expires", "LoggedOut"}
    assert options.longest_call_seconds == 4 * (1 + 2) + 3 * 20
    assert store.logout_tombstone_seconds == 2 * options.longest_call_seconds
    assert before + store.logout_tombstone_seconds <= int(item["Expires"]["N"]) == int(item["LoggedOut"]["N"])


async def test_lookup_of_a_logged_out_id_says_logged_out_and_logs_nothing(
    store: DynamoDBStore, caplog: pytest.LogCaptureFixture
) -> None:
    await store.set(SID, {"user": "ada"})
    await store.log_out(SID)
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await store.lookup(SID) is Absence.LOGGED_OUT
        assert await store.load(SID) is None
    assert caplog.records == [], "a tombstone is not corrupt"


async def test_a_late_create_of_a_logged_out_id_fails_and_leaves_the_tombstone(store: DynamoDBStore, raw: Raw) -> None:
    await store.save(SID, {"user": "ada"}, expires_at=int(time.time()) + 600)
    await store.log_out(SID)
    tombstone = await raw.get(hashed(SID))
    with pytest.raises(SessionConflictError):
        await store.save(SID, {"user": "ada"}, expires_at=int(time.time()) + 600)
    assert await raw.get(hashed(SID)) == tombstone
    assert await store.load(SID) is None


async def test_log_out_of_an_id_not_stored_yet_still_keeps_its_create_from_landing(store: DynamoDBStore) -> None:
    assert await store.log_out(SID) is True
    with pytest.raises(SessionConflictError):
        await store.save(SID, {"user": "ada"}, expires_at=int(time.time()) + 600)


async def test_refresh_touch_save_and_supersede_never_revive_a_logged_out_id(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    previous = await store.load(SID)
    assert previous is not None
    await store.log_out(SID)
    tombstone = await raw.get(hashed(SID))
    assert await store.refresh(SID, max_age=3600) is None
    assert await store.lookup(SID, refresh_to=int(time.time()) + 3600) in (Absence.LOGGED_OUT, Absence.MISSING)
    assert await store.touch(SID, max_age=3600) is False
    assert await store.save(SID, {"user": "ada", "n": 2}, expires_at=int(time.time()) + 600, previous=previous) is None
    assert await store.supersede(SID, until=int(time.time()) + 60) is False
    assert await raw.get(hashed(SID)) == tombstone


async def test_touch_of_an_item_with_a_live_expires_but_no_session_returns_false_and_leaves_it(
    store: DynamoDBStore, raw: Raw
) -> None:
    corrupt = CORRUPT_ITEMS["session missing"]()
    await raw.put(corrupt)
    assert await store.touch(SID, max_age=3600) is False
    assert await raw.get(hashed(SID)) == corrupt


# -- tombstones written on the version read ------------------------------------------------------------------------


async def test_an_emptied_session_reads_as_none_but_a_write_on_its_version_goes_onto_it(
    store: DynamoDBStore, raw: Raw
) -> None:
    first = await store.save(SID, {"a": 1}, expires_at=int(time.time()) + 600, created_at=1_700_000_000)
    assert first is not None and first.version == 1
    assert await store.discard(SID, previous=first) is True
    item = await raw.get(hashed(SID))
    assert item is not None and set(item) == {"SessionID", "Expires", "Emptied", "Version", "Created"}
    emptied = await store.lookup(SID)
    assert isinstance(emptied, Emptied) and (emptied.version, emptied.created_at) == (2, 1_700_000_000)
    assert await store.discard(SID, previous=first) is False  # only once
    assert await store.load(SID) is None and await store.get(SID) is None
    refreshed = await store.lookup(SID, refresh_to=int(time.time()) + 3600)
    assert refreshed == emptied or refreshed is Absence.MISSING  # dynalite returns no item on a failed condition
    assert await store.touch(SID, max_age=3600) is False
    assert await raw.get(hashed(SID)) == item
    # A create retried late fails on it, as on a logout's tombstone.
    with pytest.raises(SessionConflictError):
        await store.save(SID, {"a": 1}, expires_at=int(time.time()) + 600)
    # A write that read the version before the emptying fails; one on the emptied version lands, once.
    assert await store.save(SID, {"b": 2}, expires_at=int(time.time()) + 600, previous=first) is None
    written = await store.save(SID, {"b": 2}, expires_at=int(time.time()) + 600, previous=emptied)
    assert written is not None and written.version == 3
    assert await store.save(SID, {"c": 3}, expires_at=int(time.time()) + 600, previous=emptied) is None
    loaded = await store.load(SID)
    assert loaded is not None and (loaded.data, loaded.version) == ({"b": 2}, 3)


async def test_log_out_and_supersede_on_a_version_read_before_another_write_change_nothing(
    store: DynamoDBStore, raw: Raw
) -> None:
    read = await store.save(SID, {"a": 1}, expires_at=int(time.time()) + 600)
    assert read is not None
    newer = await store.save(SID, {"a": 2}, expires_at=int(time.time()) + 600, previous=read)
    assert newer is not None
    before = await raw.get(hashed(SID))
    assert await store.log_out(SID, previous=read) is False
    assert await store.supersede(SID, until=int(time.time()) + 60, previous=read) is False
    assert await raw.get(hashed(SID)) == before
    assert await store.log_out(SID, previous=newer) is True
    assert await store.lookup(SID) is Absence.LOGGED_OUT


async def test_log_out_ends_an_emptied_session_for_good(store: DynamoDBStore) -> None:
    first = await store.save(SID, {"a": 1}, expires_at=int(time.time()) + 600)
    assert first is not None and await store.discard(SID, previous=first) is True
    emptied = await store.lookup(SID)
    assert isinstance(emptied, Emptied)
    assert await store.log_out(SID, previous=emptied) is True
    assert await store.lookup(SID) is Absence.LOGGED_OUT
    assert await store.save(SID, {"b": 2}, expires_at=int(time.time()) + 600, previous=emptied) is None
