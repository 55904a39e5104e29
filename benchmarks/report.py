"""The written outputs: ``latest.json`` and ``latest.md`` (the same figures as tables, with ratio columns)."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .cost import PRICES, VS_NO_SESSION, express_twin, write_units

__all__ = [
    "BASELINES",
    "EXPECTATION_OPS",
    "backend_targets",
    "load_before",
    "lookup",
    "ratio",
    "write_json",
    "write_markdown",
]

BASELINES = ("raw-aiobotocore", "raw-http")
"""The floors every figure is compared with."""

EXPECTATION_OPS = ("get", "set", "touch")
"""The operations with a 1.10x bound on store-orjson against raw-aiobotocore."""

EXPECTATION_BOUND = 1.10


def lookup(results: Iterable[dict[str, Any]], variant: str, op: str, payload: str, concurrency: int) -> dict[str, Any]:
    """The result row for one variant and cell, or an empty dict."""
    for row in results:
        if (row["variant"], row["op"], row["payload"], row["concurrency"]) == (variant, op, payload, concurrency):
            return row
    return {}


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``, or None when either is missing or the baseline is zero."""
    if value is None or baseline is None or baseline == 0 or math.isnan(value) or math.isnan(baseline):
        return None
    return value / baseline


AIODYNAMO_VS_STORE_ORJSON = 2.5
"""Backend target: store-aiodynamo ops/s at the highest concurrency, at least this multiple of store-orjson's."""

AIODYNAMO_VS_RAW_HTTP = 0.45
"""Backend target: store-aiodynamo ops/s at the highest concurrency, at least this multiple of raw-http's."""

E2E_AIODYNAMO_VS_AIOBOTOCORE = 1.5
"""Backend target: end-to-end session-read requests/s on the aiodynamo backend, at least this multiple of
aiobotocore's."""

UNCHANGED_VARIANTS = ("raw-http", "aiodynamo")
"""Variants whose code the client tuning did not touch: their CPU against the earlier run measures the machine's
drift."""

E2E_PAIRS = (("session-read", "session-read-aiodynamo", True), ("session-modify", "session-modify-aiodynamo", False))
"""(aiobotocore case, aiodynamo case, whether the 1.5x target is set on it)."""


def load_before(path: Path) -> dict[str, Any] | None:
    """The results document of the run before the client tuning (``before-client-tuning.json``), or None when
    absent or unreadable."""
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document.get("results"), list) else None


def _at_least(value: float | None, bound: float) -> bool | None:
    return None if value is None else value >= bound


