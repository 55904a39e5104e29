"""Sign out everywhere: ``session.user_id``, the user index, ``list_sessions``, ``revoke`` and ``revoke_user``.

The store tests run on dynalite with both backends and on moto in server mode; the adapter tests over HTTP on both
frameworks. dynalite's and moto's indexes are immediately consistent (DynamoDB's are not: see the second
``revoke_user`` test).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tornado_dynasession import (
    Absence,
    ConfigurationError,
    DynamoDBStore,
    SessionConflictError,
    SessionInfo,
    SessionPolicy,
    create_table,
)
from tornado_dynasession.errors import SessionStoreError
from tornado_dynasession.tables import delete_table

from .conftest import SECRET, Serve
from .support import DynamoProxy, open_raw_client
from .test_cli import one_line_error, run_cli

INDEX = "UserIndex"
UserStore = Callable[..., Awaitable[DynamoDBStore]]


async def new_table(endpoint: str) -> AsyncIterator[str]:
    name = f"users-{uuid.uuid4().hex[:12]}"
    await create_table(name, endpoint_url=endpoint, user_index=INDEX)
    yield name
    await delete_table(name, endpoint_url=endpoint)


@pytest.fixture
async def user_table(dynamodb_endpoint: str) -> AsyncIterator[str]:
    """A session table with the user index, on dynalite."""
    async for name in new_table(dynamodb_endpoint):
        yield name


SERVERS = ["dynalite-aiobotocore", "dynalite-aiodynamo", "moto-aiobotocore"]


@pytest.fixture(params=SERVERS)
async def make_user_store(request: pytest.FixtureRequest) -> AsyncIterator[UserStore]:
    """Stores with a user index, on dynalite (both backends) and on moto; keyword arguments go to DynamoDBStore."""
    server, backend = request.param.split("-")
    endpoint = request.getfixturevalue("dynamodb_endpoint" if server == "dynalite" else "moto_endpoint")
    tables = new_table(endpoint)
    table = await anext(tables)
    stores: list[DynamoDBStore] = []

    async def factory(**options: Any) -> DynamoDBStore:
        options.setdefault("user_index", INDEX)
        options.setdefault("backend", backend)
        store = DynamoDBStore(table, endpoint_url=options.pop("endpoint_url", endpoint), **options)
        await store.open()
        stores.append(store)
        return store

    yield factory
    for store in stores:
        await store.close()
    await tables.aclose()


@pytest.fixture
async def users(make_user_store: UserStore) -> DynamoDBStore:
    return await make_user_store()


async def sign_in(store: DynamoDBStore, sid: str, user: str, label: str | None = None, **data: Any) -> None:
    now = int(time.time())
    await store.save(sid, data or {"user": user}, expires_at=now + 600, created_at=now, user_id=user, label=label)


async def expire(store: DynamoDBStore, sid: str) -> None:
    """Move the session's Expires five seconds into the past, as if it had expired and TTL had not deleted it."""
    async with open_raw_client(str(store.endpoint_url)) as client:
        await client.update_item(
            TableName=store.table,
            Key={"SessionID": {"S": store.key_for(sid)}},
            UpdateExpression="SET Expires = :past",
            ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 5)}},
        )


# -- listing --------------------------------------------------------------------------------------------------------


async def test_list_sessions_gives_each_live_session_of_the_user_with_its_label_and_times(
    users: DynamoDBStore,
) -> None:
    before = int(time.time())
    await sign_in(users, "alice-laptop", "alice", "Firefox on Linux")
    await sign_in(users, "alice-phone", "alice", "Safari on iOS")
    await sign_in(users, "bob-laptop", "bob")
    listed = await users.list_sessions("alice")
    assert sorted(info.label or "" for info in listed) == ["Firefox on Linux", "Safari on iOS"]
    assert {info.key for info in listed} == {users.key_for("alice-laptop"), users.key_for("alice-phone")}
    for info in listed:
        assert info.created_at is not None and before <= info.created_at <= time.time()
        assert info.expires_at == info.created_at + 600


