"""Reliability promises, over real HTTP on loopback: outages, hung servers, throttling, concurrent writers, load.

DynamoDB is a real dynalite process throughout. Faults come from killing it, or from the fault-injecting proxy
(``tests/support.py``) between the store and dynalite; nothing inside botocore or the adapters is patched.

Time bounds are derived from the store's settings: a call makes at most ``max_attempts`` attempts, each waiting at
most ``connect_timeout + read_timeout``, with botocore's standard-mode backoff between them (full jitter over 1 s,
2 s, 4 s, ...).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tornado_dynasession import Absence, DynamoDBStore, StoreUnavailableError
from tornado_dynasession.backends import ClientOptions
from tornado_dynasession.local import DynaliteServer
from tornado_dynasession.store import BACKEND_NAMES
from tornado_dynasession.tables import create_table, delete_table

from . import soak
from .conftest import FRAMEWORKS, SECRET, Serve
from .support import Browser, DynamoProxy, Fault
from .test_sessions import session_id_of, start_session, state

FAULTS: dict[str, tuple[object, ...]] = {
    "throttled": ("status", 400, "ProvisionedThroughputExceededException"),
    "server-error": ("status", 500, "InternalServerError"),
    "connection-reset": ("reset",),
}
"""What the proxy answers instead of DynamoDB: throttling (HTTP 400), a server error (HTTP 500), a reset."""


def time_bound(store: DynamoDBStore, margin: float = 1.5) -> float:
    """The longest one store call may take, in seconds: every attempt timing out, plus the largest backoffs."""
    attempts = store.options.max_attempts
    backoff = sum(2.0**retry for retry in range(attempts - 1))
    return attempts * (store.options.connect_timeout + store.options.read_timeout) + backoff + margin


def first_attempt_fails(action: tuple[object, ...]) -> Fault:
    """Each call's first attempt gets ``action``, its retry goes through (calls must not overlap)."""
    return lambda operation, attempt: action if attempt % 2 == 1 else None


def every_attempt_fails(action: tuple[object, ...], only: str | None = None) -> Fault:
    """Every attempt (of operation ``only``, if given) gets ``action``."""
    return lambda operation, attempt: action if only is None or operation == only else None


@pytest.fixture
async def small_timeouts_store(proxy: DynamoProxy, dynamodb_table: str) -> AsyncIterator[DynamoDBStore]:
    """A store behind the proxy with small timeouts: 0.5 s to connect, 1 s to read, 2 attempts."""
    async with DynamoDBStore(
        dynamodb_table,
        endpoint_url=proxy.url,
        options=ClientOptions(connect_timeout=0.5, read_timeout=1.0, max_attempts=2),
    ) as store:
        yield store


@pytest.fixture
async def locking_store(proxy: DynamoProxy, dynamodb_table: str) -> AsyncIterator[DynamoDBStore]:
    """A store behind the proxy, for apps served with optimistic locking (``locking=True``)."""
    async with DynamoDBStore(dynamodb_table, endpoint_url=proxy.url, options=ClientOptions(max_attempts=2)) as store:
        yield store


# -- server down ------------------------------------------------------------------------------------------------------

OUTAGE_CLIENTS = 8
OUTAGE_SECONDS = 2.5


@dataclass
class Exchange:
    """One request of the background load, as its client saw it."""

    client: int
    started: float
    seconds: float
    status: int
    body: str
    count: int | None = None


@dataclass
class Outage:
    """What happened when dynalite (on disk) was killed under load and restarted; see :func:`_outage`."""

    framework: str
    bound_seconds: float
    killed_at: float = 0.0
    killed_by: float = 0.0
    during: list[Exchange] = field(default_factory=list)
    acknowledged: dict[int, int] = field(default_factory=dict)
    in_doubt: set[int] = field(default_factory=set)
    stored: dict[int, dict[str, Any] | None] = field(default_factory=dict)
    after: list[Exchange] = field(default_factory=list)


