"""OpenTelemetry spans and metrics of the store's calls, driven over real HTTP against each framework adapter.

Providers are passed explicitly (``DynamoDBStore(telemetry=Telemetry(...))``), a fresh pair per test, so nothing is
set globally and no test sees another's spans. Metrics are read with delta temporality: each read of the reader
holds only what happened since the previous one.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tornado_dynasession import DynamoDBStore
from tornado_dynasession.backends import ClientOptions
from tornado_dynasession.tables import create_table, delete_table
from tornado_dynasession.telemetry import Telemetry, item_bytes, read_units, write_units

from .conftest import Serve
from .support import Browser, DynamoProxy
from .test_reliability import every_attempt_fails
from .test_sessions import session_id_of, start_session, state

PREFIX = "tornado_dynasession."


@dataclass
class Otel:
    """An SDK tracer provider with an in-memory exporter, and a meter provider with an in-memory reader."""

    telemetry: Telemetry
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        """The spans finished since the last call, oldest first."""
        finished = list(self.exporter.get_finished_spans())
        self.exporter.clear()
        return finished

    def metrics(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Each metric's data points since the last call, as (attributes, point), by metric name."""
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points = [(dict(point.attributes or {}), point) for point in metric.data.data_points]
                    found.setdefault(metric.name, []).extend(points)
                    found.setdefault(f"{metric.name} unit", []).append(({}, metric.unit))
        return found

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self.spans()
        self.metrics()


