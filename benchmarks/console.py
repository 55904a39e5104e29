"""The terminal output: a progress bar while the run goes, and rich tables of the figures at the end."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .report import BASELINES, TARGET_MET, TARGET_MISSED, expectations, lookup, ratio

__all__ = ["make_progress", "print_document"]


def make_progress(console: Console) -> Progress:
    """A progress bar with the current step's description, count, elapsed and remaining time."""
    return Progress(
        TextColumn("[bold]{task.description:<52}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _target(met: bool | None) -> str:
    """A target's outcome, coloured: a missed one is a measured gap (yellow), not an error (red)."""
    return {True: f"[green]{TARGET_MET}", False: f"[yellow]{TARGET_MISSED}"}.get(met, "-") if met is not None else "-"


def _x(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}x"


def print_document(console: Console, document: dict[str, Any]) -> None:
    """Print the results, the end-to-end figures, the expectations and what was skipped."""
    results: list[dict[str, Any]] = document["results"]
    table = Table(
        title="operations (latency in ms, CPU in µs per op; p95 and max in latest.md)",
        header_style="bold",
        show_lines=False,
    )
    for column in ("op", "payload", "c", "variant"):
        table.add_column(column)
    for column in ("p50", "p99", "ops/s", "CPU µs"):
        table.add_column(column, justify="right")
    for base in BASELINES:
        table.add_column(f"p50 / {base.removeprefix('raw-')}", justify="right")
        table.add_column(f"CPU / {base.removeprefix('raw-')}", justify="right")
    previous = None
    ordered = sorted(results, key=lambda r: (r["payload"] != "small", r["concurrency"], r["op"]))
    for row in ordered:
        cell = (row["op"], row["payload"], row["concurrency"])
        if previous is not None and cell != previous:
            table.add_section()
        previous = cell
        ratios = []
        for base in BASELINES:
            floor = lookup(results, base, *cell)
            ratios += [
                _x(ratio(row["p50_ms"], floor.get("p50_ms"))),
                _x(ratio(row["cpu_us_per_op"], floor.get("cpu_us_per_op"))),
            ]
        style = "bold cyan" if row["variant"].startswith("store-") else None
        table.add_row(
            row["op"],
            row["payload"],
            str(row["concurrency"]),
            row["variant"],
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            f"{row['ops_per_s']:.0f}",
            f"{row['cpu_us_per_op']:.0f}",
            *ratios,
            style=style,
        )
    console.print(table)

    e2e: list[dict[str, Any]] = document.get("e2e") or []
    if e2e:
        kinds = list(dict.fromkeys(kind for row in e2e for kind in row["store_calls_per_request"]))
        e2e_table = Table(title=f"end to end ({e2e[0]['load_generator']})", header_style="bold")
        e2e_table.add_column("case")
        for column in ("req/s", "p50 ms", "p99 ms", *[f"{k}/req" for k in kinds], "app CPU µs/req", "non-2xx"):
            e2e_table.add_column(column, justify="right")
        for row in e2e:
            e2e_table.add_row(
                row["case"],
                f"{row['requests_per_s']:.0f}",
                f"{row['p50_ms']:.2f}",
                f"{row['p99_ms']:.2f}",
                *[f"{row['store_calls_per_request'].get(k, 0.0):.2f}" for k in kinds],
                f"{row['app_cpu_us_per_request']:.0f}",
                str(row["non_2xx"]),
            )
        console.print(e2e_table)

    checks = expectations(results, sorted({row["concurrency"] for row in results}))
    if checks:
        check_table = Table(title="store-orjson / raw-aiobotocore, small payload (target 1.10x)", header_style="bold")
        for column in ("op", "c", "p50", "CPU", "target"):
            check_table.add_column(column, justify="right" if column != "op" else "left")
        for check in checks:
            check_table.add_row(
                check["op"],
                str(check["concurrency"]),
                _x(check["p50_ratio"], 3),
                _x(check["cpu_ratio"], 3),
                _target(check["within_bound"]),
            )
        console.print(check_table)
    targets = document.get("backend_targets") or {}
    lines = [
        f"store-aiodynamo {row['op']} {row['payload']} c={row['concurrency']}: "
        f"{_x(row['vs_store_orjson'])} store-orjson, {_x(row['vs_raw_http'])} raw-http"
        for row in targets.get("aiodynamo", [])
    ]
    lines += [
        f"e2e {row['case']}: aiodynamo {_x(row['ratio'])} aiobotocore"
        + ("" if row["target"] is None else f" (target {row['target']}x)")
        for row in targets.get("e2e", [])
    ]
    for line in lines:
        console.print(f"[bold]backend targets[/] {line}")
    floors = document.get("floor_targets") or {}
    for row in floors.get("per_call", []):
        console.print(
            f"[bold]floor targets[/] store-aiohttp {row['op']} c={row['concurrency']}: "
            f"{_x(row['vs_raw_http']['store-aiohttp'])} raw-http CPU, target {row['target']}x: {_target(row['met'])}"
        )
    for row in floors.get("e2e", []):
        if row["target"] is not None:
            console.print(
                f"[bold]floor targets[/] e2e {row['case']}: {_x(row['vs_floor'])} {row['floor']} app CPU, "
                f"target {row['target']}x: {_target(row['met'])}"
            )
    for check in (document.get("one_call_targets") or {}).get("checks", []):
        measured = check["measured"]
        shown = "-" if measured is None else f"{measured:.2f}" + ("" if check["measure"].startswith("store") else "x")
        console.print(
            f"[bold]one-call targets[/] {check['case']} {check['measure']}: {shown}, "
            f"target {check['target']}: {_target(check['met'])}"
        )
    for row in e2e:
        if "usd_per_million_requests" in row:
            console.print(
                f"[bold]cost[/] {row['case']}: {row['read_units_per_request']:.2f} read + "
                f"{row['write_units_per_request']:.2f} write units, ${row['usd_per_million_requests']:.3f} per million"
            )
    for row in document.get("express_store_computed") or []:
        console.print(
            f"[bold]cost[/] {row['case']} (computed): {row['read_units_per_request']:.2f} read + "
            f"{row['write_units_per_request']:.2f} write units, ${row['usd_per_million_requests']:.3f} per million"
        )
    for name, why in document["skipped"].items():
        console.print(f"[yellow]skipped[/] {name}: {why}")