async def _request(client: int, browser: Browser, path: str) -> Exchange:
    started = time.monotonic()
    try:
        reply = await browser.get(path, timeout=30)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return Exchange(client, started, time.monotonic() - started, 0, repr(exc))
    count = json.loads(reply.body)["data"].get("count") if reply.status == 200 else None
    return Exchange(client, started, time.monotonic() - started, reply.status, reply.body, count)


async def _keep_counting(client: int, browser: Browser, stop: asyncio.Event, log: list[Exchange]) -> None:
    while not stop.is_set():
        log.append(await _request(client, browser, "/counter"))


async def _outage(framework: str, path: Path) -> Outage:
    """Sessions under a steady load of /counter requests; dynalite (on disk) is SIGKILLed mid-load, left down for
    OUTAGE_SECONDS, the load stopped, dynalite restarted on the same port and path; what is stored is read through a
    fresh store, then every client makes one more request to the same, never restarted, app."""
    server = DynaliteServer(path=path)
    restarted: DynaliteServer | None = None
    await asyncio.to_thread(server.start)
    try:
        await create_table("sessions", endpoint_url=server.endpoint_url)
        async with DynamoDBStore(
            "sessions",
            endpoint_url=server.endpoint_url,
            options=ClientOptions(connect_timeout=0.5, read_timeout=1.0, max_attempts=2),
        ) as store:
            outage = Outage(framework, bound_seconds=time_bound(store))
            base_url, stop_app = await FRAMEWORKS[framework](store, secret=SECRET)
            browsers = [Browser(base_url) for _ in range(OUTAGE_CLIENTS)]
            try:
                for client, browser in enumerate(browsers):
                    assert (await browser.get(f"/set?key=owner&value=client-{client}")).status == 200
                stop = asyncio.Event()
                load = [
                    asyncio.ensure_future(_keep_counting(client, browser, stop, outage.during))
                    for client, browser in enumerate(browsers)
                ]
                await asyncio.sleep(1.0)
                outage.killed_at = time.monotonic()
                await asyncio.to_thread(server.kill)
                outage.killed_by = time.monotonic()
                await asyncio.sleep(OUTAGE_SECONDS)
                stop.set()
                await asyncio.gather(*load)

                for exchange in outage.during:  # in completion order, so the last 200 is the latest count
                    if exchange.status == 200:
                        outage.acknowledged[exchange.client] = exchange.count or 0
                    elif exchange.started < outage.killed_by:
                        outage.in_doubt.add(exchange.client)  # its write may have landed just before the kill

                restarted = DynaliteServer(port=server.port, path=path)
                await asyncio.to_thread(restarted.start)
                async with DynamoDBStore("sessions", endpoint_url=restarted.endpoint_url) as reader:
                    for client, browser in enumerate(browsers):
                        outage.stored[client] = await reader.get(session_id_of(browser))
                for client, browser in enumerate(browsers):
                    outage.after.append(await _request(client, browser, "/counter"))
            finally:
                for browser in browsers:
                    await browser.close()
                await stop_app()
    finally:
        await asyncio.to_thread(server.stop)
        if restarted is not None:
            await asyncio.to_thread(restarted.stop)
    return outage