@pytest.fixture
def otel() -> Iterator[Otel]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    delta = AggregationTemporality.DELTA
    reader = InMemoryMetricReader(preferred_temporality={Counter: delta, Histogram: delta})
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield Otel(telemetry, exporter, reader, tracer_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
async def traced(proxy: DynamoProxy, dynamodb_table: str, otel: Otel) -> AsyncIterator[DynamoDBStore]:
    """A store behind the counting proxy that reports to ``otel``."""
    async with DynamoDBStore(
        dynamodb_table,
        endpoint_url=proxy.url,
        telemetry=otel.telemetry,
        options=ClientOptions(read_timeout=2, max_attempts=2),
    ) as store:
        yield store


async def traced_session(serve: Serve, proxy: DynamoProxy, otel: Otel, store: DynamoDBStore, **options: Any) -> Browser:
    """A browser holding a stored session with count=1, on the test app serving ``store``; nothing recorded yet."""
    browser = await start_session(serve, proxy, store=store, **options)
    otel.clear()
    return browser


def summary(span: ReadableSpan) -> tuple[str, str | None, str | None]:
    """(name, db.operation.name, outcome)."""
    attributes = span.attributes or {}
    return span.name, attributes.get("db.operation.name"), attributes.get(PREFIX + "outcome")  # type: ignore[return-value]


def count(points: list[tuple[dict[str, Any], Any]], **attributes: Any) -> float:
    """The sum of the counter points whose attributes include ``attributes`` (keys without our prefix)."""
    wanted = {(key if "." in key else PREFIX + key): value for key, value in attributes.items()}
    return float(sum(point.value for found, point in points if wanted.items() <= found.items()))


# -- spans --------------------------------------------------------------------------------------------------------


async def test_a_read_is_one_client_span_with_the_database_attributes(
    serve: Serve, proxy: DynamoProxy, otel: Otel, traced: DynamoDBStore
) -> None:
    browser = await traced_session(serve, proxy, otel, traced)
    assert state(await browser.get("/read"))["data"] == {"count": 1}
    (span,) = otel.spans()
    assert span.name == f"lookup {traced.table}"
    assert span.kind is SpanKind.CLIENT
    assert span.parent is None  # no request span here: nothing in the test app makes one
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    item_size = attributes.pop(PREFIX + "item_bytes")
    assert isinstance(item_size, int) and 100 < item_size < 1024
    assert attributes == {
        "db.system.name": "aws.dynamodb",
        "db.collection.name": traced.table,
        "aws.dynamodb.table_names": (traced.table,),
        "db.operation.name": "UpdateItem",
        "server.address": "127.0.0.1",
        "server.port": proxy.port,
        PREFIX + "operation": "lookup",
        PREFIX + "outcome": "hit",
        PREFIX + "codec": "OrjsonCodec",
        PREFIX + "dynamodb_calls": 1,
        PREFIX + "write_units": 1,
    }


async def test_a_write_is_a_refresh_span_then_a_save_span(
    serve: Serve, proxy: DynamoProxy, otel: Otel, traced: DynamoDBStore
) -> None:
    browser = await traced_session(serve, proxy, otel, traced)
    assert state(await browser.get("/counter"))["data"] == {"count": 2}
    spans = otel.spans()
    assert [summary(span) for span in spans] == [
        (f"lookup {traced.table}", "UpdateItem", "hit"),
        (f"save {traced.table}", "PutItem", "written"),
    ]
    assert all(span.kind is SpanKind.CLIENT and span.parent is None for span in spans)


async def test_a_new_visitors_first_write_is_one_save_span(
    serve: Serve, proxy: DynamoProxy, otel: Otel, traced: DynamoDBStore
) -> None:
    browser = await serve(store=traced)
    state(await browser.get("/counter"))
    assert [summary(span) for span in otel.spans()] == [(f"save {traced.table}", "PutItem", "written")]


async def test_a_request_without_a_cookie_makes_no_span(
    serve: Serve, proxy: DynamoProxy, otel: Otel, traced: DynamoDBStore
) -> None:
    browser = await serve(store=traced)
    state(await browser.get("/read"))
    assert otel.spans() == []


async def test_a_logged_out_sessions_cookie_reads_as_a_miss(
    serve: Serve, proxy: DynamoProxy, otel: Otel, traced: DynamoDBStore
) -> None:
    browser = await traced_session(serve, proxy, otel, traced)
    cookies = dict(browser.cookies)
    await browser.get("/logout")
    assert [summary(span) for span in otel.spans()] == [
        (f"lookup {traced.table}", "UpdateItem", "hit"),
        (f"log_out {traced.table}", "PutItem", "written"),
    ]
    assert state(await browser.get("/read", cookies=cookies))["new"] is True
    # dynalite returns no item with a failed condition, so a refresh cannot tell missing from expired there.
    assert [summary(span) for span in otel.spans()] == [(f"lookup {traced.table}", "UpdateItem", "miss")]


async def test_a_read_whose_touch_is_not_due_is_a_getitem_tagged_touch_skipped(
    serve: Serve, proxy: DynamoProxy, otel: Otel, traced: DynamoDBStore
) -> None:
    browser = await traced_session(serve, proxy, otel, traced, touch_after=60)
    state(await browser.get("/read"))
    (span,) = otel.spans()
    attributes = span.attributes or {}
    assert summary(span) == (f"lookup {traced.table}", "GetItem", "hit")
    assert attributes[PREFIX + "decision"] == "touch_skipped"
    assert attributes["aws.dynamodb.consistent_read"] is True
    assert attributes[PREFIX + "read_units"] == 1.0
    loads = otel.metrics()["tornado_dynasession.loads"]
    assert count(loads, outcome="hit", decision="touch_skipped") == 1


async def test_an_outage_is_an_error_span_and_a_503(
    serve: Serve, proxy: DynamoProxy, otel: Otel, traced: DynamoDBStore
) -> None:
    browser = await traced_session(serve, proxy, otel, traced)
    proxy.fault = every_attempt_fails(("status", 500, "InternalServerError"))
    reply = await browser.get("/read")
    assert reply.status == 503
    (span,) = otel.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.status.description or "").startswith("StoreUnavailableError: ")
    attributes = span.attributes or {}
    assert attributes["error.type"] == "StoreUnavailableError"
    assert attributes[PREFIX + "outcome"] == "error"
    assert attributes[PREFIX + "dynamodb_calls"] == 1  # one call, however many attempts
    (event,) = span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "tornado_dynasession.errors.StoreUnavailableError"
    assert "InternalServerError" in str(event.attributes["exception.message"])
    metrics = otel.metrics()
    assert count(metrics["tornado_dynasession.errors"], **{"error.type": "StoreUnavailableError"}) == 1
    assert count(metrics["tornado_dynasession.loads"], outcome="error") == 1


