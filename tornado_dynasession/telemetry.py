"""OpenTelemetry spans and metrics for the store's calls, and the DynamoDB billing rules they count units by.

Optional: ``pip install "tornado_dynasession[otel]"`` (opentelemetry-api). Whether opentelemetry is importable is
decided once, when this module is imported. Without it nothing of OpenTelemetry is imported, :func:`traced` hands
the store's methods back unchanged, and a store call pays one ``is None`` check. With it, every store uses the
global tracer and meter providers unless given a :class:`Telemetry` (or ``telemetry=False``); with no SDK
configured, the cost is the API's no-op spans and instruments.

**Spans.** One ``CLIENT`` span per call of a public store method that reaches DynamoDB (``lookup``, ``load``,
``get``, ``refresh``, ``touch``, ``save``, ``set``, ``destroy``, ``supersede``, ``list_sessions``, ``revoke``,
``revoke_user``), named ``"<method> <table>"``, under whatever span is current (a framework's request span, when
one is instrumented). A method that calls another public one (``touch`` calls ``refresh``, which calls
``lookup``) makes one span, named for the method its caller called; the inner calls add their DynamoDB calls and
their outcome to it. Attributes, set by OpenTelemetry's stable database conventions and the DynamoDB ones:

- ``db.system.name`` ``"aws.dynamodb"``, ``db.collection.name`` and ``aws.dynamodb.table_names`` (the table),
  ``db.operation.name`` (the first DynamoDB call the method made: ``GetItem``, ``UpdateItem``, ``PutItem``,
  ``DeleteItem``, ``Query``), ``server.address`` and ``server.port`` (with an ``endpoint_url``),
  ``aws.dynamodb.consistent_read`` (reads), ``error.type`` (the exception's class name, on failure);
- ours, under ``tornado_dynasession.``: ``operation`` (the method), ``outcome`` (see :data:`OUTCOMES`),
  ``decision`` (the session policy's reason for the call: ``touch_skipped``, ``merged``), ``codec`` (the codec's
  class name), ``item_bytes`` (the largest item the call read or wrote, by DynamoDB's size rules),
  ``read_units`` and ``write_units`` (billed units, computed: see below), ``dynamodb_calls`` (how many DynamoDB
  calls the method made), ``sessions`` (how many sessions ``list_sessions`` listed or ``revoke_user`` ended).

Never a session id, a hash key, a user id or session data. A failed call records its exception (type, and the
message only for our exceptions whose text holds none of these: not a :class:`CodecError`, which may quote the
session, nor a server's rejection) with status ERROR, and the exception propagates unchanged.

**Metrics** (meter ``tornado_dynasession``), each data point with ``db.collection.name``,
``tornado_dynasession.operation`` and ``tornado_dynasession.outcome``:

- ``tornado_dynasession.store.duration``: a histogram of every traced call's duration in seconds (``s``), retries
  included; with ``error.type`` on a failure;
- ``tornado_dynasession.loads``: reads of one session (``lookup``, ``load``, ``get``, ``refresh``, ``touch``), with
  ``tornado_dynasession.decision`` where the policy gave one;
- ``tornado_dynasession.saves``: ``save`` and ``set``, likewise, plus one ``conflict`` for each request the session
  policy answers 409 (which also adds a ``tornado_dynasession.conflict`` event to the current span);
- ``tornado_dynasession.errors``: failed calls, by ``error.type`` (the exception's class name: ours, from
  :mod:`tornado_dynasession.errors`, but for a misuse such as a ``ValueError``);
- ``tornado_dynasession.read_units`` and ``tornado_dynasession.write_units``: DynamoDB request units, computed.

**Units** are computed from item sizes by DynamoDB's published rules (the emulators bill nothing, and a write whose
condition fails is billed too): a GetItem costs a read unit per started 4 KB of the item it returns (at least 1;
half for an eventually consistent read); a write costs a write unit per started KB of the item (at least 1). A
PutItem is sized by the item written (DynamoDB bills the larger of the old and the new: a session that shrank is
counted low); an UpdateItem or DeleteItem by the item it returns, else the item this call last saw, else 1. A
Query of the user index and a BatchGetItem are sized by what they return (keys; the attributes read), which
counts them low. The benchmarks count by these same functions.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from .backends.transport import ServiceError
from .backends.wire import item_from_wire
from .errors import (
    ConfigurationError,
    SessionConflictError,
    SessionTooLargeError,
    StoreUnavailableError,
    TableNotFoundError,
)

# Decided once: whether opentelemetry-api is importable (AVAILABLE). The ignore keeps mypy quiet without it.
try:
    from opentelemetry import context, metrics, trace  # type: ignore[import-not-found, unused-ignore]
except ImportError:
    AVAILABLE = False
else:
    AVAILABLE = True
    try:  # the API's stand-in until an SDK sets a meter provider (not public: without it, never skipped)
        from opentelemetry.metrics._internal import (  # type: ignore[import-not-found, unused-ignore]
            _ProxyMeterProvider as _proxy_meter_provider,
        )

        _PROXY_METER_PROVIDERS: tuple[type, ...] = (_proxy_meter_provider,)
    except ImportError:
        _PROXY_METER_PROVIDERS = ()

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider  # type: ignore[import-not-found, unused-ignore]
    from opentelemetry.trace import Span, TracerProvider  # type: ignore[import-not-found, unused-ignore]

    from .backends import AttributeNames
    from .backends.transport import Transport
    from .store import DynamoDBStore

__all__ = [
    "AVAILABLE",
    "OUTCOMES",
    "READ_UNIT_BYTES",
    "WRITE_UNIT_BYTES",
    "StoreTelemetry",
    "Telemetry",
    "item_bytes",
    "note_conflict",
    "note_decision",
    "read_units",
    "telemetry_for",
    "traced",
    "write_units",
]

# -- DynamoDB's billing rules -------------------------------------------------------------------------------------

READ_UNIT_BYTES = 4096
"""A read unit reads up to this many bytes of an item (strongly consistent)."""
WRITE_UNIT_BYTES = 1024
"""A write unit writes up to this many bytes of an item."""


def read_units(size: int | None, *, consistent: bool = True) -> float:
    """Read units of a GetItem returning an item of ``size`` bytes (None or 0: a missing item still costs 1)."""
    units = max(1, math.ceil((size or 0) / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def write_units(size: int | None) -> int:
    """Write units of a write whose larger item (before or after) is ``size`` bytes; at least 1."""
    return max(1, math.ceil((size or 0) / WRITE_UNIT_BYTES))


def _number_bytes(value: int | float) -> int:
    text = str(value).lstrip("-").rstrip("0") if type(value) is int else repr(value).lstrip("-").replace(".", "")
    return 1 + (len(text.strip("0") or "0") + 1) // 2


def item_bytes(item: Mapping[str, object] | None) -> int | None:
    """An item's size as DynamoDB bills it, from the plain values that cross the backend seam (str for S, int or
    float for N, bytes for B): each attribute name's UTF-8 bytes, plus a string's UTF-8 bytes, a binary's bytes, or
    a number's 1 byte per two significant digits plus 1. None for no item, or one holding any other type."""
    if not item:
        return None
    size = 0
    for name, value in item.items():
        size += len(name) if name.isascii() else len(name.encode())
        # Exact types: a bool is not a number here, and the seam carries no subclasses.
        if type(value) is str:
            size += len(value) if value.isascii() else len(value.encode())
        elif type(value) is int or type(value) is float:
            size += _number_bytes(value)
        elif type(value) is bytes or type(value) is bytearray:
            size += len(value)
        else:
            return None
    return size