@pytest.fixture(scope="module", params=sorted(FRAMEWORKS))
def outage(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Outage:
    """The outage scenario, run once per framework and shared by the tests that check its outcome."""
    framework = str(request.param)
    return asyncio.run(_outage(framework, tmp_path_factory.mktemp(f"dynalite-{framework}")))


def test_requests_while_dynamodb_is_down_get_503_within_the_timeout_bound(outage: Outage) -> None:
    while_down = [exchange for exchange in outage.during if exchange.started >= outage.killed_by]
    assert len(while_down) >= OUTAGE_CLIENTS  # every client kept asking during the outage
    assert {exchange.status for exchange in while_down} == {503}
    assert all("Traceback" not in exchange.body for exchange in while_down)
    slowest = max(exchange.seconds for exchange in outage.during)
    assert slowest < outage.bound_seconds, f"a request took {slowest:.2f} s, over {outage.bound_seconds:.2f} s"


def test_requests_in_flight_when_dynamodb_dies_get_200_or_503_never_500(outage: Outage) -> None:
    in_flight = [
        exchange
        for exchange in outage.during
        if exchange.started < outage.killed_by and exchange.started + exchange.seconds > outage.killed_at
    ]
    assert in_flight
    assert {exchange.status for exchange in in_flight} <= {200, 503}
    assert all("Traceback" not in exchange.body for exchange in in_flight)


def test_every_session_committed_before_the_outage_is_intact_after_the_restart(outage: Outage) -> None:
    for client in range(OUTAGE_CLIENTS):
        stored = outage.stored[client]
        assert stored is not None, f"client {client}'s session is gone"
        assert stored["owner"] == f"client-{client}"
        acknowledged = outage.acknowledged[client]
        # A write in flight at the kill may have landed without its answer getting back: one more, never fewer.
        allowed = {acknowledged, acknowledged + 1} if client in outage.in_doubt else {acknowledged}
        assert stored["count"] in allowed, (client, stored, acknowledged)


def test_the_app_recovers_by_itself_when_dynamodb_returns(outage: Outage) -> None:
    assert [exchange.status for exchange in outage.after] == [200] * OUTAGE_CLIENTS
    for exchange in outage.after:
        stored = outage.stored[exchange.client]
        assert stored is not None and exchange.count == stored["count"] + 1


@pytest.mark.parametrize("operation", ["UpdateItem", "PutItem"])  # the read (which slides the expiry), the write
async def test_a_store_failure_is_logged_in_one_line_without_a_traceback(
    serve: Serve, proxy: DynamoProxy, caplog: pytest.LogCaptureFixture, operation: str
) -> None:
    browser = await start_session(serve, proxy)
    proxy.fault = every_attempt_fails(FAULTS["connection-reset"], only=operation)
    with caplog.at_level(logging.INFO):
        reply = await browser.get("/counter")
    assert reply.status == 503
    # An outage fails every request: a traceback each would flood the logs.
    assert [record.getMessage() for record in caplog.records if record.exc_info or record.exc_text] == []
    failures = [record.getMessage() for record in caplog.records if "session load failed" in record.getMessage()]
    failures += [record.getMessage() for record in caplog.records if "session save failed" in record.getMessage()]
    assert len(failures) == 1 and "DynamoDB server unreachable" in failures[0], failures


# -- hung server ------------------------------------------------------------------------------------------------------


async def test_a_server_that_accepts_and_never_answers_gives_503_within_the_timeout_bound(
    serve: Serve, proxy: DynamoProxy, small_timeouts_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy, store=small_timeouts_store)
    proxy.fault = every_attempt_fails(("hang",))
    started = time.monotonic()
    reply = await browser.get("/read", timeout=30)
    elapsed = time.monotonic() - started
    assert reply.status == 503
    assert "Traceback" not in reply.body
    assert proxy.attempts["UpdateItem"] == small_timeouts_store.options.max_attempts  # the read
    assert small_timeouts_store.options.max_attempts * small_timeouts_store.options.read_timeout <= elapsed
    assert elapsed < time_bound(small_timeouts_store)


# -- throttling and server errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_the_store_retries_a_transient_fault_and_succeeds(
    proxy: DynamoProxy, dynamodb_table: str, backend: str, fault: str
) -> None:
    async with DynamoDBStore(
        dynamodb_table, endpoint_url=proxy.url, backend=backend, options=ClientOptions(max_attempts=2)
    ) as store:
        proxy.fault = first_attempt_fails(FAULTS[fault])
        await store.set("sid-transient", {"user": "ada"})
        assert await store.get("sid-transient") == {"user": "ada"}
    assert dict(proxy.calls) == {"PutItem": 1, "GetItem": 1}
    assert dict(proxy.attempts) == {"PutItem": 2, "GetItem": 2}


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_a_persistent_fault_raises_store_unavailable_after_exactly_max_attempts(
    proxy: DynamoProxy, dynamodb_table: str, backend: str, fault: str
) -> None:
    async with DynamoDBStore(
        dynamodb_table,
        endpoint_url=proxy.url,
        backend=backend,
        options=ClientOptions(connect_timeout=0.5, read_timeout=1, max_attempts=3),
    ) as store:
        proxy.fault = every_attempt_fails(FAULTS[fault])
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as caught:
            await store.get("sid-persistent")
        assert time.monotonic() - started < time_bound(store)
    assert proxy.attempts["GetItem"] == 3
    assert proxy.count() == 0  # nothing reached DynamoDB
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_a_transient_fault_is_retried_and_the_request_succeeds(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore, fault: str
) -> None:
    browser = await start_session(serve, proxy)
    proxy.fault = first_attempt_fails(FAULTS[fault])
    assert state(await browser.get("/counter"))["data"] == {"count": 2}
    assert dict(proxy.calls) == {"UpdateItem": 1, "PutItem": 1}
    assert dict(proxy.attempts) == {"UpdateItem": 2, "PutItem": 2}
    proxy.fault = None
    assert await counted_store.get(session_id_of(browser)) == {"count": 2}


