"""Targets measured against the floors of the same run: each backend's CPU per call against raw-http, and a session
request's app CPU against the no-session route's.

- ``per_call``: store-aiohttp CPU per operation at most 1.2x raw-http's, for get, set and touch, small payload, at
  every concurrency; the other store backends are shown beside it, without a target.
- ``e2e``: each session case's app CPU per request against ``no-session`` (Tornado) or ``fastapi-no-session``
  (FastAPI); session-read-aiohttp at most 2.5x.
- ``regressions``: store-orjson CPU at most 1.10x raw-aiobotocore's, and store-aiodynamo's ratio to raw-http no
  higher than in ``before`` (a committed run of the code before the wire layer, another time and load), within
  ``NOISE`` (single cells move by 5 to 25% between runs on a shared machine).
"""

from __future__ import annotations

from typing import Any

from .report import _met, _table, _x, lookup, ratio

__all__ = ["PER_CALL_TARGET", "SESSION_READ_TARGET", "floor_markdown", "floor_targets"]

PER_CALL_TARGET = 1.2
"""store-aiohttp CPU per operation, at most this multiple of raw-http's."""

SESSION_READ_TARGET = 2.5
"""session-read-aiohttp app CPU per request, at most this multiple of no-session's."""

STORE_VS_CLIENT_TARGET = 1.10
"""store-orjson CPU per operation, at most this multiple of raw-aiobotocore's (the store adds little)."""

NOISE = 1.10
"""How much higher than ``before`` a ratio may be and still count as no regression."""

_OPS = ("get", "set", "touch")
_BACKENDS = ("store-aiohttp", "store-aiodynamo", "store-orjson")


def _at_most(value: float | None, bound: float) -> bool | None:
    return None if value is None else value <= bound


def _cpu(rows: list[dict[str, Any]], variant: str, op: str, concurrency: int) -> float | None:
    value: float | None = lookup(rows, variant, op, "small", concurrency).get("cpu_us_per_op")
    return value