async def test_a_save_that_lost_a_race_is_merged_and_tagged(
    serve: Serve, proxy: DynamoProxy, otel: Otel, traced: DynamoDBStore
) -> None:
    browser = await traced_session(serve, proxy, otel, traced)
    slow = asyncio.ensure_future(browser.get("/slow-set?key=a&value=1&seconds=1"))
    await asyncio.sleep(0.3)
    assert (await browser.get("/set?key=b&value=2")).status == 200
    assert (await slow).status == 200
    saves = [span for span in otel.spans() if span.name.startswith("save ")]
    assert [(span.attributes or {}).get(PREFIX + "outcome") for span in saves] == [
        "written",  # the fast request
        "condition_failed",  # the slow request's first try
        "written",  # the slow request's changes merged onto the fast one's version
    ]
    assert (saves[2].attributes or {})[PREFIX + "decision"] == "merged"
    assert PREFIX + "decision" not in (saves[1].attributes or {})
    metric = otel.metrics()["tornado_dynasession.saves"]
    assert count(metric, outcome="written") == 2 and count(metric, outcome="written", decision="merged") == 1
    assert count(metric, outcome="condition_failed") == 1


async def test_a_409_counts_a_conflict(serve: Serve, proxy: DynamoProxy, otel: Otel, dynamodb_table: str) -> None:
    async with DynamoDBStore(
        dynamodb_table, endpoint_url=proxy.url, telemetry=otel.telemetry, options=ClientOptions(max_attempts=2)
    ) as locking:
        browser = await traced_session(serve, proxy, otel, locking, locking=True)
        slow = asyncio.ensure_future(browser.get("/slow-set?key=a&value=1&seconds=1&whole=1"))
        await asyncio.sleep(0.3)
        await browser.get("/set?key=b&value=2")
        assert (await slow).status == 409
    metrics = otel.metrics()
    assert count(metrics["tornado_dynasession.saves"], outcome="conflict") == 1
    assert count(metrics["tornado_dynasession.errors"], **{"error.type": "SessionConflictError"}) == 1


async def test_spans_nest_under_the_current_span_one_per_public_call(
    serve: Serve, proxy: DynamoProxy, otel: Otel, traced: DynamoDBStore
) -> None:
    browser = await traced_session(serve, proxy, otel, traced)
    tracer = otel.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("request") as request:
        assert await traced.touch(session_id_of(browser))  # touch -> refresh -> lookup: one span
    touch, parent = otel.spans()
    assert (touch.name, parent.name) == (f"touch {traced.table}", "request")
    assert touch.parent is not None and touch.parent.span_id == request.get_span_context().span_id
    assert (touch.attributes or {})[PREFIX + "outcome"] == "hit"
    assert (touch.attributes or {})[PREFIX + "dynamodb_calls"] == 1


async def test_a_store_with_telemetry_off_makes_no_span(
    serve: Serve, proxy: DynamoProxy, otel: Otel, dynamodb_table: str
) -> None:
    async with DynamoDBStore(dynamodb_table, endpoint_url=proxy.url, telemetry=False) as store:
        assert store.telemetry is None
        browser = await serve(store=store)
        state(await browser.get("/counter"))
        state(await browser.get("/counter"))
    assert otel.spans() == []


# -- what spans and metrics never hold ------------------------------------------------------------------------------


