"""OpenTelemetry spans and metrics for the store, and the DynamoDB billing rules they count units by.

A layer around the store: :func:`traced` wraps the store's public calls, and
``StoreTelemetry.metered`` wraps its transport's ``send``. Optional: ``pip install
"tornado_dynasession[otel]"``. Without opentelemetry-api nothing of OpenTelemetry is imported, :func:`traced` hands
the store's methods back unchanged, and a store call pays one ``is None`` check.

``billing`` holds the billing rules, ``provider`` :class:`Telemetry`, ``spans`` the spans and metrics,
``metering`` the metered transport.
"""

from .billing import READ_UNIT_BYTES, WRITE_UNIT_BYTES, item_bytes, read_units, write_units
from .provider import AVAILABLE, Telemetry
from .spans import OUTCOMES, StoreTelemetry, TracedStore, note_conflict, note_decision, telemetry_for, traced

__all__ = [
    "AVAILABLE",
    "OUTCOMES",
    "READ_UNIT_BYTES",
    "WRITE_UNIT_BYTES",
    "StoreTelemetry",
    "Telemetry",
    "TracedStore",
    "item_bytes",
    "note_conflict",
    "note_decision",
    "read_units",
    "telemetry_for",
    "traced",
    "write_units",
]