def floor_targets(document: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
    """The three groups of targets (see the module's documentation), from this run's figures."""
    results: list[dict[str, Any]] = document["results"]
    before_results: list[dict[str, Any]] = before["results"] if before else []
    concurrencies = sorted({row["concurrency"] for row in results})
    per_call = []
    regressions = []
    for concurrency in concurrencies:
        for op in _OPS:
            floor = _cpu(results, "raw-http", op, concurrency)
            if floor is None:
                continue
            ratios = {variant: ratio(_cpu(results, variant, op, concurrency), floor) for variant in _BACKENDS}
            per_call.append(
                {
                    "op": op,
                    "concurrency": concurrency,
                    "raw_http_cpu_us_per_op": floor,
                    "vs_raw_http": ratios,
                    "target": PER_CALL_TARGET,
                    "met": _at_most(ratios["store-aiohttp"], PER_CALL_TARGET),
                }
            )
            store = ratio(
                _cpu(results, "store-orjson", op, concurrency), _cpu(results, "raw-aiobotocore", op, concurrency)
            )
            earlier = ratio(
                _cpu(before_results, "store-aiodynamo", op, concurrency),
                _cpu(before_results, "raw-http", op, concurrency),
            )
            regressions.append(
                {
                    "op": op,
                    "concurrency": concurrency,
                    "store_orjson_vs_raw_aiobotocore": store,
                    "store_orjson_met": _at_most(store, STORE_VS_CLIENT_TARGET),
                    "store_aiodynamo_vs_raw_http": ratios["store-aiodynamo"],
                    "store_aiodynamo_vs_raw_http_before": earlier,
                    "store_aiodynamo_met": None
                    if earlier is None or ratios["store-aiodynamo"] is None
                    else ratios["store-aiodynamo"] <= earlier * NOISE,
                }
            )
    e2e_rows = {row["case"]: row for row in document.get("e2e") or []}
    e2e = []
    for case, row in e2e_rows.items():
        floor_case = "fastapi-no-session" if case.startswith("fastapi-") else "no-session"
        if case == floor_case or floor_case not in e2e_rows or case == "new-visitor":
            continue
        times = ratio(row.get("app_cpu_us_per_request"), e2e_rows[floor_case].get("app_cpu_us_per_request"))
        at_rate = (row.get("no_session_at_same_rate") or {}).get("app_cpu_us_per_request")
        target = SESSION_READ_TARGET if case == "session-read-aiohttp" else None
        e2e.append(
            {
                "case": case,
                "floor": floor_case,
                "app_cpu_us_per_request": row.get("app_cpu_us_per_request"),
                "vs_floor": times,
                "no_session_at_same_rate_app_cpu_us_per_request": at_rate,
                "vs_floor_at_same_rate": ratio(row.get("app_cpu_us_per_request"), at_rate),
                "target": target,
                "met": None if target is None else _at_most(times, target),
            }
        )
    return {
        "before": before.get("started_at") if before else None,
        "per_call": per_call,
        "e2e": e2e,
        "regressions": regressions,
    }


def floor_markdown(targets: dict[str, Any] | None) -> list[str]:
    """The floor targets as Markdown tables; nothing when the run had none."""
    if not targets or not targets["per_call"]:
        return []
    out = [
        "## Against the floors of this run",
        "",
        f"CPU per operation as a multiple of raw-http's (small payload; target: store-aiohttp at most "
        f"{PER_CALL_TARGET}x):",
        "",
    ]
    out += _table(
        ["op", "c", "raw-http µs", *_BACKENDS, "target", "met"],
        (
            [
                row["op"],
                str(row["concurrency"]),
                f"{row['raw_http_cpu_us_per_op']:.0f}",
                *(_x(row["vs_raw_http"][variant]) for variant in _BACKENDS),
                f"≤ {row['target']}x",
                _met(row["met"]),
            ]
            for row in targets["per_call"]
        ),
    )
    out.append("")
    if targets["e2e"]:
        out += [
            f"End to end, app CPU per request as a multiple of the same framework's route without sessions "
            f"(target: session-read-aiohttp at most {SESSION_READ_TARGET}x). The no-session route runs at its own "
            "rate, several times the session cases' (which the server limits here); an app's CPU per request grows "
            "as its rate falls, so the session reads are also shown against the no-session route loaded at their "
            "own rate:",
            "",
        ]
        out += _table(
            ["case", "app CPU µs/request", "vs no session", "vs no session at the same rate", "target", "met"],
            (
                [
                    row["case"],
                    f"{row['app_cpu_us_per_request']:.0f}",
                    _x(row["vs_floor"]),
                    _x(row.get("vs_floor_at_same_rate")),
                    "-" if row["target"] is None else f"≤ {row['target']}x",
                    _met(row["met"]),
                ]
                for row in targets["e2e"]
            ),
        )
        out.append("")
    out += [
        f"No regressions: store-orjson CPU at most {STORE_VS_CLIENT_TARGET}x raw-aiobotocore's; store-aiodynamo / "
        f"raw-http no higher than in the run before the wire layer, within {NOISE:.2f}x for noise"
        + (f" ({targets['before']})" if targets["before"] else "")
        + ":",
        "",
    ]
    out += _table(
        ["op", "c", "store-orjson / raw-aiobotocore", "met", "store-aiodynamo / raw-http", "before", "met"],
        (
            [
                row["op"],
                str(row["concurrency"]),
                _x(row["store_orjson_vs_raw_aiobotocore"]),
                _met(row["store_orjson_met"]),
                _x(row["store_aiodynamo_vs_raw_http"]),
                _x(row["store_aiodynamo_vs_raw_http_before"]),
                _met(row["store_aiodynamo_met"]),
            ]
            for row in targets["regressions"]
        ),
    )
    out.append("")
    return out