async def test_list_sessions_never_returns_session_data_or_ids(users: DynamoDBStore) -> None:
    await sign_in(users, "alice-laptop", "alice", cart="secret-cart")
    (info,) = await users.list_sessions("alice")
    assert [field.name for field in dataclasses.fields(SessionInfo)] == ["key", "created_at", "expires_at", "label"]
    assert "alice-laptop" not in repr(info) and "secret-cart" not in repr(info)


async def test_list_sessions_leaves_out_expired_sessions(users: DynamoDBStore) -> None:
    await sign_in(users, "alice-old", "alice")
    await sign_in(users, "alice-new", "alice")
    await expire(users, "alice-old")
    assert [info.key for info in await users.list_sessions("alice")] == [users.key_for("alice-new")]


async def test_sessions_without_a_user_never_enter_the_index(users: DynamoDBStore) -> None:
    await users.save("anonymous", {"cart": [1]}, expires_at=int(time.time()) + 600)
    await sign_in(users, "alice-laptop", "alice")
    async with open_raw_client(str(users.endpoint_url)) as client:
        indexed = await client.scan(TableName=users.table, IndexName=INDEX)
    assert [item["SessionID"]["S"] for item in indexed["Items"]] == [users.key_for("alice-laptop")]


async def test_the_index_holds_a_digest_of_the_user_id_and_the_session_still_reads_it_back(
    users: DynamoDBStore,
) -> None:
    await sign_in(users, "alice-laptop", "alice@example.com")
    async with open_raw_client(str(users.endpoint_url)) as client:
        item = (await client.get_item(TableName=users.table, Key={"SessionID": {"S": users.key_for("alice-laptop")}}))[
            "Item"
        ]
    assert item["UserID"]["S"] == users.user_key_for("alice@example.com") != "alice@example.com"
    record = await users.load("alice-laptop")
    assert record is not None and record.user_id == "alice@example.com"


async def test_without_hash_ids_the_user_id_is_stored_as_it_is(make_user_store: UserStore) -> None:
    store = await make_user_store(hash_ids=False)
    await sign_in(store, "alice-laptop", "alice")
    async with open_raw_client(str(store.endpoint_url)) as client:
        item = (await client.get_item(TableName=store.table, Key={"SessionID": {"S": "alice-laptop"}}))["Item"]
    assert item["UserID"] == {"S": "alice"} and "UserRef" not in item
    assert [info.key for info in await store.list_sessions("alice")] == ["alice-laptop"]


async def test_a_session_whose_user_reference_was_tampered_with_is_not_served(users: DynamoDBStore) -> None:
    await sign_in(users, "alice-laptop", "alice")
    await sign_in(users, "mallory-laptop", "mallory")
    async with open_raw_client(str(users.endpoint_url)) as client:
        mallory = (
            await client.get_item(TableName=users.table, Key={"SessionID": {"S": users.key_for("mallory-laptop")}})
        )["Item"]
        await client.update_item(
            TableName=users.table,
            Key={"SessionID": {"S": users.key_for("alice-laptop")}},
            UpdateExpression="SET UserRef = :ref",
            ExpressionAttributeValues={":ref": mallory["UserRef"]},
        )
    assert await users.load("alice-laptop") is None


# -- revocation -----------------------------------------------------------------------------------------------------


async def test_revoke_ends_one_session_by_its_handle(users: DynamoDBStore) -> None:
    await sign_in(users, "alice-laptop", "alice")
    await sign_in(users, "alice-phone", "alice")
    assert await users.revoke(users.key_for("alice-phone")) is True
    assert await users.load("alice-phone") is None
    assert await users.load("alice-laptop") is not None
    assert await users.revoke(users.key_for("alice-phone")) is False


