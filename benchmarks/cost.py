"""What a request costs in DynamoDB request units and dollars, computed from the sizes of the items it touched.

The emulators the benchmark runs on (dynalite, DynamoDB Local) do not bill, so the units are computed by DynamoDB's
published rules from the items the store's backend saw (:class:`benchmarks.e2e.CountingBackend` applies them call
by call). The rules live in the package, :mod:`tornado_dynasession.telemetry`, whose metrics count units by the same
functions (``read_units``, ``write_units``, and ``item_bytes``, re-exported here as :func:`seam_item_bytes`):

- a strongly consistent GetItem: 1 read unit per started 4 KB of the item returned, at least 1 (half that for an
  eventually consistent one);
- a write (PutItem, UpdateItem, DeleteItem), also one whose condition failed: 1 write unit per started KB of the
  larger of the item before and after, at least 1; an UpdateItem's ``ReturnValues`` item costs nothing more.

This module holds the prices, the express-store rows (computed, never measured) and the one-call
targets checked on a run's end-to-end figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tornado_dynasession.telemetry import READ_UNIT_BYTES, WRITE_UNIT_BYTES, read_units, write_units
from tornado_dynasession.telemetry import item_bytes as seam_item_bytes

__all__ = [
    "PRICES",
    "READ_UNIT_BYTES",
    "WRITE_UNIT_BYTES",
    "OnDemandPrices",
    "express_store_rows",
    "one_call_targets",
    "read_units",
    "seam_item_bytes",
    "usd_per_million_requests",
    "write_units",
]


@dataclass(frozen=True)
class OnDemandPrices:
    """DynamoDB on-demand request prices in one region, standard table class, with where they come from.

    The figures are AWS's us-east-1 on-demand prices after the on-demand price cut of November 2024 (50% off,
    effective 1 November 2024): $0.125 per million read request units and $0.625 per million write request units.
    Checked 2026-11-27 against secondary sources only: airbyte.com, "Amazon DynamoDB Pricing: On-Demand &
    Provisioned Plans" (21 July 2025; US East, $0.625 per million WRU and $0.125 per million RRU after the late-2024
    reduction), consistent with jusdb.com's "DynamoDB Cost Optimization" (19 August 2025; on-demand throughput 50%
    cheaper from 1 November 2024) and with half the pre-cut $1.25 / $0.25 that older pages still quote. AWS's own page
    (https://aws.amazon.com/dynamodb/pricing/on-demand/) was found, but its stored text carried the billing rules
    (read and write unit sizes) and not the price table, so the figures are not confirmed first-hand: check that
    page before quoting them as current.
    """

    region: str
    usd_per_million_read_units: float
    usd_per_million_write_units: float
    effective: str
    """The date the prices took effect."""
    checked: str
    """The date they were last checked, and against what (``source``)."""
    source: str


PRICES = OnDemandPrices(
    region="us-east-1",
    usd_per_million_read_units=0.125,
    usd_per_million_write_units=0.625,
    effective="2024-11-01 (AWS's on-demand price cut)",
    checked="2026-11-27",
    source=(
        "secondary sources: airbyte.com/data-engineering-resources/dynamodb-pricing (July 2025) and jusdb.com "
        "(August 2025); not confirmed first-hand on https://aws.amazon.com/dynamodb/pricing/on-demand/"
    ),
)


def usd_per_million_requests(
    read_units_per_request: float, write_units_per_request: float, prices: OnDemandPrices = PRICES
) -> float:
    """Dollars per million requests that each consume these units."""
    return (
        read_units_per_request * prices.usd_per_million_read_units
        + write_units_per_request * prices.usd_per_million_write_units
    )


# -- the express-store pattern, computed ---------------------------------------------------------------------------

EXPRESS_STORE = {
    "/session": (
        "express-store session-read",
        {"GetItem": 1.0, "UpdateItem": 1.0},
        "computed: a GetItem, then an unconditional write of the same item (a touch UpdateItem, or a PutItem of "
        "the whole session: the same write units), as the Node/express DynamoDB stores do on every request",
    ),
    "/counter": (
        "express-store session-modify",
        {"GetItem": 1.0, "PutItem": 1.0},
        "computed: a GetItem, then a PutItem of the whole changed session",
    ),
}
"""By the path of our measured case: the express-store row computed beside it (case, calls, description)."""


def express_store_rows(e2e: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The express-store pattern's cost for the session-read and session-modify cases, computed from the sizes of
    the items our measured case (the default backend's, else the first with a cookie on that path) read and wrote.

    The item sizes are the means over the case: the write is sized by the larger of the mean item read and the mean
    item written, as DynamoDB sizes a write by the larger of the old and the new item.
    """
    rows = []
    for path, (case, calls, description) in EXPRESS_STORE.items():
        candidates = [row for row in e2e if row.get("path") == path and row.get("cookie")]
        base = next((row for row in candidates if row.get("backend") == "aiobotocore"), None) or next(
            iter(candidates), None
        )
        if base is None or base.get("item_bytes_read_mean") is None:
            continue
        read_size = base["item_bytes_read_mean"]
        written = base.get("item_bytes_written_mean")
        write_size = max(read_size, written) if written is not None else read_size
        reads = read_units(math.ceil(read_size))
        writes = float(write_units(math.ceil(write_size)))
        rows.append(
            {
                "case": case,
                "computed_from": base["case"],
                "measured": False,
                "description": description,
                "item_bytes": math.ceil(write_size),
                "store_calls_per_request": calls,
                "read_units_per_request": reads,
                "write_units_per_request": writes,
                "usd_per_million_requests": usd_per_million_requests(reads, writes),
            }
        )
    return rows


def express_twin(row: Mapping[str, Any], express: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The express-store row computed for requests like ``row`` (same path, with a session cookie), or None."""
    if not row.get("cookie") or row.get("path") not in EXPRESS_STORE:
        return None
    name = EXPRESS_STORE[row["path"]][0]
    return next((other for other in express if other["case"] == name), None)


# -- the one-call targets ------------------------------------------------------------------------------------------

ONE_CALL_CASES = ("session-read", "session-read-aiodynamo")
"""The cases that must make exactly one store call per request (one UpdateItem with touch_after=0)."""

CALLS_TOLERANCE = 0.005
"""How far from 1.00 the mean store calls per request may be and still count as exactly one (rounding only)."""

VS_NO_SESSION = {"session-read": 0.15, "session-read-aiodynamo": 0.30}
"""Requests/s relative to the no-session route, at least."""


def one_call_targets(e2e: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The one-call targets, checked on the run's end-to-end rows at the highest connection count: the session-read
    cases make exactly one store call per request (all kinds summed), and serve at least a set fraction of the
    no-session route's requests/s. A report, never an assertion: ``met`` is None where a figure is missing."""
    top = max((row.get("connections") or 0 for row in e2e), default=0)
    rows = {row["case"]: row for row in e2e if (row.get("connections") or 0) == top}
    checks: list[dict[str, Any]] = []
    for case in ONE_CALL_CASES:
        row = rows.get(case)
        calls = sum(row["store_calls_per_request"].values()) if row else None
        checks.append(
            {
                "case": case,
                "measure": "store_calls_per_request",
                "measured": calls,
                "target": "== 1",
                "met": None if calls is None else abs(calls - 1.0) <= CALLS_TOLERANCE,
            }
        )
    baseline = rows.get("no-session")
    for case, bound in VS_NO_SESSION.items():
        row = rows.get(case)
        times = None
        if row and baseline and baseline["requests_per_s"] > 0:
            times = row["requests_per_s"] / baseline["requests_per_s"]
        checks.append(
            {
                "case": case,
                "measure": "requests_per_s_vs_no_session",
                "measured": times,
                "requests_per_s": row["requests_per_s"] if row else None,
                "no_session_requests_per_s": baseline["requests_per_s"] if baseline else None,
                "target": f">= {bound:.2f}x",
                "bound": bound,
                "met": None if times is None else times >= bound,
            }
        )
    return {
        "description": "session-read and session-read-aiodynamo: exactly one DynamoDB call per request (all kinds "
        "summed), and requests/s at least a set fraction of no-session's, at the highest connection count",
        "connections": top or None,
        "checks": checks,
    }
