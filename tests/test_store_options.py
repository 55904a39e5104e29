"""The store's grouped options: attribute names, client options and a layout as a naming preset."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tornado_dynasession import AttributeNames, ClientOptions, DynamoDBStore, SessionPolicy, create_table
from tornado_dynasession.tables import delete_table

from .test_express import EXPRESS_ID, raw_item


def test_a_layout_supplies_the_names_and_keys_items_by_the_session_id() -> None:
    store = DynamoDBStore("sessions", layout="connect-dynamodb")
    assert (store.names.hash_key, store.names.expires, store.names.session) == ("id", "expires", "sess")
    assert store.hash_ids is False
    assert store.key_for(EXPRESS_ID) == f"sess:{EXPRESS_ID}"


@pytest.mark.parametrize(
    "names",
    [AttributeNames(hash_key="SessionID"), AttributeNames(hash_key="id", expires="ttl"), AttributeNames(session="s")],
)
def test_names_that_contradict_the_layout_are_a_value_error_naming_both(names: AttributeNames) -> None:
    with pytest.raises(ValueError, match=r"connect-dynamodb.*names="):
        DynamoDBStore("sessions", layout="connect-dynamodb", names=names)


def test_hashed_ids_with_a_layout_are_a_value_error() -> None:
    with pytest.raises(ValueError, match="drop hash_ids=True"):
        DynamoDBStore("sessions", layout="express-dynamodb", hash_ids=True)


async def test_names_a_layout_leaves_open_are_used_with_it(dynamodb_endpoint: str) -> None:
    name = f"connect-{time.time_ns()}"
    await create_table(name, hash_key="id", endpoint_url=dynamodb_endpoint)
    names = AttributeNames(hash_key="id", expires="expires", session="sess", version="Revision")
    async with DynamoDBStore(name, endpoint_url=dynamodb_endpoint, layout="connect-dynamodb", names=names) as store:
        await store.save(EXPRESS_ID, {"n": 1}, expires_at=int(time.time()) + 600)
        item: dict[str, Any] = await raw_item(dynamodb_endpoint, name, {"id": {"S": f"sess:{EXPRESS_ID}"}})
    await delete_table(name, endpoint_url=dynamodb_endpoint)
    assert item["Revision"] == {"N": "1"} and "Version" not in item


@pytest.mark.parametrize(
    "options",
    [{"max_attempts": 0}, {"connect_timeout": 0}, {"read_timeout": -1}, {"max_pool_connections": 0}],
)
def test_client_options_out_of_range_are_a_value_error_naming_the_option(options: dict[str, Any]) -> None:
    (option,) = options
    with pytest.raises(ValueError, match=option):
        ClientOptions(**options)


def test_options_must_be_client_options() -> None:
    with pytest.raises(TypeError, match="ClientOptions"):
        DynamoDBStore("sessions", options={"max_attempts": 2})  # type: ignore[arg-type]


def test_locking_is_the_policys_option() -> None:
    store = DynamoDBStore("sessions")
    assert SessionPolicy(store, secret="s" * 32, locking=True).locking is True
    assert SessionPolicy(store, secret="s" * 32).locking is False
    with pytest.raises(TypeError):
        DynamoDBStore("sessions", locking=True)  # type: ignore[call-arg]