async def test_a_revoked_session_never_comes_back_from_a_late_create(users: DynamoDBStore) -> None:
    # The PutItem that created a session, retried after a timeout, may have a first attempt that lands only after
    # the revoke: like a logout, a revoke leaves a tombstone, on which that create fails its condition.
    await sign_in(users, "alice-phone", "alice")
    await sign_in(users, "alice-tablet", "alice")
    assert await users.revoke(users.key_for("alice-phone"), user_id="alice") is True
    assert await users.revoke_user("alice") == 1
    for sid in ("alice-phone", "alice-tablet"):
        assert await users.lookup(sid) is Absence.LOGGED_OUT
        with pytest.raises(SessionConflictError):
            await sign_in(users, sid, "alice")
        assert await users.load(sid) is None
    assert await users.list_sessions("alice") == []


async def test_revoking_a_key_that_holds_nothing_writes_nothing(users: DynamoDBStore) -> None:
    assert await users.revoke(users.key_for("never-stored")) is False
    assert await users.lookup("never-stored") is Absence.MISSING


async def test_revoke_with_another_users_id_ends_nothing(users: DynamoDBStore) -> None:
    await sign_in(users, "alice-laptop", "alice")
    assert await users.revoke(users.key_for("alice-laptop"), user_id="mallory") is False
    assert await users.load("alice-laptop") is not None


async def test_revoke_user_ends_every_session_of_the_user_but_the_kept_one(users: DynamoDBStore) -> None:
    for device in ("laptop", "phone", "tablet"):
        await sign_in(users, f"alice-{device}", "alice")
    await sign_in(users, "bob-laptop", "bob")
    assert await users.revoke_user("alice", keep="alice-laptop") == 2
    assert [await users.load(f"alice-{d}") is not None for d in ("laptop", "phone", "tablet")] == [True, False, False]
    assert await users.load("bob-laptop") is not None
    assert [info.key for info in await users.list_sessions("alice")] == [users.key_for("alice-laptop")]


async def test_a_second_revoke_user_catches_a_session_created_after_the_first(users: DynamoDBStore) -> None:
    # On DynamoDB a session created just before revoke_user may not be in the index yet; calling it again catches it.
    await sign_in(users, "alice-laptop", "alice")
    assert await users.revoke_user("alice") == 1
    await sign_in(users, "alice-late", "alice")
    assert await users.revoke_user("alice") == 1
    assert await users.load("alice-late") is None
    assert await users.revoke_user("alice") == 0


async def test_revoke_user_does_not_count_expired_sessions(users: DynamoDBStore) -> None:
    await sign_in(users, "alice-old", "alice")
    await expire(users, "alice-old")
    assert await users.revoke_user("alice") == 0


# -- configuration --------------------------------------------------------------------------------------------------


async def test_listing_without_a_user_index_names_the_option_and_the_command(store: DynamoDBStore) -> None:
    for call in (store.list_sessions("alice"), store.revoke_user("alice")):
        with pytest.raises(ConfigurationError) as caught:
            await call
        message = str(caught.value)
        assert 'user_index="UserIndex"' in message
        assert f"python -m tornado_dynasession create-table --table {store.table} --user-index" in message


async def test_setting_user_id_without_a_user_index_is_a_configuration_error(store: DynamoDBStore) -> None:
    session = SessionPolicy(store, secret=SECRET).new_session()
    with pytest.raises(ConfigurationError, match="user_index="):
        session.user_id = "alice"
    with pytest.raises(ConfigurationError, match="user_index="):
        await store.save("sid", {"a": 1}, expires_at=int(time.time()) + 60, user_id="alice")
    session.user_id = None  # signing out needs no index


def test_user_ids_and_labels_are_checked_when_set(store: DynamoDBStore) -> None:
    indexed = DynamoDBStore(store.table, endpoint_url=store.endpoint_url, user_index=INDEX)
    session = SessionPolicy(indexed, secret=SECRET).new_session()
    with pytest.raises(TypeError, match="non-empty string"):
        session.user_id = ""
    with pytest.raises(TypeError, match="non-empty string"):
        session.user_id = 42  # type: ignore[assignment]
    with pytest.raises(ValueError, match="bytes of UTF-8; at most 1024"):
        session.user_id = "x" * 1025
    with pytest.raises(ValueError, match="600 characters; at most 512"):
        session.label = "x" * 600
    session.user_id, session.label = "alice", "Firefox"
    assert session.modified and (session.user_id, session.label) == ("alice", "Firefox")