def backend_targets(document: dict[str, Any], before: dict[str, Any] | None, before_name: str) -> dict[str, Any]:
    """The aiodynamo backend and client-tuning targets, checked on this run's figures.

    - ``aiodynamo``: store-aiodynamo get, set and touch ops/s at the highest concurrency against store-orjson
      (at least 2.5x) and raw-http (at least 0.45x), per payload.
    - ``cpu``: store-orjson CPU µs per operation against ``before`` (the committed run before the client tuning,
      another time and machine load) and against raw-aiobotocore-default (the untuned client, in this run's rounds).
    - ``e2e``: requests/s of each aiodynamo case against its aiobotocore twin (session-read: at least 1.5x).
    """
    results: list[dict[str, Any]] = document["results"]
    before_results: list[dict[str, Any]] = before["results"] if before else []
    concurrencies = sorted({row["concurrency"] for row in results})
    payloads = [p for p in ("small", "large") if any(row["payload"] == p for row in results)]
    top = max(concurrencies, default=0)
    aiodynamo = []
    for payload in payloads:
        for op in EXPECTATION_OPS:
            ours = lookup(results, "store-aiodynamo", op, payload, top)
            if not ours:
                continue
            orjson_row = lookup(results, "store-orjson", op, payload, top)
            http = lookup(results, "raw-http", op, payload, top)
            vs_orjson = ratio(ours["ops_per_s"], orjson_row.get("ops_per_s"))
            vs_http = ratio(ours["ops_per_s"], http.get("ops_per_s"))
            aiodynamo.append(
                {
                    "op": op,
                    "payload": payload,
                    "concurrency": top,
                    "ops_per_s": ours["ops_per_s"],
                    "store_orjson_ops_per_s": orjson_row.get("ops_per_s"),
                    "raw_http_ops_per_s": http.get("ops_per_s"),
                    "vs_store_orjson": vs_orjson,
                    "vs_raw_http": vs_http,
                    "raw_http_vs_store_orjson": ratio(http.get("ops_per_s"), orjson_row.get("ops_per_s")),
                    "met": _at_least(vs_orjson, AIODYNAMO_VS_STORE_ORJSON) is True
                    and _at_least(vs_http, AIODYNAMO_VS_RAW_HTTP) is True,
                }
            )
    cpu = []
    for payload in payloads:
        for concurrency in concurrencies:
            for op in (*EXPECTATION_OPS, "destroy"):
                now = lookup(results, "store-orjson", op, payload, concurrency)
                if not now:
                    continue
                then = lookup(before_results, "store-orjson", op, payload, concurrency)
                default = lookup(results, "raw-aiobotocore-default", op, payload, concurrency)
                tuned = lookup(results, "raw-aiobotocore", op, payload, concurrency)
                cpu.append(
                    {
                        "op": op,
                        "payload": payload,
                        "concurrency": concurrency,
                        "cpu_us_per_op": now["cpu_us_per_op"],
                        "before_cpu_us_per_op": then.get("cpu_us_per_op"),
                        "vs_before": ratio(now["cpu_us_per_op"], then.get("cpu_us_per_op")),
                        "raw_aiobotocore_default_cpu_us_per_op": default.get("cpu_us_per_op"),
                        "vs_raw_aiobotocore_default": ratio(now["cpu_us_per_op"], default.get("cpu_us_per_op")),
                        "raw_aiobotocore_cpu_us_per_op": tuned.get("cpu_us_per_op"),
                        "vs_raw_aiobotocore": ratio(now["cpu_us_per_op"], tuned.get("cpu_us_per_op")),
                    }
                )
    # Variants the tuning left alone show how much faster or slower the machine ran than in the earlier run.
    control = [
        row["cpu_us_per_op"] / then["cpu_us_per_op"]
        for row in results
        if row["variant"] in UNCHANGED_VARIANTS
        for then in [lookup(before_results, row["variant"], row["op"], row["payload"], row["concurrency"])]
        if then and then["cpu_us_per_op"]
    ]
    e2e_rows = {row["case"]: row for row in document.get("e2e") or []}
    e2e = []
    for botocore_case, dynamo_case, has_target in E2E_PAIRS:
        if botocore_case not in e2e_rows or dynamo_case not in e2e_rows:
            continue
        times = ratio(e2e_rows[dynamo_case]["requests_per_s"], e2e_rows[botocore_case]["requests_per_s"])
        e2e.append(
            {
                "case": botocore_case,
                "aiobotocore_requests_per_s": e2e_rows[botocore_case]["requests_per_s"],
                "aiodynamo_requests_per_s": e2e_rows[dynamo_case]["requests_per_s"],
                "ratio": times,
                "target": E2E_AIODYNAMO_VS_AIOBOTOCORE if has_target else None,
                "met": _at_least(times, E2E_AIODYNAMO_VS_AIOBOTOCORE) if has_target else None,
            }
        )
    return {
        "before": {
            "source": before_name,
            "started_at": before.get("started_at"),
            "unchanged_variants_cpu_vs_before": statistics.median(control) if control else None,
        }
        if before
        else None,
        "aiodynamo": aiodynamo,
        "cpu": cpu,
        "e2e": e2e,
    }


def write_json(document: dict[str, Any], path: Path) -> None:
    """Write the results document (see the README for its fields)."""
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _x(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}x"