@pytest.fixture
async def user_table(dynamodb_endpoint: str) -> AsyncIterator[str]:
    name = f"telemetry-users-{uuid.uuid4().hex[:12]}"
    await create_table(name, endpoint_url=dynamodb_endpoint, user_index="UserIndex")
    yield name
    await delete_table(name, endpoint_url=dynamodb_endpoint)


def everything_recorded(otel: Otel) -> str:
    """Every name, attribute, event, status and metric data point recorded, as one text."""
    texts = []
    for span in otel.spans():
        texts.append(span.to_json())
    for points in otel.metrics().values():
        texts.extend(json.dumps(attributes) for attributes, _ in points)
    return "\n".join(texts)


async def test_no_span_or_metric_holds_a_session_id_key_user_id_or_session_data(
    serve: Serve, proxy: DynamoProxy, otel: Otel, user_table: str
) -> None:
    user = "ada-" + uuid.uuid4().hex
    secret_value = "value-" + uuid.uuid4().hex
    async with DynamoDBStore(
        user_table,
        endpoint_url=proxy.url,
        user_index="UserIndex",
        telemetry=otel.telemetry,
        options=ClientOptions(max_attempts=1),
    ) as store:
        laptop, phone = await serve(store=store), await serve(store=store)
        state(await laptop.get(f"/set?key=secret_key&value={secret_value}"))
        before_login = session_id_of(laptop)
        state(await laptop.get(f"/sign-in?user={user}&label=laptop"))
        state(await phone.get(f"/sign-in?user={user}&label=phone"))
        listed = json.loads((await laptop.get("/my-sessions")).body)
        assert len(listed["sessions"]) == 2
        assert json.loads((await laptop.get("/sign-out-others")).body) == {"ended": 1}
        state(await laptop.get(f"/set?key=secret_key&value={secret_value}"))
        session_id, cookie = session_id_of(laptop), laptop.cookies["session"]
        proxy.fault = every_attempt_fails(("status", 400, "ValidationException"))  # the server's own message
        assert (await laptop.get("/read")).status == 500
        proxy.fault = None
        assert (await laptop.get("/logout")).status == 200
        recorded = everything_recorded(otel)
        secrets = {
            "session id": session_id,
            "session id before login": before_login,
            "hash key": store.key_for(session_id),
            "hash key before login": store.key_for(before_login),
            "user id": user,
            "user key": store.user_key_for(user),
            "session data": secret_value,
            "session key": "secret_key",
            "cookie": cookie.strip('"'),
        }
    assert '"name": "exception"' in recorded  # the failed read's exception was recorded, without its message
    assert f"list_sessions {user_table}" in recorded and f"revoke_user {user_table}" in recorded
    assert [what for what, value in secrets.items() if value in recorded] == []


# -- metrics --------------------------------------------------------------------------------------------------------


async def test_metrics_count_loads_and_saves_by_outcome_time_calls_in_seconds_and_count_units(
    serve: Serve, proxy: DynamoProxy, otel: Otel, traced: DynamoDBStore
) -> None:
    browser = await serve(store=traced)
    state(await browser.get("/counter"))  # a save
    state(await browser.get("/counter"))  # a refresh, a save
    state(await browser.get("/read"))  # a refresh
    metrics = otel.metrics()
    loads, saves = metrics["tornado_dynasession.loads"], metrics["tornado_dynasession.saves"]
    assert count(loads, outcome="hit", operation="lookup") == 2 and count(loads) == 2
    assert count(saves, outcome="written", operation="save") == 2 and count(saves) == 2
    assert "tornado_dynasession.errors" not in metrics
    durations = metrics["tornado_dynasession.store.duration"]
    assert metrics["tornado_dynasession.store.duration unit"] == [({}, "s")]
    assert sum(point.count for _, point in durations) == 4
    assert 0 < sum(point.sum for _, point in durations) < 5  # seconds, not milliseconds
    assert {attributes[PREFIX + "operation"] for attributes, _ in durations} == {"lookup", "save"}
    # Each write here is one started KB (a small session): 2 PutItems + 2 UpdateItems; no GetItem.
    assert count(metrics["tornado_dynasession.write_units"]) == 4
    assert "tornado_dynasession.read_units" not in metrics
    assert all(attributes["db.collection.name"] == traced.table for attributes, _ in durations)


