"""``DynamoDBStore.refresh()`` and ``DynamoDBStore.lookup(sid, refresh_to=...)``: one conditional UpdateItem that
slides ``Expires`` of a live, well-formed session and answers with the session as it then is.

The store tests run against the session's DynamoDB server (dynalite unless ``$DYNAMODB_ENDPOINT`` says otherwise),
once per backend. dynalite ignores ``ReturnValuesOnConditionCheckFailure``, so there every failed condition is
:attr:`Absence.MISSING`; the conformance tests at the end run against moto in server mode, which returns the old
item, so the store can say EXPIRED or CORRUPT. Every assertion about what is stored is made with a plain aiobotocore
client (``raw``), never through the store.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tornado_dynasession import DynamoDBStore, SessionRecord, SessionStoreError
from tornado_dynasession.records import Absence
from tornado_dynasession.store import BACKEND_NAMES
from tornado_dynasession.tables import create_table

from . import test_store
from .support import DynamoProxy, open_raw_client
from .test_store import CORRUPT_ITEMS, SID, TEN_YEARS_AND_A_DAY, Raw, _early_in_a_second, hashed, live_item

StoreFactory = Callable[..., Awaitable[DynamoDBStore]]
ItemBuilder = Callable[[], dict[str, Any]]

ONE_UPDATE = Counter({"UpdateItem": 1})

# The store tests' fixtures: one table for the module, emptied before each test, and the raw client on it.
module_table = test_store.module_table
dynamodb_table = test_store.dynamodb_table
raw = test_store.raw


def _without_expires(item: dict[str, Any] | None) -> dict[str, Any]:
    assert item is not None
    return {name: value for name, value in item.items() if name != "Expires"}


def _corrupt_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "tornado_dynasession" and r.levelno == logging.WARNING and "corrupt" in r.getMessage()
    ]


def _ms_expires() -> dict[str, Any]:
    return {**live_item(), "Expires": {"N": str(int(time.time() * 1000) + 300_000)}}


def _ten_years_and_a_day_ahead() -> dict[str, Any]:
    return {**live_item(), "Expires": {"N": str(int(time.time()) + TEN_YEARS_AND_A_DAY)}}


# Items the condition itself refuses: an Expires that is implausible or not a number, a Session that is missing or of
# a type other than S or B.
MALFORMED_ITEMS: dict[str, ItemBuilder] = {
    "expires in milliseconds": _ms_expires,
    "expires ten years and a day ahead": _ten_years_and_a_day_ahead,
    "expires as string": CORRUPT_ITEMS["expires as string"],
    "session missing": CORRUPT_ITEMS["session missing"],
    "session as number type": CORRUPT_ITEMS["session as number type"],
    "session as map": CORRUPT_ITEMS["session as map"],
    "session as list": CORRUPT_ITEMS["session as list"],
    "session as bool": CORRUPT_ITEMS["session as bool"],
}

# Items the condition lets through (a Session of type S or B) whose Session does not decode to a dict.
UNDECODABLE_ITEMS: dict[str, ItemBuilder] = {
    name: CORRUPT_ITEMS[name] for name in ("session not json", "session json list", "session binary garbage")
}


# -- a live session --------------------------------------------------------------------------------------------------


async def test_refresh_of_a_live_session_returns_its_data_with_the_requested_expiry(store: DynamoDBStore) -> None:
    now = int(time.time())
    await store.save(SID, {"user": "ada", "n": 1}, expires_at=now + 300, created_at=now - 60, max_age=300)
    record = await store.refresh(SID, expires_at=now + 900)
    assert record == SessionRecord(
        data={"user": "ada", "n": 1}, expires_at=now + 900, created_at=now - 60, version=1, max_age=300
    )


async def test_refresh_of_a_live_session_moves_expires_and_changes_nothing_else(store: DynamoDBStore, raw: Raw) -> None:
    now = int(time.time())
    await store.save(SID, {"user": "ada", "n": 1}, expires_at=now + 300, created_at=now - 60, max_age=300)
    before = await raw.get(hashed(SID))
    await store.refresh(SID, expires_at=now + 900)
    after = await raw.get(hashed(SID))
    assert after is not None
    assert after["Expires"] == {"N": str(now + 900)}
    assert _without_expires(after) == _without_expires(before)


async def test_lookup_with_refresh_to_of_a_live_session_returns_the_refreshed_record(
    store: DynamoDBStore, raw: Raw
) -> None:
    await raw.put(live_item(data={"user": "ada"}))
    target = int(time.time()) + 900
    found = await store.lookup(SID, refresh_to=target)
    assert found == SessionRecord(data={"user": "ada"}, expires_at=target, version=0)  # set() writes no Version
    assert (await raw.get(hashed(SID)) or {})["Expires"] == {"N": str(target)}


async def test_refresh_with_max_age_slides_expires_to_now_plus_max_age_rounded_up(
    store: DynamoDBStore, raw: Raw
) -> None:
    await raw.put(live_item())
    before = time.time()
    record = await store.refresh(SID, max_age=600.25)
    after = time.time()
    assert record is not None
    assert type(record.expires_at) is int
    assert math.ceil(before + 600.25) <= record.expires_at <= math.ceil(after + 600.25)
    assert (await raw.get(hashed(SID)) or {})["Expires"] == {"N": str(record.expires_at)}


async def test_refresh_without_max_age_uses_the_store_max_age(make_store: StoreFactory, raw: Raw) -> None:
    store = await make_store(max_age=1234)
    await raw.put(live_item())
    before = time.time()
    record = await store.refresh(SID)
    after = time.time()
    assert record is not None
    assert math.ceil(before + 1234) <= record.expires_at <= math.ceil(after + 1234)


@pytest.mark.parametrize("max_age", [0, -1, float("inf"), TEN_YEARS_AND_A_DAY])
async def test_refresh_with_an_invalid_max_age_raises_and_changes_nothing(
    store: DynamoDBStore, raw: Raw, max_age: float
) -> None:
    await raw.put(live_item())
    before = await raw.get(hashed(SID))
    with pytest.raises(ValueError, match="max_age"):
        await store.refresh(SID, max_age=max_age)
    assert await raw.get(hashed(SID)) == before


@pytest.mark.parametrize(
    "expires_at",
    [
        pytest.param(lambda now: int(now * 1000), id="milliseconds"),
        pytest.param(lambda now: int(now) - 1, id="in-the-past"),
        pytest.param(lambda now: int(now) + 10 * 366 * 86400 + 10, id="beyond-ten-years"),
    ],
)
@pytest.mark.parametrize("call", ["refresh", "touch"])
async def test_an_expiry_out_of_range_is_refused_before_any_call_and_changes_nothing(
    store: DynamoDBStore, raw: Raw, expires_at: Any, call: str
) -> None:
    await raw.put(live_item())
    before = await raw.get(hashed(SID))
    with pytest.raises(ValueError, match="expires_at"):
        await getattr(store, call)(SID, expires_at=expires_at(time.time()))
    assert await raw.get(hashed(SID)) == before


# -- never creates, never resurrects, never extends a malformed item -------------------------------------------------


async def test_refresh_of_a_missing_id_returns_none_and_creates_nothing(store: DynamoDBStore, raw: Raw) -> None:
    assert await store.refresh(SID, max_age=3600) is None
    assert await raw.scan() == []


async def test_lookup_with_refresh_to_of_a_missing_id_is_missing_and_creates_nothing(
    store: DynamoDBStore, raw: Raw
) -> None:
    assert await store.lookup(SID, refresh_to=int(time.time()) + 3600) is Absence.MISSING
    assert await raw.scan() == []


async def test_refresh_never_recreates_a_destroyed_session(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    await store.destroy(SID)
    assert await store.refresh(SID, max_age=3600) is None
    assert await raw.scan() == []


EXPIRED_EXPIRES: dict[str, Callable[[int], str]] = {
    "ten seconds ago": lambda this_second: str(this_second - 10),
    "at the start of this second": str,
    "a fraction of this second ago": lambda this_second: f"{this_second}.100",
}


@pytest.mark.parametrize("expires", EXPIRED_EXPIRES.values(), ids=EXPIRED_EXPIRES.keys())
async def test_refresh_never_resurrects_an_expired_item_and_leaves_it_as_it_was(
    store: DynamoDBStore, raw: Raw, expires: Callable[[int], str]
) -> None:
    this_second = await _early_in_a_second()  # 0.3 s past it: "this second" and ".100" have passed
    await raw.put({**live_item(), "Expires": {"N": expires(this_second)}})
    before = await raw.get(hashed(SID))  # as the server holds it (it may normalise a fraction)
    assert await store.refresh(SID, max_age=3600) is None
    assert await raw.get(hashed(SID)) == before


@pytest.mark.parametrize("build", MALFORMED_ITEMS.values(), ids=MALFORMED_ITEMS.keys())
async def test_refresh_never_extends_a_malformed_item_and_leaves_it_as_it_was(
    store: DynamoDBStore, raw: Raw, build: ItemBuilder
) -> None:
    await raw.put(build())
    before = await raw.get(hashed(SID))
    assert await store.refresh(SID, max_age=3600) is None
    assert await raw.get(hashed(SID)) == before


DYNALITE_FAILURES: dict[str, ItemBuilder] = {
    "expired": lambda: live_item(expires=int(time.time()) - 10),
    "expires in milliseconds": _ms_expires,
    "session as number type": CORRUPT_ITEMS["session as number type"],
}


@pytest.mark.skipif(bool(os.environ.get("DYNAMODB_ENDPOINT")), reason="documents dynalite, the default server")
@pytest.mark.parametrize("build", DYNALITE_FAILURES.values(), ids=DYNALITE_FAILURES.keys())
async def test_on_dynalite_every_failed_refresh_is_missing_as_it_returns_no_old_item(
    store: DynamoDBStore, raw: Raw, build: ItemBuilder
) -> None:
    """dynalite ignores ReturnValuesOnConditionCheckFailure: the store cannot tell why the condition failed. The
    same items are EXPIRED / CORRUPT on moto (see the moto tests below)."""
    await raw.put(build())
    assert await store.lookup(SID, refresh_to=int(time.time()) + 3600) is Absence.MISSING


@pytest.mark.skipif(bool(os.environ.get("DYNAMODB_ENDPOINT")), reason="documents dynalite, the default server")
async def test_on_dynalite_an_empty_session_string_fails_the_condition_so_refresh_leaves_it_as_it_was(
    store: DynamoDBStore, raw: Raw
) -> None:
    """dynalite 4.0.0 evaluates ``attribute_type(Session, "S")`` as false for an empty string (``!attrVal`` in
    db/index.js); DynamoDB and moto let it through (see the moto test below). Either way refresh returns None."""
    await raw.put(CORRUPT_ITEMS["session empty string"]())
    before = await raw.get(hashed(SID))
    assert await store.lookup(SID, refresh_to=int(time.time()) + 3600) is Absence.MISSING
    assert await raw.get(hashed(SID)) == before


# -- superseded ids (tombstones) -------------------------------------------------------------------------------------


async def test_lookup_with_refresh_to_of_a_superseded_id_says_superseded_and_logs_nothing(
    store: DynamoDBStore, caplog: pytest.LogCaptureFixture
) -> None:
    await store.set(SID, {"user": "ada"})
    await store.supersede(SID, until=int(time.time()) + 300)
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await store.lookup(SID, refresh_to=int(time.time()) + 3600) is Absence.SUPERSEDED
    assert caplog.records == [], "a tombstone is not corrupt"


async def test_lookup_with_refresh_to_of_a_superseded_id_leaves_the_tombstone_expiry(
    store: DynamoDBStore, raw: Raw
) -> None:
    await store.set(SID, {"user": "ada"})
    until = int(time.time()) + 300
    await store.supersede(SID, until=until)
    tombstone = await raw.get(hashed(SID))
    await store.lookup(SID, refresh_to=until + 3600)
    assert await raw.get(hashed(SID)) == tombstone
    assert tombstone == {"SessionID": {"S": hashed(SID)}, "Expires": {"N": str(until)}, "Superseded": {"N": str(until)}}


async def test_refresh_of_a_superseded_id_returns_none_and_leaves_the_tombstone(store: DynamoDBStore, raw: Raw) -> None:
    await store.set(SID, {"user": "ada"})
    await store.supersede(SID, until=int(time.time()) + 300)
    tombstone = await raw.get(hashed(SID))
    assert await store.refresh(SID, max_age=3600) is None
    assert await raw.get(hashed(SID)) == tombstone


# -- the honest limit: a Session the condition cannot decode ---------------------------------------------------------


@pytest.mark.parametrize("build", UNDECODABLE_ITEMS.values(), ids=UNDECODABLE_ITEMS.keys())
async def test_lookup_with_refresh_to_of_an_undecodable_session_is_corrupt_and_logged_without_the_raw_id(
    store: DynamoDBStore, raw: Raw, caplog: pytest.LogCaptureFixture, build: ItemBuilder
) -> None:
    await raw.put(build())
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await store.lookup(SID, refresh_to=int(time.time()) + 3600) is Absence.CORRUPT
    assert len(_corrupt_warnings(caplog)) == 1
    assert SID not in caplog.text
    assert hashed(SID) not in caplog.text


@pytest.mark.parametrize("build", UNDECODABLE_ITEMS.values(), ids=UNDECODABLE_ITEMS.keys())
@pytest.mark.parametrize("call", ["refresh", "touch"])
async def test_an_undecodable_session_is_never_extended_by_a_refresh_or_a_touch(
    store: DynamoDBStore, raw: Raw, build: ItemBuilder, call: str
) -> None:
    """The condition checks the Session's type (S or B), not that it decodes, so a corrupt Session of type S or B
    passes it; the store sees the item it returned does not decode and puts the expiry back (one more call)."""
    await raw.put(build())
    before = await raw.get(hashed(SID))
    result = await getattr(store, call)(SID, expires_at=int(time.time()) + 3600)
    assert result in (None, False)
    assert await raw.get(hashed(SID)) == before


# -- one call per refresh --------------------------------------------------------------------------------------------


async def _put_live(store: DynamoDBStore) -> None:
    await store.set(SID, {"user": "ada"})


async def _put_nothing(store: DynamoDBStore) -> None:
    pass


async def _put_tombstone(store: DynamoDBStore) -> None:
    await store.set(SID, {"user": "ada"})
    await store.supersede(SID, until=int(time.time()) + 300)


Setup = Callable[[DynamoDBStore], Awaitable[None]]

# How the table is prepared, and what lookup(refresh_to=...) then says (None: the live session).
COUNTED_CASES: dict[str, tuple[Setup, Absence | None]] = {
    "hit": (_put_live, None),
    "miss": (_put_nothing, Absence.MISSING),
    "tombstone": (_put_tombstone, Absence.SUPERSEDED),
}


@pytest.mark.parametrize("case", COUNTED_CASES.values(), ids=COUNTED_CASES.keys())
async def test_lookup_with_refresh_to_is_exactly_one_update_item_call(
    make_store: StoreFactory, proxy: DynamoProxy, case: tuple[Setup, Absence | None]
) -> None:
    setup, expected = case
    store = await make_store(endpoint_url=proxy.url)
    await setup(store)
    proxy.reset()
    target = int(time.time()) + 3600
    found = await store.lookup(SID, refresh_to=target)
    assert proxy.calls == ONE_UPDATE
    assert found == (
        SessionRecord(data={"user": "ada"}, expires_at=target, version=0) if expected is None else expected
    )


@pytest.mark.parametrize("case", COUNTED_CASES.values(), ids=COUNTED_CASES.keys())
async def test_refresh_is_exactly_one_update_item_call(
    make_store: StoreFactory, proxy: DynamoProxy, case: tuple[Setup, Absence | None]
) -> None:
    setup, expected = case
    store = await make_store(endpoint_url=proxy.url)
    await setup(store)
    proxy.reset()
    record = await store.refresh(SID, max_age=3600)
    assert proxy.calls == ONE_UPDATE
    assert (record is not None) is (expected is None)


# -- conformance: moto in server mode, which returns the old item on a failed condition ------------------------------


@pytest.fixture(scope="module")
def moto_table(moto_endpoint: str) -> str:
    name = f"refresh-moto-{time.time_ns()}"
    asyncio.run(create_table(name, endpoint_url=moto_endpoint))
    return name


@pytest.fixture
async def moto_proxy(moto_endpoint: str) -> AsyncIterator[DynamoProxy]:
    """A counting proxy in front of moto, so that each test can show its refresh was one call."""
    running = await DynamoProxy(moto_endpoint).start()
    yield running
    await running.stop()


@pytest.fixture(params=BACKEND_NAMES)
async def moto_store(
    request: pytest.FixtureRequest, moto_proxy: DynamoProxy, moto_table: str
) -> AsyncIterator[DynamoDBStore]:
    async with DynamoDBStore(moto_table, endpoint_url=moto_proxy.url, backend=request.param) as store:
        yield store


@pytest.fixture
async def moto_raw(moto_endpoint: str, moto_table: str) -> AsyncIterator[Raw]:
    async with open_raw_client(moto_endpoint) as client:
        yield Raw(client, moto_table)


@pytest.fixture
def moto_sid() -> str:
    """A fresh session id per test: the moto table is shared by the module."""
    return f"moto-{uuid.uuid4().hex}"


async def test_moto_refresh_of_a_live_session_slides_expires_in_one_call(
    moto_store: DynamoDBStore, moto_proxy: DynamoProxy, moto_raw: Raw, moto_sid: str
) -> None:
    now = int(time.time())
    await moto_store.save(moto_sid, {"user": "ada"}, expires_at=now + 300, created_at=now - 60, max_age=300)
    before = await moto_raw.get(hashed(moto_sid))
    moto_proxy.reset()
    record = await moto_store.refresh(moto_sid, expires_at=now + 900)
    assert moto_proxy.calls == ONE_UPDATE
    assert record == SessionRecord(
        data={"user": "ada"}, expires_at=now + 900, created_at=now - 60, version=1, max_age=300
    )
    after = await moto_raw.get(hashed(moto_sid))
    assert after is not None and after["Expires"] == {"N": str(now + 900)}
    assert _without_expires(after) == _without_expires(before)


async def test_moto_lookup_with_refresh_to_of_a_missing_id_is_missing_in_one_call(
    moto_store: DynamoDBStore, moto_proxy: DynamoProxy, moto_raw: Raw, moto_sid: str
) -> None:
    moto_proxy.reset()
    assert await moto_store.lookup(moto_sid, refresh_to=int(time.time()) + 3600) is Absence.MISSING
    assert moto_proxy.calls == ONE_UPDATE
    assert await moto_raw.get(hashed(moto_sid)) is None


@pytest.mark.parametrize("expires", EXPIRED_EXPIRES.values(), ids=EXPIRED_EXPIRES.keys())
async def test_moto_lookup_with_refresh_to_of_an_expired_item_is_expired_in_one_call_and_logs_nothing(
    moto_store: DynamoDBStore,
    moto_proxy: DynamoProxy,
    moto_raw: Raw,
    moto_sid: str,
    caplog: pytest.LogCaptureFixture,
    expires: Callable[[int], str],
) -> None:
    this_second = await _early_in_a_second()
    await moto_raw.put({**live_item(moto_sid), "Expires": {"N": expires(this_second)}})
    before = await moto_raw.get(hashed(moto_sid))
    moto_proxy.reset()
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await moto_store.lookup(moto_sid, refresh_to=this_second + 3600) is Absence.EXPIRED
    assert moto_proxy.calls == ONE_UPDATE
    assert caplog.records == [], "an expired item is not corrupt"
    assert await moto_raw.get(hashed(moto_sid)) == before


async def test_moto_lookup_with_refresh_to_of_a_milliseconds_expires_is_corrupt_in_one_call(
    moto_store: DynamoDBStore, moto_proxy: DynamoProxy, moto_raw: Raw, moto_sid: str, caplog: pytest.LogCaptureFixture
) -> None:
    await moto_raw.put({**live_item(moto_sid), "Expires": {"N": str(int(time.time() * 1000) + 300_000)}})
    before = await moto_raw.get(hashed(moto_sid))
    moto_proxy.reset()
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await moto_store.lookup(moto_sid, refresh_to=int(time.time()) + 3600) is Absence.CORRUPT
    assert moto_proxy.calls == ONE_UPDATE
    assert len(_corrupt_warnings(caplog)) == 1
    assert await moto_raw.get(hashed(moto_sid)) == before


MOTO_WRONG_SESSION_TYPES = (
    "session missing",
    "session as number type",
    "session as map",
    "session as list",
    "session as bool",
)


@pytest.mark.parametrize("name", MOTO_WRONG_SESSION_TYPES)
async def test_moto_lookup_with_refresh_to_of_a_session_of_the_wrong_type_is_corrupt_in_one_call(
    moto_store: DynamoDBStore,
    moto_proxy: DynamoProxy,
    moto_raw: Raw,
    moto_sid: str,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    item = CORRUPT_ITEMS[name]()
    item["SessionID"] = {"S": hashed(moto_sid)}
    await moto_raw.put(item)
    before = await moto_raw.get(hashed(moto_sid))
    moto_proxy.reset()
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await moto_store.lookup(moto_sid, refresh_to=int(time.time()) + 3600) is Absence.CORRUPT
    assert moto_proxy.calls == ONE_UPDATE
    assert len(_corrupt_warnings(caplog)) == 1
    assert await moto_raw.get(hashed(moto_sid)) == before


@pytest.mark.xfail(
    strict=True,
    raises=SessionStoreError,
    reason=(
        "moto 5.2.5 cannot compare an S attribute with an N value in a condition: moto/dynamodb/comparisons.py "
        "`return lhs > rhs` raises TypeError: '>' not supported between instances of 'str' and 'decimal.Decimal', "
        "answered as HTTP 500 Internal Server Error. DynamoDB (and dynalite) evaluate a cross-type comparison as "
        "false: a ConditionalCheckFailedException."
    ),
)
async def test_moto_lookup_with_refresh_to_of_an_expires_of_type_string_is_corrupt(
    moto_store: DynamoDBStore, moto_raw: Raw, moto_sid: str
) -> None:
    item = CORRUPT_ITEMS["expires as string"]()
    item["SessionID"] = {"S": hashed(moto_sid)}
    await moto_raw.put(item)
    before = await moto_raw.get(hashed(moto_sid))
    assert await moto_store.lookup(moto_sid, refresh_to=int(time.time()) + 3600) is Absence.CORRUPT
    assert await moto_raw.get(hashed(moto_sid)) == before


async def test_moto_lookup_with_refresh_to_of_a_tombstone_is_superseded_in_one_call_and_keeps_its_expiry(
    moto_store: DynamoDBStore, moto_proxy: DynamoProxy, moto_raw: Raw, moto_sid: str
) -> None:
    await moto_store.set(moto_sid, {"user": "ada"})
    until = int(time.time()) + 300
    assert await moto_store.supersede(moto_sid, until=until) is True
    tombstone = await moto_raw.get(hashed(moto_sid))
    moto_proxy.reset()
    assert await moto_store.lookup(moto_sid, refresh_to=until + 3600) is Absence.SUPERSEDED
    assert moto_proxy.calls == ONE_UPDATE
    assert await moto_raw.get(hashed(moto_sid)) == tombstone


@pytest.mark.parametrize("name", ["session not json", "session empty string"])
async def test_moto_lookup_with_refresh_to_of_an_undecodable_session_is_corrupt_and_its_expiry_put_back(
    moto_store: DynamoDBStore,
    moto_proxy: DynamoProxy,
    moto_raw: Raw,
    moto_sid: str,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    """As on dynalite: the condition cannot see that a Session of type S does not decode, so the expiry is put back
    with a second call. (An empty string passes the condition here, unlike on dynalite.)"""
    item = CORRUPT_ITEMS[name]()
    item["SessionID"] = {"S": hashed(moto_sid)}
    await moto_raw.put(item)
    target = int(time.time()) + 3600
    moto_proxy.reset()
    with caplog.at_level(logging.WARNING, logger="tornado_dynasession"):
        assert await moto_store.lookup(moto_sid, refresh_to=target) is Absence.CORRUPT
    assert moto_proxy.calls == Counter({"UpdateItem": 2})
    assert len(_corrupt_warnings(caplog)) == 1
    assert await moto_raw.get(hashed(moto_sid)) == item