def _loads(document: dict[str, Any], when: str) -> str:
    values = (document.get("load_average") or {}).get(when)
    return "/".join(f"{value:.2f}" for value in values) if values else "unknown"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def expectations(results: list[dict[str, Any]], concurrencies: Sequence[int]) -> list[dict[str, Any]]:
    """store-orjson against raw-aiobotocore (p50 and CPU per op) for get, set and touch on the small payload."""
    rows = []
    for concurrency in concurrencies:
        for op in EXPECTATION_OPS:
            ours = lookup(results, "store-orjson", op, "small", concurrency)
            floor = lookup(results, "raw-aiobotocore", op, "small", concurrency)
            if not ours or not floor:
                continue
            p50 = ratio(ours["p50_ms"], floor["p50_ms"])
            cpu = ratio(ours["cpu_us_per_op"], floor["cpu_us_per_op"])
            rows.append(
                {
                    "op": op,
                    "concurrency": concurrency,
                    "p50_ratio": p50,
                    "cpu_ratio": cpu,
                    "within_bound": p50 is not None
                    and cpu is not None
                    and p50 <= EXPECTATION_BOUND
                    and cpu <= EXPECTATION_BOUND,
                }
            )
    return rows


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


TARGET_MET = "met"
TARGET_MISSED = "missed (a measured gap)"
"""How a report cell reads a target: a benchmark measures, so a missed target is a finding, never an error."""


def _met(value: bool | None) -> str:
    return {True: TARGET_MET, False: TARGET_MISSED}.get(value, "-") if value is not None else "-"


def _targets_markdown(targets: dict[str, Any]) -> list[str]:
    out = ["## Backend and client-tuning targets", ""]
    if targets["aiodynamo"]:
        top = targets["aiodynamo"][0]["concurrency"]
        out += [
            f"store-aiodynamo ops/s at concurrency {top}: at least {AIODYNAMO_VS_STORE_ORJSON}x store-orjson and "
            f"{AIODYNAMO_VS_RAW_HTTP}x raw-http (the target is set on get, set and touch, for a 200 B item: the "
            "small payload). raw-http / store-orjson is the most any client could reach in "
            "the same run: where the server, not the client, sets the pace, it is low for everyone.",
            "",
        ]
        out += _table(
            [
                "op",
                "payload",
                "store-aiodynamo ops/s",
                "store-orjson ops/s",
                "raw-http ops/s",
                "/ store-orjson",
                "/ raw-http",
                "target",
                "raw-http / store-orjson",
            ],
            (
                [
                    row["op"],
                    row["payload"],
                    _us(row["ops_per_s"]),
                    _us(row["store_orjson_ops_per_s"]),
                    _us(row["raw_http_ops_per_s"]),
                    _x(row["vs_store_orjson"]),
                    _x(row["vs_raw_http"]),
                    _met(row["met"]),
                    _x(row.get("raw_http_vs_store_orjson")),
                ]
                for row in targets["aiodynamo"]
            ),
            "ll" + "r" * 7,
        )
        out.append("")
    if targets["cpu"]:
        before = targets.get("before")
        source = (
            f"`{before['source']}`, the committed run of {before['started_at']} before the tuning (another time, "
            "another machine load)"
            if before
            else "no earlier run found"
        )
        drift = before.get("unchanged_variants_cpu_vs_before") if before else None
        drift_text = (
            f" The variants the tuning did not change ({', '.join(UNCHANGED_VARIANTS)}) ran at {_x(drift)} of "
            "their CPU per operation in that run (median over cells): that much of now / before is the machine."
            if drift is not None
            else ""
        )
        out += [
            "store-orjson CPU µs per operation, lower than before the client tuning. Before: "
            f"{source}; and, in this run's own rounds, raw-aiobotocore-default, the same calls on the client "
            f"configuration the store used before (the steadier comparison: same time, same load).{drift_text}",
            "",
        ]
        out += _table(
            [
                "op",
                "payload",
                "c",
                "store-orjson now",
                "before",
                "now / before",
                "raw-aiobotocore-default",
                "now / default",
                "raw-aiobotocore",
                "now / raw-aiobotocore",
            ],
            (
                [
                    row["op"],
                    row["payload"],
                    str(row["concurrency"]),
                    _us(row["cpu_us_per_op"]),
                    _us(row["before_cpu_us_per_op"]),
                    _x(row["vs_before"]),
                    _us(row["raw_aiobotocore_default_cpu_us_per_op"]),
                    _x(row["vs_raw_aiobotocore_default"]),
                    _us(row["raw_aiobotocore_cpu_us_per_op"]),
                    _x(row["vs_raw_aiobotocore"]),
                ]
                for row in targets["cpu"]
            ),
            "lll" + "r" * 7,
        )
        out.append("")
    if targets["e2e"]:
        out += [
            f"End to end, requests/s on the aiodynamo backend against aiobotocore (session-read: at least "
            f"{E2E_AIODYNAMO_VS_AIOBOTOCORE}x).",
            "",
        ]
        out += _table(
            ["case", "aiobotocore req/s", "aiodynamo req/s", "aiodynamo / aiobotocore", "target", "target met?"],
            (
                [
                    row["case"],
                    _us(row["aiobotocore_requests_per_s"]),
                    _us(row["aiodynamo_requests_per_s"]),
                    _x(row["ratio"]),
                    "-" if row["target"] is None else f"{row['target']}x",
                    _met(row["met"]),
                ]
                for row in targets["e2e"]
            ),
        )
        out.append("")
    return out


