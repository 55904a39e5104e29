"""What OpenTelemetry costs a store call: client CPU and wall time per ``get`` and ``touch``, by telemetry setting.

``python -m benchmarks.telemetry [--rounds N] [--baseline REV] [--output-dir DIR]`` measures, interleaved in rounds
(the order rotates each round, so a burst of load from elsewhere hits every setting alike), one call at a time:

- ``absent``: opentelemetry not importable (a child process whose import system refuses it): the store's methods
  are undecorated and a call pays one ``is None`` check. The floor every ratio is taken against;
- ``off``: opentelemetry installed, ``DynamoDBStore(telemetry=False)``;
- ``noop``: opentelemetry-api installed and no SDK configured (the default ``telemetry=True`` with the global
  providers unset): the API's no-op spans and instruments;
- ``sdk``: the SDK with a span processor exporting synchronously to memory, and an in-memory metric reader;
- ``baseline`` (with ``--baseline REV``): the package as it was at git revision REV, in a child process, e.g. the
  commit before telemetry, to show what the ``absent`` floor costs over no telemetry code at all.

on three backends: ``memory`` (an in-process fake that answers at once: the store's own Python cost, where the
difference shows most), the default aiobotocore client and the aiodynamo one, against a dynalite started for the run
(or ``$DYNAMODB_ENDPOINT``). Writes ``telemetry.json`` and ``telemetry.md``. No figure is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from tornado_dynasession import DynamoDBStore
from tornado_dynasession.local import dynamodb_endpoint
from tornado_dynasession.tables import create_table, delete_table

from .machine import describe_machine

REPO = Path(__file__).resolve().parent.parent
BACKENDS = ("memory", "aiobotocore", "aiodynamo")
OPS = ("get", "touch")
CALLS = {"memory": 20000, "aiobotocore": 300, "aiodynamo": 300}
"""Calls per batch (one batch per round, setting, backend and operation)."""
IN_PROCESS = ("off", "noop", "sdk")
POOL = 32  # sessions each process seeds and cycles through

BLOCK_OPENTELEMETRY = """
import importlib.abc, sys

class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _Refuse())
"""


class MemoryBackend:
    """A backend that holds one session item and answers at once: what is left is the store's own cost."""

    def __init__(self, hash_key: str = "SessionID") -> None:
        self.hash_key = hash_key

    def _item(self, key: str) -> dict[str, object]:
        return {self.hash_key: key, "Expires": int(time.time()) + 3600, "Session": '{"user":"alice","n":1}'}

    async def get(self, key: str, *, consistent_read: bool) -> dict[str, object] | None:
        return self._item(key)

    async def put(self, item: dict[str, object], condition: object) -> bool | None:
        return True

    async def update_expires(self, key: str, expires_at: int, condition: object) -> bool:
        return True

    async def refresh(self, key: str, expires_at: int, *, now: float, latest: int) -> tuple[bool, dict[str, object]]:
        return True, self._item(key)

    async def delete(self, key: str) -> None:
        return None

    async def remove(self, key: str, *, user_key: str | None) -> dict[str, object] | None:
        return None

    async def query_user(self, index: str, user_key: str, start: object) -> tuple[list[str], None]:
        return [], None

    async def get_batch(
        self, keys: list[str], attributes: tuple[str, ...], *, consistent_read: bool
    ) -> tuple[list[dict[str, object]], list[str]]:
        return [], []

    async def close(self) -> None:
        return None


def _telemetry_setting(setting: str) -> Any:
    """The ``telemetry=`` argument for an in-process setting (the SDK ones built here, never set globally)."""
    if setting == "off":
        return False
    if setting == "noop":
        return True
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tornado_dynasession.telemetry import Telemetry

    tracer_provider = TracerProvider()
    exporter = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    telemetry.exporter = exporter  # type: ignore[attr-defined]  # cleared between batches
    return telemetry


