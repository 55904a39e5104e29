"""The written outputs: ``latest.json`` and ``latest.md`` (the same figures as tables, with ratio columns)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["BASELINES", "EXPECTATION_OPS", "lookup", "ratio", "write_json", "write_markdown"]

BASELINES = ("raw-aiobotocore", "raw-http")
"""The floors every figure is compared with."""

EXPECTATION_OPS = ("get", "set", "touch")
"""The operations the issue sets a 1.10x bound on (store-orjson against raw-aiobotocore)."""

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
        out += ["## Expectations", "", "store-orjson against raw-aiobotocore, small payload (bound: 1.10x).", ""]
        out += _table(
            ["op", "concurrency", "p50 ratio", "CPU ratio", "within 1.10x"],
            (
                [
                    c["op"],
                    str(c["concurrency"]),
                    _x(c["p50_ratio"]),
                    _x(c["cpu_ratio"]),
                    "yes" if c["within_bound"] else "**no**",
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
    path.write_text("\n".join(out))
