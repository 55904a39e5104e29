"""Random faults for the proxy between one app process and DynamoDB, each recorded with its time and kind."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

FAULT_KINDS = ("delay", "reset", "lose-answer", "throttle", "error-500")
DATA_CALLS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})


@dataclass
class FaultLog:
    """Every fault injected, by kind, with the monotonic time it happened (for the checker's 503 rule)."""

    counts: Counter[str] = field(default_factory=Counter)
    times: list[tuple[float, str, str]] = field(default_factory=list)  # (time, where, kind)

    def record(self, where: str, kind: str) -> None:
        self.counts[kind] += 1
        self.times.append((time.monotonic(), where, kind))


class FaultPlan:
    """A ``DynamoProxy.fault`` hook that injects a random fault into a share (``rate``) of the data calls.

    Faults: a delay (up to ``max_delay`` seconds, often past the app's read timeout, so that an abandoned call may
    still land later), a connection dropped before the call reaches the server, an answer lost after a write was
    applied, throttling (400 ProvisionedThroughputExceededException) and a 500 InternalServerError.
    """

    def __init__(self, name: str, *, rng: random.Random, log: FaultLog, max_delay: float) -> None:
        self.name = name
        self.rng = rng
        self.log = log
        self.max_delay = max_delay
        self.rate = 0.0

    def __call__(self, operation: str, attempt: int) -> tuple[object, ...] | None:
        if operation not in DATA_CALLS or self.rate <= 0 or self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(FAULT_KINDS)
        if kind == "lose-answer" and operation not in WRITES:
            kind = "reset"
        self.log.record(self.name, kind)
        if kind == "delay":
            return ("delay", self.rng.uniform(0.05, self.max_delay))
        if kind == "throttle":
            return ("status", 400, "ProvisionedThroughputExceededException")
        if kind == "error-500":
            return ("status", 500, "InternalServerError")
        return (kind,)