async def test_create_table_adds_the_index_to_an_existing_table_and_waits_for_it(moto_endpoint: str) -> None:
    name = f"users-{uuid.uuid4().hex[:12]}"
    assert (await create_table(name, endpoint_url=moto_endpoint)).user_index is None
    assert (await create_table(name, endpoint_url=moto_endpoint, user_index=INDEX)).user_index == "added"
    assert (await create_table(name, endpoint_url=moto_endpoint, user_index=INDEX)).user_index == "already exists"
    async with DynamoDBStore(name, endpoint_url=moto_endpoint, user_index=INDEX) as store:
        await sign_in(store, "alice-laptop", "alice")
        assert len(await store.list_sessions("alice")) == 1
    await delete_table(name, endpoint_url=moto_endpoint)


async def test_a_server_that_ignores_an_added_index_is_reported(dynamodb_endpoint: str, dynamodb_table: str) -> None:
    with pytest.raises(SessionStoreError, match="create the table anew with --user-index"):
        await create_table(dynamodb_table, endpoint_url=dynamodb_endpoint, user_index=INDEX)


# -- cost: touches never write the index ----------------------------------------------------------------------------


async def test_the_index_projects_keys_only_and_a_touch_changes_only_expires(
    dynamodb_endpoint: str, user_table: str, proxy: DynamoProxy
) -> None:
    # DynamoDB writes a global secondary index only when its key or a projected attribute changes: with keys only
    # projected, an UpdateItem that sets Expires alone costs no index write.
    async with open_raw_client(dynamodb_endpoint) as client:
        (index,) = (await client.describe_table(TableName=user_table))["Table"]["GlobalSecondaryIndexes"]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert [key["AttributeName"] for key in index["KeySchema"]] == ["UserID"]
    async with DynamoDBStore(user_table, endpoint_url=proxy.url, user_index=INDEX) as store:
        await sign_in(store, "alice-laptop", "alice")
        proxy.reset()
        assert await store.touch("alice-laptop", 3600)
    ((operation, request),) = proxy.requests
    assert operation == "UpdateItem"
    assert request["UpdateExpression"].startswith("SET ") and "REMOVE" not in request["UpdateExpression"]
    targets = re.findall(r"(#\w+)\s*=", request["UpdateExpression"])
    assert [request["ExpressionAttributeNames"][name] for name in targets] == ["Expires"]


# -- over HTTP, both adapters ---------------------------------------------------------------------------------------


@pytest.fixture
async def app_store(dynamodb_endpoint: str, user_table: str) -> AsyncIterator[DynamoDBStore]:
    async with DynamoDBStore(user_table, endpoint_url=dynamodb_endpoint, user_index=INDEX) as store:
        yield store


async def test_sign_out_everywhere_else_ends_the_other_browsers_sessions_and_keeps_this_one(
    serve: Serve, app_store: DynamoDBStore
) -> None:
    laptop, phone, tablet = [await serve(store=app_store) for _ in range(3)]
    for browser, label in ((laptop, "laptop"), (phone, "phone"), (tablet, "tablet")):
        assert (await browser.get(f"/sign-in?user=alice&label={label}")).status == 200
    listed = json.loads((await laptop.get("/my-sessions")).body)
    assert sorted(info["label"] for info in listed["sessions"]) == ["laptop", "phone", "tablet"]
    assert listed["current"] in {info["key"] for info in listed["sessions"]}

    assert json.loads((await laptop.get("/sign-out-others")).body) == {"ended": 2}

    for browser in (phone, tablet):
        reply = await browser.get("/read")
        assert json.loads(reply.body)["new"] is True and json.loads(reply.body)["data"] == {}
        cleared = reply.cookie()
        assert cleared is not None and cleared["value"] == ""
    assert json.loads((await laptop.get("/read")).body)["data"] == {"user": "alice"}
    assert [info["label"] for info in json.loads((await laptop.get("/my-sessions")).body)["sessions"]] == ["laptop"]