# -- names ----------------------------------------------------------------------------------------------------------

_PREFIX = "tornado_dynasession."
OPERATION = _PREFIX + "operation"
OUTCOME = _PREFIX + "outcome"
DECISION = _PREFIX + "decision"
CODEC = _PREFIX + "codec"
ITEM_BYTES = _PREFIX + "item_bytes"
READ_UNITS = _PREFIX + "read_units"
WRITE_UNITS = _PREFIX + "write_units"
DYNAMODB_CALLS = _PREFIX + "dynamodb_calls"
SESSIONS = _PREFIX + "sessions"

OUTCOMES = {
    "hit": "a live session was read (and, for a refresh or touch, its expiry moved)",
    "miss": "no live session: no item (never stored, destroyed, or deleted by TTL); for revoke, nothing ended",
    "expired": "the item's Expires has passed",
    "corrupt": "the item is not in the expected layout or does not decode (a warning is logged)",
    "superseded": "the id was given up for a new one at login",
    "written": "the item was written (for supersede: the tombstone)",
    "condition_failed": "save: another request wrote or ended the session since it was read; nothing written",
    "conflict": "save: the new id was taken, or the session policy answered 409 (SessionConflictError)",
    "deleted": "destroy: the DeleteItem went through (whether or not there was an item)",
    "revoked": "revoke, revoke_user: live sessions ended",
    "listed": "list_sessions: the user's sessions were listed",
    "error": "the call raised (see error.type)",
    "cancelled": "the call was cancelled before it finished",
}
"""The values of ``tornado_dynasession.outcome``."""