@pytest.mark.parametrize(
    ("fault", "operation"),
    [
        ("throttled", "UpdateItem"),
        ("server-error", "UpdateItem"),
        ("connection-reset", "UpdateItem"),
        ("server-error", "PutItem"),
        ("connection-reset", "PutItem"),
    ],
)
async def test_a_persistent_fault_gives_503_after_exactly_max_attempts(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore, fault: str, operation: str
) -> None:
    browser = await start_session(serve, proxy)
    proxy.fault = every_attempt_fails(FAULTS[fault], only=operation)
    reply = await browser.get("/counter")
    assert reply.status == 503
    assert "Traceback" not in reply.body
    assert proxy.attempts[operation] == counted_store.options.max_attempts
    assert proxy.calls[operation] == 0
    proxy.fault = None
    assert await counted_store.get(session_id_of(browser)) == {"count": 1}


# A conditional PutItem whose answer is lost is retried by the client, and the retry fails its own condition
# (attribute_not_exists, or the version it just wrote): the store must recognise its own write.


@pytest.mark.parametrize("backend", BACKEND_NAMES)
async def test_a_new_session_whose_write_landed_but_lost_its_answer_is_saved_not_a_conflict(
    proxy: DynamoProxy, dynamodb_table: str, backend: str
) -> None:
    async with DynamoDBStore(
        dynamodb_table, endpoint_url=proxy.url, backend=backend, options=ClientOptions(max_attempts=2)
    ) as store:
        proxy.fault = lambda operation, attempt: ("lose-answer",) if attempt == 1 else None
        saved = await store.save("sid-lost-answer", {"user": "ada"}, expires_at=int(time.time()) + 60)
    assert saved is not None and saved.data == {"user": "ada"}


@pytest.mark.parametrize("backend", BACKEND_NAMES)
async def test_with_locking_a_write_that_landed_but_lost_its_answer_is_saved_not_a_conflict(
    proxy: DynamoProxy, dynamodb_table: str, backend: str
) -> None:
    async with DynamoDBStore(
        dynamodb_table, endpoint_url=proxy.url, backend=backend, options=ClientOptions(max_attempts=2)
    ) as store:
        first = await store.save("sid-lost-answer", {"count": 1}, expires_at=int(time.time()) + 60)
        proxy.reset()
        proxy.fault = lambda operation, attempt: ("lose-answer",) if attempt == 1 else None
        saved = await store.save("sid-lost-answer", {"count": 2}, expires_at=int(time.time()) + 60, previous=first)
    assert saved is not None and saved.version == 2


# -- concurrent writers -----------------------------------------------------------------------------------------------


