"""Spans and metrics for the store's public calls: :func:`traced` wraps each, :class:`StoreTelemetry` records them.

One ``CLIENT`` span per call of a public store method that reaches DynamoDB, named ``"<method> <table>"``, under
whatever span is current. A method that calls another public one (``touch`` calls ``refresh``) makes one span,
named for the method its caller called. Attributes follow OpenTelemetry's database and DynamoDB conventions, plus
ours under ``tornado_dynasession.`` (``operation``, ``outcome``, ``decision``, ``codec``, ``item_bytes``,
``read_units``, ``write_units``, ``dynamodb_calls``, ``sessions``); the README's Observability section lists them
and the metrics. Never a session id, a hash key, a user id or session data: a failed call records its exception's
type, and its message only for our exceptions whose text holds none of these.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast
from urllib.parse import urlsplit

from ..errors import (
    ConfigurationError,
    SessionConflictError,
    SessionTooLargeError,
    StoreUnavailableError,
    TableNotFoundError,
)
from .metering import MeteredTransport, _Call, _call
from .provider import AVAILABLE, Telemetry

if AVAILABLE:
    from opentelemetry import context, trace  # type: ignore[import-not-found, unused-ignore]

if TYPE_CHECKING:
    from opentelemetry.trace import Span  # type: ignore[import-not-found, unused-ignore]

    from ..backends import AttributeNames
    from ..backends.transport import Transport

__all__ = [
    "OUTCOMES",
    "StoreTelemetry",
    "TracedStore",
    "note_conflict",
    "note_decision",
    "telemetry_for",
    "traced",
]


class TracedStore(Protocol):
    """What telemetry reads of a store (a :class:`~tornado_dynasession.store.DynamoDBStore`)."""

    @property
    def table(self) -> str: ...
    @property
    def names(self) -> AttributeNames: ...
    @property
    def codec(self) -> object: ...
    @property
    def endpoint_url(self) -> str | None: ...
    @property
    def telemetry(self) -> StoreTelemetry | None: ...


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
    "logged_out": "the session was ended by a logout a short while ago (its tombstone is still there)",
    "emptied": "a request emptied the session a short while ago (its marker is still there)",
    "written": "the item was written (for supersede, log_out and discard: the tombstone; with a layout, the delete)",
    "condition_failed": "save, log_out, discard, supersede: another request wrote or ended the session since it was "
    "read; nothing written",
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


_default: Telemetry | None = None


def telemetry_for(store: TracedStore, setting: Telemetry | bool) -> StoreTelemetry | None:
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

_decision: ContextVar[str | None] = ContextVar("tornado_dynasession_decision", default=None)


class StoreTelemetry:
    """A store's spans and metrics (``store.telemetry``): its :class:`Telemetry`, and what every span and data
    point of the store carries, worked out once."""

    def __init__(self, telemetry: Telemetry, store: TracedStore) -> None:
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
        return MeteredTransport(transport, self._names)

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
        store: TracedStore,
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
        async def wrapper(store: TracedStore, *args: Any, **kwargs: Any) -> Any:
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


def note_decision(store: TracedStore, decision: str) -> None:
    """Tag the next store call this task makes with the session policy's reason for it: ``touch_skipped`` (a
    GetItem read, the touch not due yet) or ``merged`` (a save of this request's changes onto a newer version)."""
    if store.telemetry is not None:
        _decision.set(decision)


def note_conflict(store: TracedStore) -> None:
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