_LOADS = frozenset({"lookup", "load", "get", "refresh", "touch"})
_SAVES = frozenset({"save", "set"})
# Our exceptions whose messages hold no id, key, user or session data: their text goes on the span.
_TELLING = (TableNotFoundError, StoreUnavailableError, SessionTooLargeError, SessionConflictError, ConfigurationError)
_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


# -- configuration ----------------------------------------------------------------------------------------------


class Telemetry:
    """Where a store sends its spans and metrics: ``DynamoDBStore("sessions", telemetry=Telemetry(...))``.

    Without it, a store uses the global providers (``opentelemetry.trace.set_tracer_provider``,
    ``opentelemetry.metrics.set_meter_provider``), including ones set after the store was created. One
    ``Telemetry`` may serve several stores. Needs opentelemetry-api: ``pip install "tornado_dynasession[otel]"``.

    :param tracer_provider: the provider of the store's tracer; None for the global one.
    :param meter_provider: the provider of the store's meter; None for the global one.
    """

    def __init__(
        self, *, tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
    ) -> None:
        if not AVAILABLE:
            raise ConfigurationError(
                'Telemetry needs the opentelemetry-api package: pip install "tornado_dynasession[otel]"'
            )
        from . import __version__

        self._global = tracer_provider is None and meter_provider is None
        self._tracer = trace.get_tracer("tornado_dynasession", __version__, tracer_provider)
        meter = metrics.get_meter("tornado_dynasession", __version__, meter_provider)
        self._duration = meter.create_histogram(
            "tornado_dynasession.store.duration",
            unit="s",
            description="How long store calls take, retries included, by operation and outcome.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._loads = meter.create_counter(
            "tornado_dynasession.loads", unit="{load}", description="Reads of one session, by outcome."
        )
        self._saves = meter.create_counter(
            "tornado_dynasession.saves", unit="{save}", description="Session writes, by outcome."
        )
        self._errors = meter.create_counter(
            "tornado_dynasession.errors", unit="{error}", description="Failed store calls, by exception class."
        )
        self._read_units = meter.create_counter(
            "tornado_dynasession.read_units",
            unit="{read_unit}",
            description="DynamoDB read request units, computed from item sizes.",
        )
        self._write_units = meter.create_counter(
            "tornado_dynasession.write_units",
            unit="{write_unit}",
            description="DynamoDB write request units, computed from item sizes.",
        )

    def active(self) -> bool:
        """Whether a span or data point of this telemetry can go anywhere: False only while it uses the global
        providers and no SDK has set them (the API's proxies then drop everything), so a call skips the work."""
        if not self._global:
            return True
        return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider) or not isinstance(
            metrics.get_meter_provider(), _PROXY_METER_PROVIDERS
        )


_default: Telemetry | None = None