async def test_with_locking_one_of_two_concurrent_writers_wins_and_the_other_gets_409(
    serve: Serve, proxy: DynamoProxy, locking_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy, store=locking_store, locking=True)
    slow = asyncio.ensure_future(browser.get("/slow?seconds=1"))  # loads count=1 now, writes count=2 in 1 s
    await asyncio.sleep(0.3)
    fast = await browser.get("/counter")  # loads count=1, writes count=2 at once
    loser = await slow
    assert state(fast)["data"] == {"count": 2}
    assert loser.status == 409
    assert "Traceback" not in loser.body
    assert await locking_store.get(session_id_of(browser)) == {"count": 2}  # the winner's write, and only it
    assert state(await browser.get("/counter"))["data"] == {"count": 3}  # a retry of the loser then succeeds


async def test_parallel_requests_that_change_different_keys_both_land(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    slow = asyncio.ensure_future(browser.get("/slow?seconds=1"))  # loads count=1 now, writes count=2 in 1 s
    await asyncio.sleep(0.3)
    fast = await browser.get("/set?key=fast&value=1")
    late = await slow
    assert state(fast)["data"] == {"count": 1, "fast": "1"}
    assert late.status == 200
    assert await counted_store.get(session_id_of(browser)) == {"count": 2, "fast": "1"}


async def test_a_conflict_costs_one_getitem_and_one_putitem_more_only_for_the_later_writer(
    serve: Serve, proxy: DynamoProxy
) -> None:
    browser = await start_session(serve, proxy)
    slow = asyncio.ensure_future(browser.get("/slow?seconds=1"))
    await asyncio.sleep(0.3)
    await browser.get("/set?key=fast&value=1")
    assert dict(proxy.calls) == {"UpdateItem": 2, "PutItem": 1}  # both reads; the fast write
    await slow
    # the slow write's PutItem fails its version condition; one GetItem and one PutItem more merge it
    assert dict(proxy.calls) == {"UpdateItem": 2, "PutItem": 3, "GetItem": 1}


@pytest.mark.parametrize("locking", [False, True])
async def test_a_nested_change_marked_by_its_key_merges_with_a_parallel_change(
    serve: Serve, proxy: DynamoProxy, dynamodb_table: str, locking: bool
) -> None:
    async with DynamoDBStore(dynamodb_table, endpoint_url=proxy.url) as store:
        browser = await start_session(serve, proxy, store=store, locking=locking)
        await browser.get("/append?item=a&mark=cart")
        slow = asyncio.ensure_future(browser.get("/slow-set?key=pref&value=dark&seconds=1"))
        await asyncio.sleep(0.3)
        assert (await browser.get("/append?item=b&mark=cart")).status == 200
        assert (await slow).status == 200
        assert await store.get(session_id_of(browser)) == {"count": 1, "cart": ["a", "b"], "pref": "dark"}


async def test_the_same_key_changed_by_two_requests_keeps_the_later_writers_value(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    slow = asyncio.ensure_future(browser.get("/slow-set?key=theme&value=slow&seconds=1"))
    await asyncio.sleep(0.3)
    await browser.get("/set?key=theme&value=fast")
    assert (await slow).status == 200
    assert await counted_store.get(session_id_of(browser)) == {"count": 1, "theme": "slow"}


async def test_with_locking_different_keys_still_merge(
    serve: Serve, proxy: DynamoProxy, locking_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy, store=locking_store, locking=True)
    slow = asyncio.ensure_future(browser.get("/slow-set?key=a&value=1&seconds=1"))
    await asyncio.sleep(0.3)
    await browser.get("/set?key=b&value=2")
    assert (await slow).status == 200
    assert await locking_store.get(session_id_of(browser)) == {"count": 1, "a": "1", "b": "2"}


async def test_with_locking_a_request_that_replaced_the_whole_session_gets_409_on_a_parallel_change(
    serve: Serve, proxy: DynamoProxy, locking_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy, store=locking_store, locking=True)
    slow = asyncio.ensure_future(browser.get("/slow-set?key=a&value=1&seconds=1&whole=1"))  # replaces it whole
    await asyncio.sleep(0.3)
    await browser.get("/set?key=b&value=2")
    assert (await slow).status == 409
    assert await locking_store.get(session_id_of(browser)) == {"count": 1, "b": "2"}


async def test_without_locking_a_request_that_replaced_the_whole_session_overwrites_a_parallel_change(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    slow = asyncio.ensure_future(browser.get("/slow-set?key=a&value=1&seconds=1&whole=1"))
    await asyncio.sleep(0.3)
    await browser.get("/set?key=b&value=2")
    assert (await slow).status == 200
    assert await counted_store.get(session_id_of(browser)) == {"count": 1, "a": "1"}


async def test_a_write_racing_a_logout_never_brings_the_session_back_through_the_merge(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    sid = session_id_of(browser)
    cookies = dict(browser.cookies)
    slow = asyncio.ensure_future(browser.get("/slow-set?key=a&value=1&seconds=1"))
    await asyncio.sleep(0.3)
    await browser.get("/logout", cookies=cookies)
    assert (await slow).status == 200
    assert await counted_store.lookup(sid) is Absence.LOGGED_OUT


async def test_a_write_racing_a_login_never_writes_over_the_old_ids_tombstone(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    sid = session_id_of(browser)
    slow = asyncio.ensure_future(browser.get("/slow-set?key=a&value=1&seconds=1"))
    await asyncio.sleep(0.3)
    await browser.get("/login?user=ada")
    assert (await slow).status == 200
    assert await counted_store.lookup(sid) is Absence.SUPERSEDED
    assert await counted_store.get(session_id_of(browser)) == {"count": 1, "user": "ada"}


# -- load -------------------------------------------------------------------------------------------------------------

LOAD_CLIENTS = 50
LOAD_SECONDS = 5.0


@pytest.fixture(scope="module")
def load(dynamodb_endpoint: str) -> Iterator[dict[str, Any]]:
    """The short load run (the example app in its own process, 50 clients for 5 s), shared by the tests below."""
    table = f"load-sessions-{uuid.uuid4().hex[:8]}"
    asyncio.run(create_table(table, endpoint_url=dynamodb_endpoint))
    try:
        figures = asyncio.run(
            soak.soak(dynamodb_endpoint, table, clients=LOAD_CLIENTS, duration=LOAD_SECONDS, warmup=1.0)
        )
    finally:
        asyncio.run(delete_table(table, endpoint_url=dynamodb_endpoint))
    print("\nload figures:", json.dumps({key: figures[key] for key in figures if key != "app"}))
    yield figures


def test_under_load_no_request_gets_a_5xx_or_goes_unanswered(load: dict[str, Any]) -> None:
    assert load["requests"] >= LOAD_CLIENTS
    assert load["responses_5xx"] == 0, load["statuses"]
    assert load["client_errors"] == 0, load["statuses"]


def test_under_load_every_acknowledged_increment_is_stored(load: dict[str, Any]) -> None:
    assert load["lost_increments"] == 0
    assert load["clients_whose_stored_count_differs"] == 0
    assert load["out_of_sequence_counts"] == 0
    assert load["stored_increments"] == load["acknowledged_increments"] >= load["requests"]


def test_under_load_the_app_leaks_no_tasks(load: dict[str, Any]) -> None:
    app = load["app"]
    assert app["after"]["tasks"] <= app["before"]["tasks"] + 2


def test_under_load_the_app_leaks_no_connections(load: dict[str, Any]) -> None:
    app = load["app"]
    assert app["after"]["client_connections"] <= 1  # the stats request itself
    assert app["after"]["dynamodb_connections"] <= app["max_pool_connections"]
    assert app["after"]["fds"] <= app["before"]["fds"] + app["max_pool_connections"] + 5


def test_under_load_resident_memory_stays_roughly_flat(load: dict[str, Any]) -> None:
    rss = load["rss_mib"]
    assert rss["after"] < rss["before"] + 64, rss  # generous for a short run: the soak reports the trend