def _item_size_markdown(results: list[dict[str, Any]]) -> list[str]:
    sized = [row for row in results if "item_bytes" in row and row["op"] == "set"]
    if not sized:
        return []
    concurrencies = sorted({row["concurrency"] for row in sized})
    header = ["variant", "payload", "item bytes", "write units"]
    for concurrency in concurrencies:
        header += [f"set p50 ms c={concurrency}", f"set CPU µs c={concurrency}"]
    rows = []
    for variant in dict.fromkeys(row["variant"] for row in sized):
        for payload in ("small", "large"):
            cells = [row for row in sized if row["variant"] == variant and row["payload"] == payload]
            if not cells:
                continue
            size = cells[0]["item_bytes"]
            line = [variant, payload, str(size), str(write_units(size))]
            for concurrency in concurrencies:
                row = next((r for r in cells if r["concurrency"] == concurrency), None)
                line += ["-", "-"] if row is None else [_ms(row["p50_ms"]), f"{row['cpu_us_per_op']:.0f}"]
            rows.append(line)
    return [
        "## Stored item size",
        "",
        "The item each variant's `set` stored, read back from the table and sized by DynamoDB's rules (attribute "
        "names included); a write costs one write unit per started KB.",
        "",
        *_table(header, rows, "ll" + "r" * (len(header) - 2)),
        "",
    ]


