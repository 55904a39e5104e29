"""``python -m benchmarks``: start the server, create the table, measure, write the outputs, clean up.

By default it starts the embedded dynalite (``tornado_dynasession.local.DynaliteServer``) on 127.0.0.1 and ignores
``DYNAMODB_ENDPOINT``; ``--endpoint URL`` points it at any other DynamoDB-compatible server instead. It creates a
table of its own and drops it at the end, unless ``--table`` names one that exists (then only the items it wrote
are deleted).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import secrets
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from tornado_dynasession.local import DynaliteServer, LocalServerError
from tornado_dynasession.tables import create_table, delete_table

from .chart import write_chart
from .console import make_progress, print_document
from .cost import PRICES, express_store_rows, one_call_targets
from .e2e import CASES, DEFAULT_APP, E2ESettings, run_e2e
from .floors import floor_targets
from .machine import describe_machine, describe_server
from .payloads import PAYLOADS, encoded_size
from .report import backend_targets, load_before, write_json, write_markdown
from .runner import OPS, MicroPlan, MicroRunner
from .seed import Seeder
from .variants import REGISTRY, BenchContext, Variant, is_loopback, ordered

__all__ = ["main", "parse_args"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"

BEFORE_CLIENT_TUNING = RESULTS_DIR / "before-client-tuning.json"
"""The committed full run from before the client CPU tuning and the aiodynamo backend: the "before" of the backend
targets."""

BEFORE_WIRE_LAYER = RESULTS_DIR / "before-wire-layer.json"
"""A committed run of store-orjson, store-aiodynamo and the floors from before the one wire layer under every
backend: the "before" of the no-regression check on store-aiodynamo (see ``benchmarks/floors.py``)."""

FULL = MicroPlan(rounds=8, ops_per_batch=220, warmup_ops=200, payloads=("small", "large"))
"""The full run's plan: 1,760 operations per variant and cell in 8 short rounds (short, so that a burst of load
from elsewhere on the machine hits every variant alike); under 10 minutes on a 2-core machine, end to end
included."""

QUICK = MicroPlan(rounds=1, ops_per_batch=60, warmup_ops=20, pool_size=64, payloads=("small",))
"""``--quick``: one round, small payload only; well under a minute in all, for smoke runs in CI."""


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _concurrencies(text: str) -> list[int]:
    try:
        values = [int(part) for part in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(value < 1 for value in values):
        raise argparse.ArgumentTypeError("concurrency values must be integers >= 1")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; see ``python -m benchmarks --help``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark tornado_dynasession against its floors and alternatives, then end to end.",
    )
    where = parser.add_argument_group("where")
    where.add_argument(
        "--endpoint",
        metavar="URL",
        help="a running DynamoDB-compatible server (default: start the embedded dynalite; DYNAMODB_ENDPOINT is "
        "ignored)",
    )
    where.add_argument("--region", help="AWS region (default: the AWS configuration, or us-east-1 on loopback)")
    where.add_argument(
        "--table", help="an existing table to use (default: create bench-<random> and drop it at the end)"
    )
    where.add_argument("--hash-key", default="SessionID", help="the table's hash key attribute (default SessionID)")

    what = parser.add_argument_group("what")
    what.add_argument("--quick", action="store_true", help="one short round, small payload: well under 60 s")
    what.add_argument(
        "--variants",
        type=_csv,
        default=None,
        help=f"comma-separated subset of: {', '.join(ordered())} (default: all)",
    )
    what.add_argument("--ops", type=_csv, default=None, help="comma-separated subset of get,set,touch,destroy")
    what.add_argument("--payloads", type=_csv, default=None, help="small,large (quick: small)")
    what.add_argument(
        "--concurrency", type=_concurrencies, default=None, help="calls in flight, comma-separated (default 1,32)"
    )
    what.add_argument("--rounds", type=int, help=f"rounds (default {FULL.rounds}; quick {QUICK.rounds})")
    what.add_argument(
        "--ops-per-batch",
        type=int,
        help=f"operations per variant, cell and round (default {FULL.ops_per_batch}; quick {QUICK.ops_per_batch})",
    )
    what.add_argument("--warmup", type=int, help="warm-up operations per variant and operation")
    what.add_argument(
        "--aiodynamo-http", choices=("aiohttp", "httpx"), default="aiohttp", help="aiodynamo's HTTP adapter"
    )

    e2e = parser.add_argument_group("end to end")
    e2e.add_argument(
        "--e2e", action=argparse.BooleanOptionalAction, default=True, help="run the end-to-end cases (default on)"
    )
    e2e.add_argument("--e2e-duration", type=float, help="seconds of load per case (default 8; quick 1)")
    e2e.add_argument("--e2e-connections", type=int, default=32, help="concurrent connections (default 32)")
    e2e.add_argument("--e2e-app", type=Path, default=DEFAULT_APP, help="the app file defining make_app")
    e2e.add_argument(
        "--load-generator",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="wrk, or the asyncio generator in benchmarks.loadgen (auto: wrk if on PATH)",
    )

    out = parser.add_argument_group("output")
    out.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help=f"where latest.json/.md/.png go (default {RESULTS_DIR}; with --quick, a new temporary folder, so that a "
        "smoke run never overwrites the committed results)",
    )
    out.add_argument("--machine-name", help="how the report names this machine (default: CPU, cores, memory)")
    args = parser.parse_args(argv)

    unknown = [name for name in args.variants or [] if name not in REGISTRY]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(ordered())}")
    bad_ops = [op for op in args.ops or [] if op not in OPS]
    if bad_ops:
        parser.error(f"unknown op(s) {', '.join(bad_ops)}; known: {', '.join(OPS)}")
    bad_payloads = [p for p in args.payloads or [] if p not in PAYLOADS]
    if bad_payloads:
        parser.error(f"unknown payload(s) {', '.join(bad_payloads)}; known: small, large")
    for name in ("rounds", "ops_per_batch", "e2e_connections"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup is not None and args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    return args


@dataclass(frozen=True)
class Settings:
    """Everything the run needs, resolved from the command line."""

    plan: MicroPlan
    variants: list[str]
    e2e: E2ESettings | None
    endpoint: str | None
    region: str | None
    table: str | None
    hash_key: str
    aiodynamo_http: str
    output_dir: Path
    machine_name: str | None
    quick: bool
    output_dir_is_temporary: bool = False


def resolve(args: argparse.Namespace) -> Settings:
    """Apply the mode's defaults (full or quick) under the explicit options."""
    base = QUICK if args.quick else FULL
    plan = replace(
        base,
        ops=tuple(op for op in OPS if op in args.ops) if args.ops else base.ops,
        payloads=tuple(args.payloads) if args.payloads else base.payloads,
        concurrencies=tuple(args.concurrency) if args.concurrency else base.concurrencies,
        rounds=args.rounds or base.rounds,
        ops_per_batch=args.ops_per_batch or base.ops_per_batch,
        warmup_ops=base.warmup_ops if args.warmup is None else args.warmup,
    )
    plan = replace(plan, pool_size=max(plan.pool_size, 2 * max(plan.concurrencies)))
    e2e = None
    if args.e2e:
        e2e = E2ESettings(
            app_path=args.e2e_app,
            duration=args.e2e_duration or (1.0 if args.quick else 8.0),
            warmup=0.0 if args.quick else 1.0,
            connections=args.e2e_connections,
            generator=args.load_generator,
            cases=CASES,
        )
    output_dir = args.output_dir
    if output_dir is None:
        output_dir = Path(tempfile.mkdtemp(prefix="tornado_dynasession-bench-quick-")) if args.quick else RESULTS_DIR
    return Settings(
        plan=plan,
        variants=ordered(args.variants) if args.variants else ordered(),
        e2e=e2e,
        endpoint=args.endpoint,
        region=args.region,
        table=args.table,
        hash_key=args.hash_key,
        aiodynamo_http=args.aiodynamo_http,
        output_dir=output_dir,
        machine_name=args.machine_name,
        quick=args.quick,
        output_dir_is_temporary=args.quick and args.output_dir is None,
    )


