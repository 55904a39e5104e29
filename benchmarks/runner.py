"""The micro-benchmarks: every variant, every operation, payload and concurrency, interleaved in rounds.

Within a round each cell (operation, payload, concurrency) runs one batch per variant back to back, the variants'
order rotating from cell to cell and round to round, so that drift in the machine's speed hits them all alike.
The batches of a cell from all rounds are merged before percentiles are taken.
"""

from __future__ import annotations

import functools
import gc
import secrets
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .measure import Batch, Summary, run_batch
from .payloads import PAYLOADS
from .seed import Seeder
from .variants import BenchSession, Variant

__all__ = ["OPS", "Cell", "MicroPlan", "MicroRunner"]

OPS = ("get", "set", "touch", "destroy")
"""The measured operations, in output order."""


async def _set_nth(variant: Variant, sessions: Sequence[BenchSession], index: int) -> None:
    await variant.set(sessions[index])


@dataclass(frozen=True, slots=True)
class Cell:
    """One measured combination: an operation on a payload at a concurrency (calls in flight)."""

    op: str
    payload: str
    concurrency: int

    def label(self) -> str:
        """``get small c=32``."""
        return f"{self.op} {self.payload} c={self.concurrency}"


@dataclass(frozen=True)
class MicroPlan:
    """How much to measure.

    :param ops_per_batch: operations per variant and cell in each round.
    :param warmup_ops: operations per variant and operation before the first round, at the highest concurrency.
    :param pool_size: sessions per variant and payload that get, set and touch cycle over.
    """

    ops: Sequence[str] = OPS
    payloads: Sequence[str] = ("small", "large")
    concurrencies: Sequence[int] = (1, 32)
    rounds: int = 8
    ops_per_batch: int = 220
    warmup_ops: int = 200
    pool_size: int = 128

    def cells(self) -> list[Cell]:
        """Every cell, payload-major, then concurrency, then operation."""
        return [Cell(op, p, c) for p in self.payloads for c in self.concurrencies for op in self.ops]

    def batches(self, variants: int) -> int:
        """How many measured batches the plan runs for ``variants`` variants (for the progress bar)."""
        return self.rounds * len(self.cells()) * variants