def write_markdown(document: dict[str, Any], path: Path, *, chart_name: str | None) -> None:
    """Write the figures of ``document`` as markdown tables."""
    results: list[dict[str, Any]] = document["results"]
    settings = document["settings"]
    machine = document["machine"]
    server = document["server"]
    out: list[str] = ["# tornado_dynasession benchmark results", ""]
    server_text = f"{server['name']} {server.get('version') or ''}".strip()
    if server.get("storage"):
        server_text += f" ({server['storage']})"
    out += [
        f"- **Machine:** {machine['name']}; {machine['os']}; {machine['python']}.",
        f"- **Server:** {server_text} at {server['endpoint']}, on the same machine.",
        f"- **Run:** {document['started_at']}, {document['duration_s']:.0f} s in all"
        f"{' (quick mode)' if settings['quick'] else ''}; {settings['rounds']} round(s) of "
        f"{settings['ops_per_batch']} operations per variant and cell, after {settings['warmup_ops']} warm-up "
        "operations; variants interleaved in every round.",
        f"- **Load average** (1, 5, 15 min) when the run started {_loads(document, 'start')} (other work on the "
        f"machine), when it ended {_loads(document, 'end')} (the run itself keeps about 2 busy).",
        "- **Packages:** "
        + ", ".join(f"{name} {version}" for name, version in machine["packages"].items() if version)
        + ".",
        f"- **Payloads:** small {document['payload_bytes']['small']} B, large {document['payload_bytes']['large']} B "
        "of JSON.",
        "",
        "Latencies are per operation, in ms; CPU is this process's CPU time (user + system) per operation, in µs "
        "(the server runs in another process). Ratios divide a variant's figure by the baseline's in the same cell: "
        "below 1.00x is faster or cheaper, except for ops/s where above 1.00x is faster.",
        "",
    ]
    if chart_name:
        out += [f"![latency percentiles and end-to-end requests/s]({chart_name})", ""]

    concurrencies = sorted({row["concurrency"] for row in results})
    checks = expectations(results, concurrencies)
    if checks:
        out += ["## Expectations", "", "store-orjson against raw-aiobotocore, small payload (target: 1.10x).", ""]
        out += _table(
            ["op", "concurrency", "p50 ratio", "CPU ratio", "target 1.10x"],
            (
                [
                    c["op"],
                    str(c["concurrency"]),
                    _x(c["p50_ratio"]),
                    _x(c["cpu_ratio"]),
                    _met(c["within_bound"]),
                ]
                for c in checks
            ),
        )
        out.append("")
    top = max(concurrencies) if concurrencies else None
    ours = lookup(results, "store-orjson", "get", "small", top) if top else {}
    http = lookup(results, "raw-http", "get", "small", top) if top else {}
    if ours and http:
        out += [
            f"**The gap to the physical floor** (get, small payload, concurrency {top}): store-orjson / raw-http is "
            f"{_x(ratio(ours['p50_ms'], http['p50_ms']))} at p50, "
            f"{_x(ratio(ours['cpu_us_per_op'], http['cpu_us_per_op']))} in CPU per operation and "
            f"{_x(ratio(ours['ops_per_s'], http['ops_per_s']))} in ops/s.",
            "",
        ]

    from .floors import floor_markdown  # here: floors imports this module's table helpers

    out += floor_markdown(document.get("floor_targets"))
    targets = document.get("backend_targets")
    if targets:
        out += _targets_markdown(targets)
    sizes = _item_size_markdown(results)
    if sizes:
        out += sizes

    out += ["## Variants", ""]
    out += _table(["variant", "what it is"], ([name, text] for name, text in document["variants"].items()), "ll")
    out.append("")
    if document["skipped"]:
        out += ["Skipped:", ""]
        out += _table(["variant", "why"], ([name, why] for name, why in document["skipped"].items()), "ll")
        out.append("")

    out += ["## Operations", ""]
    for payload in ("small", "large"):
        for concurrency in concurrencies:
            block = [r for r in results if r["payload"] == payload and r["concurrency"] == concurrency]
            if not block:
                continue
            out += [f"### {payload} payload, concurrency {concurrency}", ""]
            header = ["op", "variant", "p50 ms", "p95 ms", "p99 ms", "max ms", "ops/s", "CPU µs/op"]
            for base in BASELINES:
                short = base.removeprefix("raw-")
                header += [f"p50 / {short}", f"ops/s / {short}", f"CPU / {short}"]
            rows = []
            for row in block:
                cells = [
                    row["op"],
                    row["variant"],
                    _ms(row["p50_ms"]),
                    _ms(row["p95_ms"]),
                    _ms(row["p99_ms"]),
                    _ms(row["max_ms"]),
                    f"{row['ops_per_s']:.0f}",
                    f"{row['cpu_us_per_op']:.0f}",
                ]
                for base in BASELINES:
                    floor = lookup(results, base, row["op"], payload, concurrency)
                    cells += [
                        _x(ratio(row["p50_ms"], floor.get("p50_ms"))),
                        _x(ratio(row["ops_per_s"], floor.get("ops_per_s"))),
                        _x(ratio(row["cpu_us_per_op"], floor.get("cpu_us_per_op"))),
                    ]
                rows.append(cells)
            out += _table(header, rows, "ll" + "r" * (len(header) - 2))
            out.append("")

    e2e = document.get("e2e") or []
    out += ["## End to end", ""]
    if e2e:
        first = e2e[0]
        out += [
            f"The example app (`examples/tornado_app.py`) in this process, loaded by {first['load_generator']} with "
            f"{document['settings']['e2e_connections']} connections for {document['settings']['e2e_duration_s']:g} s "
            "per case. Store calls are counted at the store's backend, per request the app served; app CPU is this "
            'process\'s CPU time per request (the load generator runs in another process). "sets a cookie" is '
            "whether a probe request of the case got a Set-Cookie header.",
            "",
        ]
        kinds = list(dict.fromkeys(kind for row in e2e for kind in row["store_calls_per_request"]))
        header = ["case", "requests/s", "p50 ms", "p99 ms", *[f"{k}/req" for k in kinds], "app CPU µs/req", "non-2xx"]
        header.append("sets a cookie")
        rows = [
            [
                f"{row['case']}",
                f"{row['requests_per_s']:.0f}",
                _ms(row["p50_ms"]),
                _ms(row["p99_ms"]),
                *[f"{row['store_calls_per_request'].get(k, 0.0):.2f}" for k in kinds],
                f"{row['app_cpu_us_per_request']:.0f}",
                str(row["non_2xx"]),
                {True: "yes", False: "no"}.get(row.get("response_sets_cookie"), "-"),
            ]
            for row in e2e
        ]
        out += _table(header, rows)
        out += ["", "Cases:", ""]
        out += [f"- `{row['case']}`: {row['description']}." for row in e2e]
        out.append("")
    else:
        out += [f"Not run: {document['skipped'].get('e2e', 'disabled with --no-e2e')}.", ""]
    out += _cost_markdown(document)
    out += _one_call_markdown(document.get("one_call_targets"))
    out += ["## In one sentence", "", verdict(document), ""]
    path.write_text("\n".join(out))


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.3f}"