async def test_a_revoke_counts_the_write_units_of_the_larger_session_it_replaced(
    otel: Otel, traced: DynamoDBStore
) -> None:
    await traced.set("big", {"blob": "x" * 2500})  # under 3 KB: the tombstone replacing it is billed 3 write units
    otel.clear()
    assert await traced.revoke(traced.key_for("big")) is True
    assert count(otel.metrics()["tornado_dynasession.write_units"]) == 3


# -- DynamoDB's billing rules -----------------------------------------------------------------------------------------


def test_units_follow_dynamodbs_rules_for_item_sizes() -> None:
    assert read_units(None) == 1.0 and read_units(4096) == 1.0 and read_units(4097) == 2.0
    assert read_units(4097, consistent=False) == 1.0 and read_units(10, consistent=False) == 0.5
    assert write_units(None) == 1 and write_units(1024) == 1 and write_units(1025) == 2
    # names in UTF-8, strings in UTF-8, binaries as they are, numbers 1 byte per two significant digits plus 1
    assert item_bytes({"SessionID": "abc", "Expires": 1_700_000_000, "Blob": b"\x00\x01", "é": "é"}) == (
        9 + 3 + 7 + (1 + math.ceil(2 / 2)) + 4 + 2 + 2 + 2
    )
    assert item_bytes(None) is None and item_bytes({"flag": True}) is None


# -- without opentelemetry ------------------------------------------------------------------------------------------

WITHOUT_OPENTELEMETRY = textwrap.dedent(
    """
    import asyncio, importlib.abc, sys

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Blocker())

    from tornado_dynasession import ConfigurationError, DynamoDBStore
    from tornado_dynasession import telemetry

    assert telemetry.AVAILABLE is False
    assert not hasattr(DynamoDBStore.lookup, "__wrapped__")  # the methods themselves, undecorated
    try:
        telemetry.Telemetry()
    except ConfigurationError as exc:
        assert "tornado_dynasession[otel]" in str(exc)
    else:
        raise AssertionError("Telemetry() without opentelemetry")

    async def main():
        async with DynamoDBStore(sys.argv[1]) as store:
            assert store.telemetry is None
            await store.set("sid-without-otel", {"n": 1})
            assert await store.get("sid-without-otel") == {"n": 1}
            assert await store.touch("sid-without-otel")
            await store.destroy("sid-without-otel")

    asyncio.run(main())
    assert not [name for name in sys.modules if name.split(".")[0] == "opentelemetry"], "imported"
    print("ok")
    """
)


def test_without_opentelemetry_nothing_of_it_is_imported_and_the_store_works(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_OPENTELEMETRY, dynamodb_table],
        env=dict(os.environ, DYNAMODB_ENDPOINT=dynamodb_endpoint),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stderr


GLOBAL_PROVIDER = textwrap.dedent(
    """
    import asyncio, sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from tornado_dynasession import DynamoDBStore

    store = DynamoDBStore(sys.argv[1])  # before the SDK is configured, as an app module may create it
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    async def main():
        async with store:
            await store.set("sid-global", {"n": 1})
            await store.get("sid-global")

    asyncio.run(main())
    print(" ".join(span.name.split()[0] for span in exporter.get_finished_spans()))
    """
)


def test_by_default_a_store_reports_to_the_global_providers_even_ones_set_later(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", GLOBAL_PROVIDER, dynamodb_table],
        env=dict(os.environ, DYNAMODB_ENDPOINT=dynamodb_endpoint),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout.strip()) == (0, "set get"), result.stderr
