"""The asyncio load generator used when wrk is not on PATH: ``python -m benchmarks.loadgen URL ...``.

It runs in its own process (so that it does not share the app's CPU time), keeps ``--connections`` requests in
flight on keep-alive connections for ``--duration`` seconds, and prints one JSON line with the same fields as the
wrk script: requests, duration_us, non_2xx, socket_errors, p50_us, p99_us, max_us.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from pathlib import Path

import aiohttp

__all__ = ["generate_load", "main"]


async def generate_load(
    url: str, *, connections: int, duration: float, cookies: list[str], rate: float | None = None
) -> dict[str, float]:
    """Send GET ``url`` from ``connections`` concurrent workers for ``duration`` seconds; return the figures.

    With ``rate``, requests start on a schedule of ``rate`` per second in all (a worker waits for its turn), so that
    a fast route can be measured at the request rate of a slower one.
    """
    latencies: list[float] = []
    non_2xx = socket_errors = 0
    counter = 0
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as http:
        begun = time.perf_counter()
        deadline = begun + duration

        async def worker() -> None:
            nonlocal non_2xx, socket_errors, counter
            while time.perf_counter() < deadline:
                counter += 1
                if rate:
                    wait = begun + counter / rate - time.perf_counter()
                    if wait > 0:
                        await asyncio.sleep(wait)
                headers = {"Cookie": cookies[counter % len(cookies)]} if cookies else {}
                started = time.perf_counter()
                try:
                    async with http.get(url, headers=headers, allow_redirects=False) as response:
                        await response.read()
                        if not 200 <= response.status < 300:
                            non_2xx += 1
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    socket_errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return math.nan
        return latencies[min(len(latencies), max(1, math.ceil(p / 100 * len(latencies)))) - 1] * 1e6

    return {
        "requests": len(latencies) + socket_errors,
        "duration_us": elapsed * 1e6,
        "non_2xx": non_2xx,
        "socket_errors": socket_errors,
        "p50_us": pct(50),
        "p99_us": pct(99),
        "max_us": latencies[-1] * 1e6 if latencies else math.nan,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, generate the load, print the JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadgen", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds")
    parser.add_argument("--cookies", type=Path, help="a file with one Cookie header value per line")
    parser.add_argument("--rate", type=float, help="requests per second in all (default: as fast as answered)")
    args = parser.parse_args(argv)
    cookies = [line for line in args.cookies.read_text().splitlines() if line] if args.cookies else []
    figures = asyncio.run(
        generate_load(args.url, connections=args.connections, duration=args.duration, cookies=cookies, rate=args.rate)
    )
    print("LOADJSON " + json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