async def _open_variants(ctx: BenchContext, names: list[str], skipped: dict[str, str]) -> dict[str, Variant]:
    opened: dict[str, Variant] = {}
    for name in names:
        cls = REGISTRY[name]
        reason = cls.unavailable(ctx)
        if reason:
            skipped[name] = reason
            continue
        variant = cls(ctx)
        try:
            await variant.open()
        except Exception as exc:
            skipped[name] = f"could not open: {type(exc).__name__}: {exc}"
            with contextlib.suppress(Exception):
                await variant.close()
            continue
        opened[name] = variant
    return opened


async def run(
    settings: Settings, endpoint_url: str, embedded: bool, console: Console, phases: dict[str, float]
) -> dict[str, Any]:
    """Everything after the server is up: table, variants, rounds, end to end, clean-up. Returns the document;
    ``phases`` gets each phase's duration in seconds."""
    started = mark = time.monotonic()
    load_at_start = os.getloadavg()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        phases[name] = round(now - mark, 2)
        mark = now

    started_at = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    table = settings.table or f"bench-{secrets.token_hex(4)}"
    setup = await create_table(
        table, hash_key=settings.hash_key, endpoint_url=endpoint_url, region_name=settings.region
    )
    ctx = BenchContext(
        endpoint_url=endpoint_url,
        region_name=settings.region,
        table=table,
        hash_key=settings.hash_key,
        loopback=is_loopback(endpoint_url),
        aiodynamo_http=settings.aiodynamo_http,
    )
    skipped: dict[str, str] = {}
    results: list[dict[str, Any]] = []
    e2e_rows: list[dict[str, Any]] = []
    variants: dict[str, Variant] = {}
    plan = settings.plan
    try:
        variants = await _open_variants(ctx, settings.variants, skipped)
        async with Seeder(
            endpoint_url=endpoint_url,
            region_name=settings.region,
            table=table,
            hash_key=settings.hash_key,
            max_age=ctx.max_age,
        ) as seeder:
            with make_progress(console) as progress:
                e2e_steps = len(settings.e2e.cases) if settings.e2e else 0
                task = progress.add_task("opening", total=plan.batches(len(variants)) + e2e_steps)

                def step(description: str, done: int) -> None:
                    progress.update(task, description=description, advance=done)

                runner = MicroRunner(plan, variants, seeder, key_for=ctx.template_store().key_for, on_progress=step)
                phase("setup")
                step("seeding and warming up", 0)
                outcome = await runner.run()
                results = outcome.results
                skipped.update(outcome.failed)
                phase("micro")
                if settings.e2e is not None:
                    try:
                        e2e_rows, _ = await run_e2e(ctx, settings.e2e, on_progress=step)
                    except Exception as exc:
                        skipped["e2e"] = f"{type(exc).__name__}: {exc}"
                    phase("e2e")
                progress.update(task, description="done", completed=progress.tasks[0].total)
            if not setup.created:
                await runner.clean_up()
    finally:
        for variant in variants.values():
            with contextlib.suppress(Exception):
                await variant.close()
        if setup.created:
            await delete_table(table, endpoint_url=endpoint_url, region_name=settings.region)
        phase("teardown")

    return {
        "started_at": started_at,
        "duration_s": time.monotonic() - started,
        "machine": describe_machine(settings.machine_name),
        "server": describe_server(endpoint_url, embedded=embedded),
        "settings": {
            "quick": settings.quick,
            "rounds": plan.rounds,
            "ops_per_batch": plan.ops_per_batch,
            "warmup_ops": plan.warmup_ops,
            "pool_size": plan.pool_size,
            "ops": list(plan.ops),
            "payloads": list(plan.payloads),
            "concurrency": list(plan.concurrencies),
            "table": table,
            "table_created": setup.created,
            "aiodynamo_http": settings.aiodynamo_http,
            "e2e_duration_s": settings.e2e.duration if settings.e2e else None,
            "e2e_connections": settings.e2e.connections if settings.e2e else None,
        },
        "phases_s": phases,
        "load_average": {"start": [round(x, 2) for x in load_at_start], "end": [round(x, 2) for x in os.getloadavg()]},
        "payload_bytes": {name: encoded_size(data) for name, data in PAYLOADS.items()},
        "variants": {name: REGISTRY[name].summary for name in settings.variants},
        "results": results,
        "e2e": e2e_rows,
        "skipped": skipped,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; 0 on success, 1 when nothing could be measured, 2 on a setup failure."""
    settings = resolve(parse_args(argv))
    console = Console()
    if not console.is_terminal:  # a log file or CI: wide enough for the tables
        console = Console(width=160)
    server: DynaliteServer | None = None
    started = time.monotonic()
    phases: dict[str, float] = {}
    if settings.endpoint:
        endpoint_url = settings.endpoint.rstrip("/")
    else:
        try:
            server = DynaliteServer()
            server.start()
        except LocalServerError as exc:
            console.print(f"[red]cannot start the embedded dynalite:[/] {exc}")
            return 2
        endpoint_url = server.endpoint_url
        phases["server_start"] = round(time.monotonic() - started, 2)
    console.print(
        f"benchmarking against {'dynalite at ' if server else ''}{endpoint_url}"
        f"{' (quick mode)' if settings.quick else ''}; results go to {settings.output_dir}"
        f"{' (a new temporary folder: pass --output-dir to choose one)' if settings.output_dir_is_temporary else ''}"
    )
    try:
        document = asyncio.run(run(settings, endpoint_url, server is not None, console, phases))
    finally:
        if server is not None:
            server.stop()
    phases["total"] = round(time.monotonic() - started, 2)
    document["duration_s"] = phases["total"]
    document["backend_targets"] = backend_targets(
        document, load_before(BEFORE_CLIENT_TUNING), BEFORE_CLIENT_TUNING.name
    )
    document["prices"] = asdict(PRICES)
    document["express_store_computed"] = express_store_rows(document["e2e"])
    document["one_call_targets"] = one_call_targets(document["e2e"])
    document["floor_targets"] = floor_targets(document, load_before(BEFORE_WIRE_LAYER))

    settings.output_dir.mkdir(parents=True, exist_ok=True)
    json_path = settings.output_dir / "latest.json"
    markdown_path = settings.output_dir / "latest.md"
    chart_path = settings.output_dir / "latest.png"
    write_json(document, json_path)
    chart_name: str | None = chart_path.name
    if document["results"] or document["e2e"]:
        write_chart(document, chart_path)
    else:
        chart_name = None
    write_markdown(document, markdown_path, chart_name=chart_name)
    print_document(console, document)
    timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())
    console.print(f"wrote {json_path}, {markdown_path}{', ' + str(chart_path) if chart_name else ''} ({timings})")
    if not document["results"]:
        console.print("[red]no variant could be measured[/]")
        return 1
    return 0