def _calls(calls: dict[str, float]) -> str:
    total = sum(calls.values())
    parts = ", ".join(f"{kind} {count:.2f}" for kind, count in calls.items() if count)
    return f"{total:.2f} ({parts})" if parts else f"{total:.2f}"


def _prices(document: dict[str, Any]) -> dict[str, Any]:
    prices: dict[str, Any] = document.get("prices") or dataclasses.asdict(PRICES)
    return prices


def _cost_markdown(document: dict[str, Any]) -> list[str]:
    e2e: list[dict[str, Any]] = document.get("e2e") or []
    if not e2e or "usd_per_million_requests" not in e2e[0]:
        return []
    express: list[dict[str, Any]] = document.get("express_store_computed") or []
    prices = _prices(document)
    rows = []
    placed: set[str] = set()
    for row in e2e:
        twin = express_twin(row, express)
        rows.append(
            [
                row["case"],
                "measured",
                _calls(row["store_calls_per_request"]),
                f"{row['read_units_per_request']:.2f}",
                f"{row['write_units_per_request']:.2f}",
                _usd(row["usd_per_million_requests"]),
                _x(ratio(row["usd_per_million_requests"], twin["usd_per_million_requests"])) if twin else "-",
            ]
        )
        if twin and twin["computed_from"] == row["case"] and twin["case"] not in placed:
            placed.add(twin["case"])
            rows.append(
                [
                    twin["case"],
                    f"computed ({twin['item_bytes']} B item)",
                    _calls(twin["store_calls_per_request"]),
                    f"{twin['read_units_per_request']:.2f}",
                    f"{twin['write_units_per_request']:.2f}",
                    _usd(twin["usd_per_million_requests"]),
                    "1.00x",
                ]
            )
    return [
        "## What a request costs",
        "",
        "DynamoDB request units per request the app served, computed from the sizes of the items the store's "
        "backend read and wrote, by DynamoDB's rules (the server here does not bill): a strongly consistent GetItem "
        "is 1 read unit per started 4 KB of the item; a write (PutItem, UpdateItem, DeleteItem, also one whose "
        "condition failed) is 1 write unit per started KB of the larger of the item before and after, at least 1; "
        "the item an UpdateItem returns costs nothing more. Where a write replaces an item the call does not carry, "
        "the size last seen for that key stands in. The express-store rows are computed, not measured: the "
        "Node/express DynamoDB stores' GetItem and unconditional write on every request (PutItem of the whole "
        "session, or a touch UpdateItem), for an item of the size our case above read and wrote. "
        '"/ express store" divides a row\'s dollars by those of the express-store pattern for the same request.',
        "",
        *_table(
            [
                "case",
                "measured or computed",
                "DynamoDB calls per request",
                "read units",
                "write units",
                "$ per million requests",
                "/ express store",
            ],
            rows,
            "llrrrrr",
        ),
        "",
        f"Prices: DynamoDB on-demand, {prices['region']}, standard table class: "
        f"${prices['usd_per_million_read_units']} per million read request units and "
        f"${prices['usd_per_million_write_units']} per million write request units, in effect since "
        f"{prices['effective']}; checked {prices['checked']} against {prices['source']}.",
        "",
    ]