async def test_sign_out_one_ends_that_session_only_for_its_own_user(serve: Serve, app_store: DynamoDBStore) -> None:
    alice_laptop, alice_phone, mallory = [await serve(store=app_store) for _ in range(3)]
    await alice_laptop.get("/sign-in?user=alice&label=laptop")
    await alice_phone.get("/sign-in?user=alice&label=phone")
    await mallory.get("/sign-in?user=mallory")
    sessions = json.loads((await alice_laptop.get("/my-sessions")).body)["sessions"]
    phone_key = next(info["key"] for info in sessions if info["label"] == "phone")

    assert json.loads((await mallory.get(f"/sign-out-one?key={phone_key}")).body) == {"ended": False}
    assert json.loads((await alice_phone.get("/read")).body)["data"] == {"user": "alice"}

    assert json.loads((await alice_laptop.get(f"/sign-out-one?key={phone_key}")).body) == {"ended": True}
    assert json.loads((await alice_phone.get("/read")).body)["new"] is True


async def test_the_user_survives_a_login_rotation_and_later_changes(serve: Serve, app_store: DynamoDBStore) -> None:
    browser = await serve(store=app_store)
    await browser.get("/sign-in?user=alice&label=laptop")
    await browser.get("/sign-in?user=alice&label=laptop")  # regenerates again: the old id leaves the index
    await browser.get("/set?key=theme&value=dark")  # a whole-item write keeps the user and the label
    sessions = json.loads((await browser.get("/my-sessions")).body)["sessions"]
    assert [info["label"] for info in sessions] == ["laptop"]
    assert json.loads((await browser.get("/read")).body)["data"] == {"user": "alice", "theme": "dark"}


# -- the command line -----------------------------------------------------------------------------------------------


def test_the_command_line_creates_the_index_lists_and_revokes_a_users_sessions(dynamodb_endpoint: str) -> None:
    table = f"cli-users-{uuid.uuid4().hex[:8]}"
    where = ("--table", table, "--endpoint-url", dynamodb_endpoint)
    created = run_cli("create-table", *where, "--user-index")
    assert created.returncode == 0 and "user index: created, ACTIVE" in created.stdout

    async def sign_in_two() -> list[str]:
        async with DynamoDBStore(table, endpoint_url=dynamodb_endpoint, user_index=INDEX) as store:
            await sign_in(store, "alice-laptop", "alice", "laptop")
            await sign_in(store, "alice-phone", "alice", "phone")
            return [store.key_for("alice-laptop"), store.key_for("alice-phone")]

    laptop, phone = asyncio.run(sign_in_two())
    listed = run_cli("sessions", "list", *where, "--user", "alice")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0] == "2 live sessions of user 'alice'"
    assert {line.split()[0] for line in listed.stdout.splitlines()[1:]} == {laptop, phone}
    assert "alice-laptop" not in listed.stdout

    one = run_cli("sessions", "revoke", *where, "--user", "alice", "--key", phone)
    assert one.stdout.strip() == f"session {phone} of user 'alice': ended"
    rest = run_cli("sessions", "revoke", *where, "--user", "alice")
    assert rest.stdout.strip() == "ended 1 live session of user 'alice'"
    assert run_cli("sessions", "list", *where, "--user", "alice").stdout.strip() == "0 live sessions of user 'alice'"
    asyncio.run(delete_table(table, endpoint_url=dynamodb_endpoint))


def test_listing_on_a_table_without_the_index_is_one_line_naming_the_command(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    result = run_cli("sessions", "list", "--table", dynamodb_table, "--endpoint-url", dynamodb_endpoint, "--user", "a")
    line = one_line_error(result, 2)
    assert "has no user index 'UserIndex'" in line
    assert line.endswith(f"create-table --table {dynamodb_table} --user-index UserIndex")