class Stores:
    """One process's stores, by backend, each with the sessions it reads, for one telemetry setting."""

    def __init__(self, endpoint: str, table: str, setting: str | None, tag: str) -> None:
        self.endpoint, self.table, self.setting, self.tag = endpoint, table, setting, tag
        self.stack = AsyncExitStack()
        self.stores: dict[str, DynamoDBStore] = {}
        self.sids = [f"bench-telemetry-{tag}-{i}" for i in range(POOL)]
        self.telemetry: Any = None

    async def open(self, backends: Sequence[str]) -> None:
        options: dict[str, Any] = {}
        if self.setting is not None:  # a child process: the default, whatever opentelemetry there is
            self.telemetry = options["telemetry"] = _telemetry_setting(self.setting)
        for backend in backends:
            if backend == "memory":
                store = DynamoDBStore(self.table, backend=MemoryBackend(), **options)  # type: ignore[arg-type]
            else:
                store = DynamoDBStore(self.table, endpoint_url=self.endpoint, backend=backend, **options)  # type: ignore[arg-type]
                for sid in self.sids:
                    await store.set(sid, {"user": "alice", "n": 1}, max_age=3600)
            await self.stack.enter_async_context(store)
            self.stores[backend] = store

    async def batch(self, backend: str, op: str, calls: int) -> dict[str, float]:
        """Seconds of wall time and of this process's CPU time per call, over ``calls`` sequential calls."""
        store, sids = self.stores[backend], self.sids
        call = store.get if op == "get" else store.touch
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(calls):
            result = await call(sids[i % POOL])
            if not result:
                raise RuntimeError(f"{op} found no session: the measurement would be of the wrong thing")
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        if self.telemetry is not None and hasattr(self.telemetry, "exporter"):
            self.telemetry.exporter.clear()
        return {"wall": wall / calls, "cpu": cpu / calls}

    async def close(self) -> None:
        await self.stack.aclose()


def worker() -> None:
    """A child process's loop: one JSON request per stdin line (``{"backend", "op", "calls"}``), one JSON answer."""
    import tornado_dynasession

    endpoint, table, tag, backends = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")

    async def main() -> None:
        stores = Stores(endpoint, table, None, tag)
        await stores.open(backends)
        imported = sorted({name.split(".")[0] for name in sys.modules if name.startswith("opentelemetry")})
        hello = {"package": tornado_dynasession.__file__, "opentelemetry_imported": imported}
        print(json.dumps(hello), flush=True)
        for line in sys.stdin:
            request = json.loads(line)
            print(json.dumps(await stores.batch(request["backend"], request["op"], request["calls"])), flush=True)
        await stores.close()

    asyncio.run(main())