def telemetry_for(store: DynamoDBStore, setting: Telemetry | bool) -> StoreTelemetry | None:
    """The store's telemetry for its ``telemetry=`` argument: None when off (``False``, or ``True`` without
    opentelemetry installed)."""
    global _default
    if setting is False or (setting is True and not AVAILABLE):
        return None
    if setting is True:
        if _default is None:
            _default = Telemetry()
        setting = _default
    if not isinstance(setting, Telemetry):
        raise TypeError(f"telemetry must be True, False or a Telemetry, not {type(setting).__name__}")
    return StoreTelemetry(setting, store)


# -- one store's calls ------------------------------------------------------------------------------------------


class _Call:
    """What one traced store call did, gathered while it runs (by its inner calls and its DynamoDB calls)."""

    __slots__ = ("calls", "consistent", "count", "decision", "first", "item_bytes", "outcome", "reads", "writes")

    def __init__(self, decision: str | None) -> None:
        self.decision = decision
        self.outcome: str | None = None
        self.first: str | None = None  # the first DynamoDB call
        self.calls = 0
        self.consistent: bool | None = None
        self.item_bytes: int | None = None
        self.reads = 0.0
        self.writes = 0
        self.count: int | None = None

    def dynamodb(self, name: str) -> None:
        self.calls += 1
        if self.first is None:
            self.first = name

    def seen(self, size: int | None) -> None:
        if size is not None and (self.item_bytes is None or size > self.item_bytes):
            self.item_bytes = size

    def read(self, size: int | None, consistent: bool) -> None:
        self.reads += read_units(size, consistent=consistent)
        self.consistent = consistent
        self.seen(size)

    def write(self, size: int | None) -> None:
        self.writes += write_units(size if size is not None else self.item_bytes)
        self.seen(size)


_call: ContextVar[_Call | None] = ContextVar("tornado_dynasession_call", default=None)
_decision: ContextVar[str | None] = ContextVar("tornado_dynasession_decision", default=None)


