"""Whether OpenTelemetry is installed, and :class:`Telemetry`: where a store's spans and metrics go.

Whether opentelemetry-api is importable is decided once, when this module is imported; without it nothing of
OpenTelemetry is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigurationError

# Decided once: whether opentelemetry-api is importable (AVAILABLE). The ignore keeps mypy quiet without it.
try:
    from opentelemetry import metrics, trace  # type: ignore[import-not-found, unused-ignore]
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
    from opentelemetry.trace import TracerProvider  # type: ignore[import-not-found, unused-ignore]

__all__ = ["AVAILABLE", "Telemetry"]

_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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
        from .. import __version__

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
