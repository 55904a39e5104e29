"""The long chaos run: ``make chaos`` (``python -m tests.chaos [--seed N] [--seconds S] [--browsers B]``).

Prints the figures, writes them to ``--output`` (``benchmarks/results/chaos.json`` by default), prints the seed and
the operations of the browsers with an anomaly, and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path

from .harness import ChaosConfig, run_history

DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "chaos.json"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--seconds", type=float, default=240.0, help="seconds of traffic under faults")
    parser.add_argument("--browsers", type=int, default=24)
    parser.add_argument("--fault-rate", type=float, default=0.08)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the figures go ('-': nowhere)")
    parser.add_argument("--history", type=Path, default=None, help="also write every operation there, as JSON")
    args = parser.parse_args()
    config = ChaosConfig(seed=args.seed, seconds=args.seconds, browsers=args.browsers, fault_rate=args.fault_rate)
    result = asyncio.run(run_history(config))
    figures = result.figures()
    text = json.dumps(figures, indent=2) + "\n"
    print(text, end="")
    if str(args.output) != "-":
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    if args.history is not None:
        ops = [dataclasses.asdict(op) for op in result.history.ops]
        args.history.write_text(json.dumps({"ops": ops, "outages": result.history.outages}), encoding="utf-8")
    if result.anomalies:
        print(result.report(), file=sys.stderr)
    return 1 if result.anomalies else 0


if __name__ == "__main__":
    sys.exit(main())
