"""The PNG chart: latency percentiles per variant and operation (one panel per payload, concurrency and operation),
and the end-to-end requests/s per case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

__all__ = ["write_chart"]

_MARKERS = (("p50_ms", "o", "p50"), ("p95_ms", "s", "p95"), ("p99_ms", "^", "p99"), ("max_ms", "x", "max"))


def write_chart(document: dict[str, Any], path: Path) -> None:
    """Draw the chart of ``document`` (the ``latest.json`` structure) into ``path``."""
    results: list[dict[str, Any]] = document["results"]
    e2e: list[dict[str, Any]] = document.get("e2e") or []
    variants = list(dict.fromkeys(row["variant"] for row in results))
    ops = list(dict.fromkeys(row["op"] for row in results))
    blocks = list(dict.fromkeys((row["payload"], row["concurrency"]) for row in results))
    colours = {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(variants)}

    rows = len(blocks) + (1 if e2e else 0)
    cols = max(len(ops), 1)
    height_ratios = [1.0] * len(blocks) + ([1.1] if e2e else [])
    height = 0.32 * max(len(variants), 4) * rows + 1.1 * rows + 2.0  # inches
    fig = plt.figure(figsize=(4.6 * cols + 1.5, height))
    grid = fig.add_gridspec(
        rows,
        cols,
        height_ratios=height_ratios or [1.0],
        hspace=0.55,
        wspace=0.08,
        top=1 - 1.25 / height,
        bottom=0.75 / height,
    )
    machine = document["machine"]
    server = document["server"]
    fig.suptitle(
        f"tornado_dynasession benchmarks - {machine['name']} - {server['name']} {server.get('version') or ''}\n"
        "latency per operation in ms (log scale): o p50, square p95, triangle p99, x max",
        fontsize=12,
    )

    for block_index, (payload, concurrency) in enumerate(blocks):
        shared = None
        for op_index, op in enumerate(ops):
            ax = fig.add_subplot(grid[block_index, op_index], sharey=shared, sharex=None)
            shared = shared or ax
            for y, name in enumerate(variants):
                row = next(
                    (
                        r
                        for r in results
                        if (r["variant"], r["op"], r["payload"], r["concurrency"]) == (name, op, payload, concurrency)
                    ),
                    None,
                )
                if row is None:
                    continue
                colour = colours[name]
                ax.plot([row["p50_ms"], row["p99_ms"]], [y, y], color=colour, linewidth=2.5, alpha=0.6)
                for field, marker, _label in _MARKERS:
                    ax.plot(row[field], y, marker=marker, color=colour, markersize=6, linestyle="none")
                ax.annotate(
                    f"{row['p50_ms']:.2f}",
                    (row["p50_ms"], y),
                    textcoords="offset points",
                    xytext=(0, 5),
                    ha="center",
                    fontsize=7,
                    color=colour,
                )
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_ylim(len(variants) - 0.5, -0.6)
            ax.set_yticks(range(len(variants)))
            if op_index == 0:
                ax.set_yticklabels(variants, fontsize=9)
                ax.set_ylabel(f"{payload}, c={concurrency}", fontsize=10)
            else:
                ax.tick_params(labelleft=False)
            ax.set_title(f"{op} - {payload} payload, concurrency {concurrency}", fontsize=10)
            ax.grid(True, axis="x", which="both", alpha=0.3)
            ax.tick_params(axis="x", labelsize=8)

    if e2e:
        ax = fig.add_subplot(grid[len(blocks), :])
        cases = [row["case"] for row in e2e]
        rates = [row["requests_per_s"] for row in e2e]
        backends = [row.get("backend", "aiobotocore") for row in e2e]
        colours_by_backend = ["tab:orange" if backend == "aiodynamo" else "tab:blue" for backend in backends]
        bars = ax.barh(range(len(cases)), rates, color=colours_by_backend, alpha=0.75)
        ax.set_yticks(range(len(cases)))
        ax.set_yticklabels(cases, fontsize=9)
        ax.invert_yaxis()
        ax.set_xlabel("requests/s (higher is better)")
        ax.set_title(
            f"end to end: examples/tornado_app.py under {e2e[0]['load_generator']}, "
            f"{document['settings']['e2e_connections']} connections; store backend aiobotocore (blue) or "
            "aiodynamo (orange)",
            fontsize=10,
        )
        for bar, row in zip(bars, e2e, strict=True):
            calls = ", ".join(
                f"{kind} {count:.2f}" for kind, count in row["store_calls_per_request"].items() if count >= 0.005
            )
            ax.annotate(
                f"  {row['requests_per_s']:.0f}/s, p99 {row['p99_ms']:.1f} ms; per request: {calls or 'no store call'}",
                (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                va="center",
                fontsize=8,
            )
        ax.set_xlim(0, max(rates) * 1.9 if rates else 1)
        ax.grid(True, axis="x", alpha=0.3)

    handles = [Line2D([], [], color=colours[name], linewidth=3, label=name) for name in variants]
    handles += [Line2D([], [], color="grey", marker=m, linestyle="none", label=label) for _, m, label in _MARKERS]
    fig.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), fontsize=9, frameon=False
    )
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
