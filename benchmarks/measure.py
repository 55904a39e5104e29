"""Timing: run a batch of operations at a given concurrency, and summarise latencies into percentiles.

All times are seconds here; the millisecond and microsecond figures appear only in :class:`Summary`'s fields,
named for their unit.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["Batch", "Summary", "percentile", "run_batch"]


@dataclass
class Batch:
    """What one or more measured batches of the same cell gave.

    :param latencies: seconds per operation, in completion order.
    :param wall: wall-clock seconds the batches took, first start to last finish (summed over batches).
    :param cpu: process CPU seconds (user + system) spent during the batches.
    """

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0

    def add(self, other: Batch) -> None:
        """Merge another batch of the same cell (another round) into this one."""
        self.latencies.extend(other.latencies)
        self.wall += other.wall
        self.cpu += other.cpu


@dataclass(frozen=True)
class Summary:
    """The figures reported for one cell: latency percentiles in ms, throughput in ops/s, CPU in µs per op."""

    n: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    ops_per_s: float
    cpu_us_per_op: float

    @classmethod
    def of(cls, batch: Batch) -> Summary:
        """Summarise a (merged) batch."""
        ordered = sorted(batch.latencies)
        n = len(ordered)
        if n == 0:
            raise ValueError("cannot summarise an empty batch")
        return cls(
            n=n,
            p50_ms=percentile(ordered, 50) * 1e3,
            p95_ms=percentile(ordered, 95) * 1e3,
            p99_ms=percentile(ordered, 99) * 1e3,
            max_ms=ordered[-1] * 1e3,
            ops_per_s=n / batch.wall if batch.wall > 0 else math.inf,
            cpu_us_per_op=batch.cpu / n * 1e6,
        )


def percentile(ordered: list[float], pct: float) -> float:
    """The nearest-rank percentile ``pct`` (0-100] of an already sorted, non-empty list."""
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


async def run_batch(operation: Callable[[int], Awaitable[object]], n: int, concurrency: int) -> Batch:
    """Run ``operation(0)`` .. ``operation(n - 1)`` with ``concurrency`` workers and time each call.

    Each worker takes the next index as soon as its previous call returns, so exactly ``concurrency`` calls are in
    flight until the last ones drain. Garbage from earlier phases is collected first, so that it is not charged
    to this batch; garbage this batch makes is its own cost and stays in. The first exception an operation
    raises cancels the other workers and propagates.
    """
    latencies: list[float] = []
    next_index = 0
    clock = time.perf_counter

    async def worker() -> None:
        nonlocal next_index
        while next_index < n:
            index = next_index
            next_index += 1
            started = clock()
            await operation(index)
            latencies.append(clock() - started)

    gc.collect()
    cpu_started = time.process_time()
    wall_started = clock()
    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, n))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:  # one failed: stop the others rather than leave them running unobserved
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    wall = clock() - wall_started
    cpu = time.process_time() - cpu_started
    return Batch(latencies=latencies, wall=wall, cpu=cpu)