class Child:
    """A measuring child process: ``absent`` (opentelemetry refused) or ``baseline`` (the package at a revision)."""

    def __init__(self, setting: str, endpoint: str, table: str, backends: Sequence[str], package_dir: Path | None):
        prelude = (
            BLOCK_OPENTELEMETRY if setting == "absent" else f"import sys; sys.path.insert(0, {str(package_dir)!r})"
        )
        code = prelude + "\nfrom benchmarks.telemetry import worker\nworker()\n"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, endpoint, table, setting, ",".join(backends)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.hello = self._read()
        if setting == "baseline" and not str(self.hello["package"]).startswith(str(package_dir)):
            raise RuntimeError(f"the baseline child imported {self.hello['package']}, not the revision's package")

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a measuring child process exited ({self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def batch(self, backend: str, op: str, calls: int) -> dict[str, float]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"backend": backend, "op": op, "calls": calls}) + "\n")
        self.process.stdin.flush()
        return self._read()  # type: ignore[return-value]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def _package_at(revision: str, into: Path) -> Path:
    """The package's files at git ``revision``, extracted under ``into``."""
    archive = subprocess.run(
        ["git", "archive", revision, "tornado_dynasession"], cwd=REPO, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


async def measure(endpoint: str, rounds: int, backends: Sequence[str], baseline: str | None) -> dict[str, Any]:
    """Every setting's per-call figures, medians over the rounds."""
    table = f"telemetry-bench-{time.time_ns()}"
    await create_table(table, endpoint_url=endpoint)
    children: dict[str, Child] = {}
    in_process: dict[str, Stores] = {}
    samples: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            children["absent"] = Child("absent", endpoint, table, backends, None)
            if baseline is not None:
                package_dir = _package_at(baseline, Path(scratch))
                children["baseline"] = Child("baseline", endpoint, table, backends, package_dir)
            for setting in IN_PROCESS:
                in_process[setting] = Stores(endpoint, table, setting, setting)
                await in_process[setting].open(backends)
            settings = [*children, *IN_PROCESS]
            for round_number in range(rounds + 1):  # round 0 warms every process and client up, and is dropped
                order = settings[round_number % len(settings) :] + settings[: round_number % len(settings)]
                for backend in backends:
                    for op in OPS:
                        for setting in order:
                            calls = CALLS[backend] if round_number else CALLS[backend] // 4
                            if setting in children:
                                figures = children[setting].batch(backend, op, calls)
                            else:
                                figures = await in_process[setting].batch(backend, op, calls)
                            if round_number:
                                samples.setdefault((backend, op, setting), []).append(figures)
            hello = {name: child.hello for name, child in children.items()}
    finally:
        for child in children.values():
            child.close()
        for stores in in_process.values():
            await stores.close()
        await delete_table(table, endpoint_url=endpoint)
    rows = []
    for (backend, op, setting), figures in samples.items():
        rows.append(
            {
                "backend": backend,
                "op": op,
                "setting": setting,
                "cpu_us": min(f["cpu"] for f in figures) * 1e6,
                "cpu_us_median": statistics.median(f["cpu"] for f in figures) * 1e6,
                "wall_us": statistics.median(f["wall"] for f in figures) * 1e6,
                "cpu_us_by_round": [round(f["cpu"] * 1e6, 2) for f in figures],
            }
        )
    for row in rows:
        floor = next(r for r in rows if (r["backend"], r["op"], r["setting"]) == (row["backend"], row["op"], "absent"))
        row["cpu_vs_absent"] = row["cpu_us"] / floor["cpu_us"]
        row["cpu_median_vs_absent"] = row["cpu_us_median"] / floor["cpu_us_median"]
        row["wall_vs_absent"] = row["wall_us"] / floor["wall_us"]
    return {
        "what": __doc__.split("\n\n", 1)[0],
        "rounds": rounds,
        "calls_per_batch": {backend: CALLS[backend] for backend in backends},
        "baseline_revision": baseline,
        "children": hello,
        "machine": describe_machine(),
        "rows": rows,
    }


SETTING_ORDER = ("baseline", "absent", "off", "noop", "sdk")
SETTING_TEXT = {
    "baseline": "the package at the baseline revision (no telemetry code)",
    "absent": "opentelemetry not importable (the floor)",
    "off": "installed, `telemetry=False`",
    "noop": "installed, no SDK (API no-op)",
    "sdk": "SDK, spans exported to memory, metrics read in memory",
}


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown page."""
    machine = report["machine"]
    lines = [
        "# What telemetry costs a store call",
        "",
        f"Per call, one at a time, over {report['rounds']} interleaved rounds on {machine['name']}",
        f"({machine['python']}). CPU is the client process's own: the best round's (as timeit reports it: noise",
        "only ever adds) and the median round's. Wall time, the median round's, includes the server's answer.",
        "Ratios are to the floor, `absent`. The `memory` backend answers at once, so its rows are the store's own",
        "Python cost, where a difference shows; the others talk to dynalite on loopback, where one round's noise",
        "is larger than the cost of telemetry, the SDK's aside (ratios below 1 are that noise).",
        "",
        "| backend | op | setting | CPU µs/call, best | vs floor | CPU, median | vs floor | wall µs/call | vs floor |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    order = {name: i for i, name in enumerate(SETTING_ORDER)}
    rows = sorted(report["rows"], key=lambda r: (BACKENDS.index(r["backend"]), OPS.index(r["op"]), order[r["setting"]]))
    for row in rows:
        lines.append(
            f"| {row['backend']} | {row['op']} | {SETTING_TEXT[row['setting']]} | {row['cpu_us']:.1f} | "
            f"{row['cpu_vs_absent']:.3f} | {row['cpu_us_median']:.1f} | {row['cpu_median_vs_absent']:.3f} | "
            f"{row['wall_us']:.1f} | {row['wall_vs_absent']:.3f} |"
        )
    lines += [
        "",
        "`get` is one GetItem and one span; `touch` is one UpdateItem and one span (it calls `refresh` and `lookup`",
        "inside, which add no span of their own). Regenerate with `python -m benchmarks.telemetry [--baseline REV]`.",
        "",
    ]
    if report["baseline_revision"]:
        lines.insert(-3, f"The baseline is the package at commit `{report['baseline_revision']}`.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure, print the Markdown, and write ``telemetry.json`` and ``telemetry.md`` to ``--output-dir``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.telemetry", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma-separated subset of " + ", ".join(BACKENDS)
    )
    parser.add_argument("--baseline", metavar="REV", help="also measure the package at this git revision")
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    backends = [name for name in args.backends.split(",") if name]
    if args.baseline is not None:  # by its commit: a branch name or HEAD moves on
        args.baseline = subprocess.run(
            ["git", "rev-parse", "--short", args.baseline], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout.strip()
    with dynamodb_endpoint() as endpoint:
        report = asyncio.run(measure(endpoint, args.rounds, backends, args.baseline))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "telemetry.json").write_text(json.dumps(report, indent=2) + "\n")
    page = markdown(report)
    (args.output_dir / "telemetry.md").write_text(page)
    print(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