def _one_call_markdown(targets: dict[str, Any] | None) -> list[str]:
    if not targets or all(check["measured"] is None for check in targets.get("checks") or []):
        return []
    rows = []
    for check in targets["checks"]:
        if check["measure"] == "store_calls_per_request":
            what = "DynamoDB calls per request"
            measured = "-" if check["measured"] is None else f"{check['measured']:.2f}"
        else:
            what = "requests/s / no-session"
            measured = _x(check["measured"])
            if check.get("requests_per_s") is not None and check.get("no_session_requests_per_s") is not None:
                measured += f" ({check['requests_per_s']:.0f} / {check['no_session_requests_per_s']:.0f})"
        rows.append([check["case"], what, measured, check["target"], _met(check["met"])])
    bounds = " and ".join(f"{case} at least {bound:.2f}x" for case, bound in VS_NO_SESSION.items())
    return [
        "## One-call targets",
        "",
        f"At {targets.get('connections') or '-'} connections, this run's own end-to-end figures: a session read "
        "makes exactly one DynamoDB call per request (all kinds summed, within rounding: 1.00 ± 0.005), and serves "
        f"a set fraction of the no-session route's requests/s ({bounds}). A report, not a pass/fail gate.",
        "",
        *_table(["case", "measure", "measured", "target", "target met?"], rows, "llrrl"),
        "",
    ]


def verdict(document: dict[str, Any]) -> str:
    """One plain sentence on what the figures mean for someone choosing a backend."""
    rows = {row["case"]: row for row in document.get("e2e") or []}
    read = rows.get("session-read")
    if read is None or "usd_per_million_requests" not in read:
        return (
            "This run has no end-to-end session-read figures, so it says nothing about which backend to choose or "
            "what a session costs per request."
        )
    dynamo = rows.get("session-read-aiodynamo")
    if dynamo is None:
        choice = (
            "only the default aiobotocore backend was measured end to end here (the aiodynamo backend was not "
            f"available), serving {read['requests_per_s']:.0f} session reads per second"
        )
    else:
        times = ratio(dynamo["requests_per_s"], read["requests_per_s"]) or 0.0
        figures = f"{dynamo['requests_per_s']:.0f} vs {read['requests_per_s']:.0f} requests/s"
        if times >= 1.05:
            choice = (
                f'pick backend="aiodynamo" (the aiodynamo extra) where you can, since it served {times:.2f}x the '
                f"session reads per second of the default aiobotocore backend on this machine ({figures})"
            )
        elif times <= 0.95:
            choice = (
                f"keep the default aiobotocore backend, which served {1 / times if times else math.inf:.2f}x the "
                "session reads per second of the aiodynamo backend on this machine "
                f"({read['requests_per_s']:.0f} vs {dynamo['requests_per_s']:.0f} requests/s)"
            )
        else:
            choice = (
                "either backend will do, since they served session reads at about the same rate on this machine "
                f"({figures} for aiodynamo and aiobotocore)"
            )
        if abs(dynamo["usd_per_million_requests"] - read["usd_per_million_requests"]) < 0.0005:
            choice += ", for the same DynamoDB bill"
        else:
            choice += (
                f", at {_usd(dynamo['usd_per_million_requests'])} against {_usd(read['usd_per_million_requests'])} "
                "per million requests"
            )
    express = next(
        (row for row in document.get("express_store_computed") or [] if row["computed_from"] == read["case"]), None
    )
    cost = f"a session read costs {_usd(read['usd_per_million_requests'])} per million requests with touch_after=0"
    extras = []
    lazy = rows.get("session-read-touch-after-60s")
    if lazy and "usd_per_million_requests" in lazy:
        extras.append(f"{_usd(lazy['usd_per_million_requests'])} with touch_after=60 s")
    if express:
        extras.append(f"against {_usd(express['usd_per_million_requests'])} for the express-store pattern")
    if extras:
        cost += f" ({', '.join(extras)})"
    modify = rows.get("session-modify")
    if modify and "usd_per_million_requests" in modify:
        cost += f" and a request that changes the session {_usd(modify['usd_per_million_requests'])}"
    prices = _prices(document)
    return f"For choosing a backend: {choice}; {cost}, at {prices['region']} on-demand prices."