class StoreTelemetry:
    """A store's spans and metrics (``store.telemetry``): its :class:`Telemetry`, and what every span and data
    point of the store carries, worked out once."""

    def __init__(self, telemetry: Telemetry, store: DynamoDBStore) -> None:
        self.telemetry = telemetry
        self.table = store.table
        self._names = store.names
        common: dict[str, Any] = {
            "db.system.name": "aws.dynamodb",
            "db.collection.name": store.table,
            "aws.dynamodb.table_names": (store.table,),
            CODEC: type(store.codec).__name__,
        }
        if store.endpoint_url:
            parts = urlsplit(store.endpoint_url)
            if parts.hostname:
                common["server.address"] = parts.hostname
            if parts.port:
                common["server.port"] = parts.port
        self._common = common
        self._span_names: dict[str, str] = {}
        self._span_attributes: dict[str, dict[str, Any]] = {}
        self._metric_attributes: dict[tuple[str, str, str | None, str | None], dict[str, str]] = {}

    def metered(self, transport: Transport) -> Transport:
        """``transport``, wrapped to count its calls, item sizes and units on the traced call that makes them."""
        return _MeteredTransport(transport, self._names)

    def attributes(
        self, operation: str, outcome: str, decision: str | None = None, error: str | None = None
    ) -> dict[str, str]:
        """A data point's attributes (made once for each combination: a handful per store)."""
        key = (operation, outcome, decision, error)
        found = self._metric_attributes.get(key)
        if found is None:
            found = {"db.collection.name": self.table, OPERATION: operation, OUTCOME: outcome}
            if decision is not None:
                found[DECISION] = decision
            if error is not None:
                found["error.type"] = error
            self._metric_attributes[key] = found
        return found

    async def call(
        self,
        operation: str,
        outcome_of: Callable[[Any], str],
        method: Callable[..., Awaitable[Any]],
        store: DynamoDBStore,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Run ``method`` in a span of its own, gathering what it does."""
        decision = _decision.get()
        if decision is not None:
            _decision.set(None)
        call = _Call(decision)
        token = _call.set(call)
        if operation not in self._span_names:
            self._span_names[operation] = f"{operation} {self.table}"
            self._span_attributes[operation] = {**self._common, OPERATION: operation}
        span = self.telemetry._tracer.start_span(
            self._span_names[operation], kind=trace.SpanKind.CLIENT, attributes=self._span_attributes[operation]
        )
        # The span is current while the method runs (spans of the client, if instrumented, nest under it). The
        # API's no-op span is left out of the context: nothing could nest under it anyway.
        attached = context.attach(trace.set_span_in_context(span)) if span.get_span_context().is_valid else None
        started = time.perf_counter()
        error: Exception | None = None
        try:
            result = await method(store, *args, **kwargs)
        except Exception as exc:
            error = exc
            call.outcome = "conflict" if isinstance(exc, SessionConflictError) else "error"
            _record_error(span, exc)
            raise
        except BaseException:
            call.outcome = "cancelled"
            raise
        else:
            if call.outcome is None:
                call.outcome = outcome_of(result)
            if operation in ("list_sessions", "revoke_user"):
                call.count = len(result) if isinstance(result, list) else int(result)
        finally:
            seconds = time.perf_counter() - started
            if attached is not None:
                context.detach(attached)
            _call.reset(token)
            self._record(operation, call, error, seconds)
            if span.is_recording():
                _describe(span, call)
            span.end()
        return result

    def _record(self, operation: str, call: _Call, error: Exception | None, seconds: float) -> None:
        telemetry = self.telemetry
        outcome = call.outcome or "error"
        if error is not None:
            failed = self.attributes(operation, outcome, error=type(error).__name__)
            telemetry._errors.add(1, failed)
            telemetry._duration.record(seconds, failed)
        else:
            telemetry._duration.record(seconds, self.attributes(operation, outcome))
        if operation in _LOADS:
            telemetry._loads.add(1, self.attributes(operation, outcome, call.decision))
        elif operation in _SAVES:
            telemetry._saves.add(1, self.attributes(operation, outcome, call.decision))
        if call.reads:
            telemetry._read_units.add(call.reads, self.attributes(operation, outcome))
        if call.writes:
            telemetry._write_units.add(call.writes, self.attributes(operation, outcome))


def _describe(span: Span, call: _Call) -> None:
    """The span's attributes known once its call has ended."""
    attributes: dict[str, Any] = {OUTCOME: call.outcome or "error", DYNAMODB_CALLS: call.calls}
    if call.decision is not None:
        attributes[DECISION] = call.decision
    if call.first is not None:
        attributes["db.operation.name"] = call.first
    if call.consistent is not None:
        attributes["aws.dynamodb.consistent_read"] = call.consistent
    if call.item_bytes is not None:
        attributes[ITEM_BYTES] = call.item_bytes
    if call.reads:
        attributes[READ_UNITS] = call.reads
    if call.writes:
        attributes[WRITE_UNITS] = call.writes
    if call.count is not None:
        attributes[SESSIONS] = call.count
    span.set_attributes(attributes)


def _record_error(span: Span, exc: Exception) -> None:
    if not span.is_recording():
        return
    name = type(exc).__name__
    telling = isinstance(exc, _TELLING)
    message = str(exc) if telling else "not recorded: it may quote session data (the adapters log it)"
    # No traceback text either: its last lines repeat the message, and those of chained causes (a codec's, a
    # server's) may quote session data too.
    span.record_exception(exc, {"exception.message": message, "exception.stacktrace": ""}, escaped=True)
    span.set_attribute("error.type", name)
    span.set_status(trace.Status(trace.StatusCode.ERROR, f"{name}: {exc}" if telling else name))


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def traced(operation: str, outcome_of: Callable[[Any], str]) -> Callable[[F], F]:
    """Decorate a public store method that reaches DynamoDB: one span per call (see the module's documentation).
    ``outcome_of`` is the method's own statement of its outcome, from what it returned (unless a call inside it
    said first).

    Without opentelemetry installed, the method itself is returned: the decorator costs nothing.
    """

    def decorate(method: F) -> F:
        if not AVAILABLE:
            return method

        @functools.wraps(method)
        async def wrapper(store: DynamoDBStore, *args: Any, **kwargs: Any) -> Any:
            telemetry = store.telemetry
            if telemetry is None or not telemetry.telemetry.active():
                return await method(store, *args, **kwargs)
            current = _call.get()
            if current is None:
                return await telemetry.call(operation, outcome_of, method, store, args, kwargs)
            # Inside another traced call (touch -> refresh -> lookup): no span of its own; the first outcome known
            # (the innermost's) is the call's.
            result = await method(store, *args, **kwargs)
            if current.outcome is None:
                current.outcome = outcome_of(result)
            return result

        return cast(F, wrapper)

    return decorate


# -- the session policy's decisions -----------------------------------------------------------------------------


def note_decision(store: DynamoDBStore, decision: str) -> None:
    """Tag the next store call this task makes with the session policy's reason for it: ``touch_skipped`` (a
    GetItem read, the touch not due yet) or ``merged`` (a save of this request's changes onto a newer version)."""
    if store.telemetry is not None:
        _decision.set(decision)


def note_conflict(store: DynamoDBStore) -> None:
    """The session policy is answering 409: count a ``conflict`` save and a SessionConflictError, and add a
    ``tornado_dynasession.conflict`` event to the current span (a framework's request span, if any)."""
    store_telemetry = store.telemetry
    if store_telemetry is None:
        return
    _decision.set(None)
    telemetry = store_telemetry.telemetry
    telemetry._saves.add(1, store_telemetry.attributes("save", "conflict"))
    telemetry._errors.add(1, store_telemetry.attributes("save", "conflict", error=SessionConflictError.__name__))
    trace.get_current_span().add_event("tornado_dynasession.conflict", {"db.collection.name": store_telemetry.table})


# -- the transport, metered ------------------------------------------------------------------------------------


class _MeteredTransport:
    """A transport that tells the traced call it runs in which DynamoDB calls it made, what sizes it saw and what
    units they cost (:func:`read_units`, :func:`write_units`), from the requests and answers themselves."""

    def __init__(self, inner: Transport, names: AttributeNames) -> None:
        self.inner = inner
        self.names = names
        self.endpoint = inner.endpoint
        self.binary_as_bytes = inner.binary_as_bytes

    async def send(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        call = _call.get()
        if call is None:
            return await self.inner.send(operation, payload)
        call.dynamodb(operation)
        try:
            answer = await self.inner.send(operation, payload)
        except ServiceError as exc:
            if exc.code == "ConditionalCheckFailedException":  # billed like a write that went through
                sizes = (_wire_bytes(exc.body.get("Item")), _wire_bytes(payload.get("Item")))
                call.write(max((size for size in sizes if size is not None), default=None))
            raise
        if operation == "GetItem":
            call.read(_wire_bytes(answer.get("Item")), bool(payload.get("ConsistentRead")))
        elif operation == "PutItem":
            call.write(_wire_bytes(payload.get("Item")))
        elif operation in ("UpdateItem", "DeleteItem"):
            call.write(_wire_bytes(answer.get("Attributes")))
        elif operation == "Query":
            # An entry of the keys-only index holds the table's key and the index's. Index reads are eventually
            # consistent, billed per started 4 KB of the whole page.
            user_key = payload["ExpressionAttributeValues"][":u"]["S"]
            entry = len(self.names.user.encode()) + len(user_key.encode())
            size = sum((_wire_bytes(item) or 0) + entry for item in answer.get("Items", []))
            call.reads += read_units(size, consistent=False)
        elif operation == "BatchGetItem":
            ((table, request),) = payload["RequestItems"].items()
            consistent = bool(request.get("ConsistentRead"))
            found = answer.get("Responses", {}).get(table, [])
            pending = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            for item in found:
                call.reads += read_units(_wire_bytes(item), consistent=consistent)
            call.reads += (len(request["Keys"]) - len(found) - len(pending)) * read_units(None, consistent=consistent)
        return answer

    async def close(self) -> None:
        await self.inner.close()


def _wire_bytes(raw: Any) -> int | None:
    """An item's size by DynamoDB's rules, from its wire form; None for no item."""
    return item_bytes(item_from_wire(raw))