@dataclass
class MicroOutcome:
    """What the micro-benchmarks produced: result rows and the variants that failed on the way (with why)."""

    results: list[dict[str, Any]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class MicroRunner:
    """Runs a :class:`MicroPlan` on opened variants.

    :param variants: opened variants by name, in output order.
    :param key_for: maps a session id to its stored hash key (the store's ``key_for``).
    :param on_progress: called with a description and 0 before each measured batch, and with 1 after it.
    """

    def __init__(
        self,
        plan: MicroPlan,
        variants: dict[str, Variant],
        seeder: Seeder,
        *,
        key_for: Callable[[str], str],
        on_progress: Callable[[str, int], None] = lambda description, done: None,
    ) -> None:
        self.plan = plan
        self.variants = dict(variants)
        self.seeder = seeder
        self.key_for = key_for
        self.on_progress = on_progress
        self.failed: dict[str, str] = {}
        self._pools: dict[tuple[str, str], list[BenchSession]] = {}
        self._batches: dict[tuple[str, Cell], Batch] = {}
        self._destroyed: list[str] = []
        self.item_bytes: dict[tuple[str, str], int] = {}
        """Stored item size in bytes by (variant, payload), for variants that report it."""

    def sessions(self, payload: str, count: int) -> list[BenchSession]:
        """``count`` new sessions with random ids holding payload ``payload``."""
        data = PAYLOADS[payload]
        encoded = orjson.dumps(data).decode()
        sessions = []
        for _ in range(count):
            sid = secrets.token_urlsafe(32)
            sessions.append(BenchSession(sid=sid, key=self.key_for(sid), data=data, encoded=encoded))
        return sessions

    def _fail(self, name: str, what: str, exc: BaseException) -> None:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        self.failed[name] = f"failed during {what}: {detail}"
        self.variants.pop(name, None)

    async def prepare(self) -> None:
        """Seed a pool of live sessions per variant and payload, and let each variant precompute for it.

        A variant that ``writes_own_pool`` writes its pool with its own ``set`` (unmeasured); one that
        ``reports_item_bytes`` has its stored item size read back from the table after its ``set``.
        """
        pool_ops = [op for op in self.plan.ops if op != "destroy"]
        for name, variant in list(self.variants.items()):
            for payload in self.plan.payloads:
                pool = self.sessions(payload, self.plan.pool_size)
                self._pools[(name, payload)] = pool
                try:
                    if variant.writes_own_pool:
                        await run_batch(functools.partial(_set_nth, variant, pool), len(pool), 8)
                    else:
                        await self.seeder.put(pool)
                    if variant.reports_item_bytes:
                        await variant.set(pool[0])
                        self.item_bytes[(name, payload)] = await self.seeder.item_bytes(pool[0].key)
                    variant.prepare(pool, pool_ops)
                except Exception as exc:
                    self._fail(name, "prepare", exc)
                    break

    async def warm_up(self) -> None:
        """``warmup_ops`` of each operation per variant, at the highest concurrency, on the first payload."""
        payload = self.plan.payloads[0]
        concurrency = max(self.plan.concurrencies)
        for name, variant in list(self.variants.items()):
            for op in self.plan.ops:
                try:
                    await self._batch(variant, name, Cell(op, payload, concurrency), self.plan.warmup_ops)
                except Exception as exc:
                    self._fail(name, f"warm-up {op}", exc)
                    break

    async def _batch(self, variant: Variant, name: str, cell: Cell, n: int) -> Batch:
        call = getattr(variant, cell.op)
        if cell.op == "destroy":
            targets = self.sessions(cell.payload, n)
            await self.seeder.put(targets)
            variant.prepare(targets, ("destroy",))
            self._destroyed.extend(session.key for session in targets)
        else:
            targets = self._pools[(name, cell.payload)]
        count = len(targets)
        return await run_batch(lambda i: call(targets[i % count]), n, cell.concurrency)

    async def run(self) -> MicroOutcome:
        """Prepare, warm up, run every round, and summarise each variant's cells."""
        await self.prepare()
        await self.warm_up()
        # Everything alive now (clients, botocore's models, the pools) lives to the end: move it out of the
        # collector's sight, so that the collection before each batch is cheap and collections during a batch
        # scan only what the variants allocate.
        gc.collect()
        gc.freeze()
        cells = self.plan.cells()
        for round_index in range(self.plan.rounds):
            for cell_index, cell in enumerate(cells):
                names = list(self.variants)
                if not names:
                    break
                shift = (round_index + cell_index) % len(names)
                for name in names[shift:] + names[:shift]:
                    variant = self.variants.get(name)
                    if variant is None:
                        continue
                    description = f"round {round_index + 1}/{self.plan.rounds}  {cell.label()}  {name}"
                    self.on_progress(description, 0)
                    try:
                        batch = await self._batch(variant, name, cell, self.plan.ops_per_batch)
                    except Exception as exc:
                        self._fail(name, f"{cell.label()} (round {round_index + 1})", exc)
                        continue
                    self._batches.setdefault((name, cell), Batch()).add(batch)
                    self.on_progress(description, 1)
        return self._outcome(cells)

    def _outcome(self, cells: list[Cell]) -> MicroOutcome:
        outcome = MicroOutcome(failed=dict(self.failed))
        for name in self.variants:
            for cell in sorted(cells, key=lambda c: (OPS.index(c.op), c.payload != "small", c.concurrency)):
                batch = self._batches.get((name, cell))
                if batch is None:
                    continue
                summary = Summary.of(batch)
                outcome.results.append(
                    {
                        "variant": name,
                        "op": cell.op,
                        "payload": cell.payload,
                        "concurrency": cell.concurrency,
                        "p50_ms": summary.p50_ms,
                        "p95_ms": summary.p95_ms,
                        "p99_ms": summary.p99_ms,
                        "max_ms": summary.max_ms,
                        "ops_per_s": summary.ops_per_s,
                        "cpu_us_per_op": summary.cpu_us_per_op,
                        "n": summary.n,
                    }
                )
                size = self.item_bytes.get((name, cell.payload))
                if size is not None:
                    outcome.results[-1]["item_bytes"] = size
        return outcome

    async def clean_up(self) -> None:
        """Delete every item the run wrote (for a table that outlives the run)."""
        keys = [session.key for pool in self._pools.values() for session in pool]
        await self.seeder.delete(keys + self._destroyed)
