"""The load test: N clients, each updating its own counter on the example Tornado app, for D seconds.

``make soak`` (``python -m tests.soak``) runs the full version, 200 clients for 20 s, against dynalite in memory on
loopback, and writes its figures to ``benchmarks/results/soak.json``. ``tests/test_reliability.py`` runs a short
version of the same code in CI.

The app (``examples/tornado_app.py``'s ``make_app``) runs in a process of its own, started as
``python -m tests.soak serve ...``: the load generator would otherwise share its event loop and its core, and the
app's own figures (tasks in its loop, its sockets, its resident memory) would include the load generator's. The
child adds one route to the example app, ``/_soak/stats``, which reports those figures.

What counts:

- every response's status (zero 5xx expected);
- each client's acknowledged increments: every 200 answers the new count, which must be the previous
  acknowledged count + 1; at the end, the count stored in DynamoDB (read through a :class:`DynamoDBStore`) must
  equal the last acknowledged one (a lost increment is one acknowledged but not stored);
- the app process's asyncio tasks, open file descriptors, client connections, DynamoDB connections and RSS,
  measured idle after a warm-up and again idle after the load: leaked tasks or connections would grow with the
  number of requests, which is in the thousands.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp

from tornado_dynasession import DynamoDBStore

from .support import free_port, session_id_in, stop_process

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = REPO_ROOT / "benchmarks" / "results" / "soak.json"
SECRET = "soak-secret-" + "s" * 32
COOKIE = "session"
STATS_PATH = "/_soak/stats"
_COUNT = re.compile(rb'<span id="count">(\d+)</span>')


# -- the app process ------------------------------------------------------------------------------------------------


def _socket_table() -> dict[str, tuple[int, int, str]]:
    """inode -> (local port, remote port, state) for every TCP socket in this network namespace."""
    table: dict[str, tuple[int, int, str]] = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(name) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
                table[inode] = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16), state)
    return table


def process_figures(app_port: int, dynamodb_port: int) -> dict[str, int]:
    """This process's tasks, file descriptors, sockets (by kind), resident memory in bytes and CPU time."""
    tcp = _socket_table()
    fds = os.listdir("/proc/self/fd")
    sockets = client_connections = dynamodb_connections = 0
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed since the listing (the listing's own descriptor)
        if not target.startswith("socket:["):
            continue
        sockets += 1
        local_port, remote_port, state = tcp.get(target[8:-1], (0, 0, ""))
        if state == "01" and local_port == app_port:  # 01: ESTABLISHED
            client_connections += 1
        elif state == "01" and remote_port == dynamodb_port:
            dynamodb_connections += 1
    rss_kib = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    return {
        "tasks": len(asyncio.all_tasks()),
        "fds": len(fds),
        "sockets": sockets,
        "client_connections": client_connections,
        "dynamodb_connections": dynamodb_connections,
        "rss_bytes": rss_kib * 1024,
        "cpu_milliseconds": round(1000 * time.process_time()),
    }


async def serve_app(endpoint_url: str, table: str, port: int, backend: str = "aiobotocore") -> None:
    """The example app on ``store``, plus ``/_soak/stats``, until SIGTERM. Prints ``ready`` once listening."""
    import tornado.web

    sys.path.insert(0, str(REPO_ROOT / "examples"))
    from tornado_app import make_app

    dynamodb_port = int(endpoint_url.rsplit(":", 1)[1].split("/", 1)[0])

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with DynamoDBStore(table, endpoint_url=endpoint_url, backend=backend) as store:  # type: ignore[arg-type]

        class Stats(tornado.web.RequestHandler):
            def get(self) -> None:
                self.write(
                    {**process_figures(port, dynamodb_port), "max_pool_connections": store.options.max_pool_connections}
                )

        app = make_app(store, cookie_secret=SECRET)
        app.add_handlers(r".*", [(STATS_PATH, Stats)])
        server = app.listen(port, address="127.0.0.1")
        print("ready", flush=True)
        await stop.wait()
        server.stop()
        await server.close_all_connections()


class AppProcess:
    """The example app in a child process on 127.0.0.1."""

    def __init__(self, endpoint_url: str, table: str, backend: str = "aiobotocore") -> None:
        self.endpoint_url = endpoint_url
        self.table = table
        self.backend = backend
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppProcess:
        """Start the child and wait for its ``ready`` line."""
        argv = [
            sys.executable,
            "-m",
            "tests.soak",
            "serve",
            self.endpoint_url,
            self.table,
            str(self.port),
            self.backend,
        ]
        self.process = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "ready", or nothing if the child died
        if line.strip() != "ready":
            self.stop()
            raise RuntimeError(f"the soak app did not start (said {line!r})")
        return self

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        process, self.process = self.process, None
        if process is None:
            return
        stop_process(process)
        if process.stdout is not None:
            process.stdout.close()

    async def figures(self) -> dict[str, int]:
        """The app process's figures, from ``/_soak/stats`` (over a connection of its own, closed at once)."""
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http, http.get(self.base_url + STATS_PATH) as reply:
            reply.raise_for_status()
            figures: dict[str, int] = await reply.json()
        return figures

    async def settled_figures(self, *, timeout: float = 10.0) -> dict[str, int]:
        """The figures once the last client connections are gone (the server notices closed sockets lazily)."""
        deadline = time.monotonic() + timeout
        figures = await self.figures()
        while figures["client_connections"] > 1 and time.monotonic() < deadline:  # 1: the stats request itself
            await asyncio.sleep(0.1)
            figures = await self.figures()
        await asyncio.sleep(0.2)
        return await self.figures()


# -- the load generator ---------------------------------------------------------------------------------------------


@dataclass
class Client:
    """One visitor: its cookie, how many increments the app acknowledged, and what it saw."""

    cookie: str | None = None
    acknowledged: int = 0
    out_of_sequence: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    async def run(self, http: aiohttp.ClientSession, url: str, deadline: float) -> None:
        """GET /counter, one request at a time, until ``deadline`` (loop time)."""
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            headers = {"Cookie": f"{COOKIE}={self.cookie}"} if self.cookie else {}
            started = loop.time()
            try:
                async with http.get(url, headers=headers) as reply:
                    body = await reply.read()
                    status = reply.status
                    set_cookies = reply.headers.getall("Set-Cookie", [])
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                self.statuses[f"error:{type(exc).__name__}"] += 1
                continue
            self.latencies.append(loop.time() - started)
            self.statuses[str(status)] += 1
            if status != 200:
                continue
            for value in set_cookies:
                if value.startswith(COOKIE + "="):
                    self.cookie = value.split(";", 1)[0].split("=", 1)[1]
            match = _COUNT.search(body)
            count = int(match.group(1)) if match else -1
            if count != self.acknowledged + 1:
                self.out_of_sequence += 1
            self.acknowledged = count

    def session_id(self) -> str | None:
        """The session id inside the client's signed cookie."""
        if self.cookie is None:
            return None
        return session_id_in(SECRET, self.cookie, COOKIE)


async def drive(base_url: str, clients: list[Client], duration: float) -> float:
    """Every client counts for ``duration`` seconds; returns the elapsed seconds (clients finish their last request)."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout) as http:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(*(client.run(http, base_url + "/counter", started + duration) for client in clients))
        return loop.time() - started


async def _sample_rss(app: AppProcess, samples: list[int], stop: asyncio.Event, every: float) -> None:
    while not stop.is_set():
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
            samples.append((await app.figures())["rss_bytes"])
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def stored_counts(endpoint_url: str, table: str, clients: list[Client]) -> list[int | None]:
    """Each client's count as stored in DynamoDB, read through the store (None: no stored session)."""
    counts: list[int | None] = []
    async with DynamoDBStore(table, endpoint_url=endpoint_url) as store:
        for client in clients:
            session_id = client.session_id()
            data = None if session_id is None else await store.get(session_id)
            counts.append(None if data is None else int(data.get("count", 0)))
    return counts


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of process ``pid``, from /proc."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def _mib(value: int) -> float:
    return round(value / 1024 / 1024, 1)


async def soak(
    endpoint_url: str,
    table: str,
    *,
    clients: int,
    duration: float,
    warmup: float = 2.0,
    sample_every: float = 1.0,
    dynamodb_pid: int | None = None,
    backend: str = "aiobotocore",
) -> dict[str, Any]:
    """Run the load against a fresh app process on ``table`` and return the figures (see the module docstring).

    ``dynamodb_pid``, the DynamoDB server's process id, adds its CPU time per request to the figures; ``backend``
    is the app store's ``backend=``.
    """
    app = AppProcess(endpoint_url, table, backend)
    await asyncio.to_thread(app.start)
    try:
        idle = await app.figures()
        visitors = [Client() for _ in range(clients)]
        # Warm-up: every client gets its session, the app's connection pool fills, lazy imports happen.
        await drive(app.base_url, visitors, warmup)
        before = await app.settled_figures()
        for visitor in visitors:
            visitor.statuses.clear()
            visitor.latencies.clear()
        samples: list[int] = [before["rss_bytes"]]
        load_before = os.getloadavg()[0]
        cpu_before = (time.process_time(), _cpu_seconds(dynamodb_pid))
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(_sample_rss(app, samples, stop_sampling, sample_every))
        elapsed = await drive(app.base_url, visitors, duration)
        cpu_after = (time.process_time(), _cpu_seconds(dynamodb_pid))
        stop_sampling.set()
        await sampler
        after = await app.settled_figures()
    finally:
        await asyncio.to_thread(app.stop)
    stored = await stored_counts(endpoint_url, table, visitors)
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    for visitor in visitors:
        statuses.update(visitor.statuses)
        latencies.extend(visitor.latencies)
    requests = sum(statuses.values())
    dynamodb_cpu = None if cpu_before[1] is None or cpu_after[1] is None else cpu_after[1] - cpu_before[1]
    pairs = list(zip(visitors, stored, strict=True))
    lost = sum(max(0, visitor.acknowledged - (count or 0)) for visitor, count in pairs)
    return {
        "clients": clients,
        "duration_seconds": round(elapsed, 2),
        "warmup_seconds": warmup,
        "requests": requests,
        "requests_per_second": round(requests / elapsed, 1),
        "latency_ms": {
            "p50": round(1000 * _percentile(latencies, 0.50), 2),
            "p99": round(1000 * _percentile(latencies, 0.99), 2),
            "max": round(1000 * max(latencies, default=0.0), 2),
            "mean": round(1000 * statistics.fmean(latencies), 2) if latencies else 0.0,
        },
        "cpu_ms_per_request": {
            "app": round((after["cpu_milliseconds"] - before["cpu_milliseconds"]) / max(1, requests), 3),
            "load_generator": round(1000 * (cpu_after[0] - cpu_before[0]) / max(1, requests), 3),
            "dynamodb_server": None if dynamodb_cpu is None else round(1000 * dynamodb_cpu / max(1, requests), 3),
        },
        "load_average_1min": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "statuses": dict(sorted(statuses.items())),
        "responses_5xx": sum(n for status, n in statuses.items() if status.startswith("5")),
        "client_errors": sum(n for status, n in statuses.items() if status.startswith("error:")),
        "acknowledged_increments": sum(v.acknowledged for v in visitors),
        "stored_increments": sum(s or 0 for s in stored),
        "lost_increments": lost,
        "clients_whose_stored_count_differs": sum(1 for visitor, count in pairs if count != visitor.acknowledged),
        "out_of_sequence_counts": sum(v.out_of_sequence for v in visitors),
        "app": {
            "process": "separate from the load generator",
            "max_pool_connections": after["max_pool_connections"],
            "idle_at_start": idle,
            "before": before,
            "after": after,
        },
        "rss_mib": {
            "before": _mib(before["rss_bytes"]),
            "after": _mib(after["rss_bytes"]),
            "samples": [_mib(sample) for sample in samples],
        },
        "tasks": {"before": before["tasks"], "after": after["tasks"]},
        "fds": {"before": before["fds"], "after": after["fds"]},
        "client_connections": {"before": before["client_connections"], "after": after["client_connections"]},
        "dynamodb_connections": {"before": before["dynamodb_connections"], "after": after["dynamodb_connections"]},
    }


def problems(figures: dict[str, Any]) -> list[str]:
    """What went wrong, in words; empty when the run passed."""
    found: list[str] = []
    if figures["responses_5xx"]:
        found.append(f"{figures['responses_5xx']} responses were 5xx")
    if figures["client_errors"]:
        found.append(f"{figures['client_errors']} requests failed without a response")
    if figures["lost_increments"] or figures["clients_whose_stored_count_differs"]:
        found.append(
            f"{figures['lost_increments']} acknowledged increments were lost; "
            f"{figures['clients_whose_stored_count_differs']} clients' stored counts differ from the acknowledged"
        )
    if figures["out_of_sequence_counts"]:
        found.append(f"{figures['out_of_sequence_counts']} responses answered a count other than the previous + 1")
    app = figures["app"]
    if app["after"]["tasks"] > app["before"]["tasks"] + 2:
        found.append(f"asyncio tasks grew from {app['before']['tasks']} to {app['after']['tasks']}")
    if app["after"]["client_connections"] > 1:
        found.append(f"{app['after']['client_connections'] - 1} client connections stayed open after the load")
    if app["after"]["dynamodb_connections"] > app["max_pool_connections"]:
        found.append(
            f"{app['after']['dynamodb_connections']} DynamoDB connections, more than the pool's "
            f"{app['max_pool_connections']}"
        )
    if figures["rss_mib"]["after"] > 1.25 * figures["rss_mib"]["before"]:
        found.append(f"resident memory grew from {figures['rss_mib']['before']} to {figures['rss_mib']['after']} MiB")
    if app["after"]["fds"] > app["before"]["fds"] + app["max_pool_connections"] + 5:
        found.append(f"open file descriptors grew from {app['before']['fds']} to {app['after']['fds']}")
    return found


def describe_machine() -> dict[str, Any]:
    """The machine and the versions the figures were measured with."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    versions = {}
    for package in ("tornado_dynasession", "tornado", "aiobotocore", "botocore", "aiohttp"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": versions,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.soak [--clients N] [--duration S] [--output FILE]``; exits 1 if the run found a problem."""
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.split("\n\n", 1)[0])
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("serve", help="(internal) run the app process")
    child.add_argument("endpoint_url")
    child.add_argument("table")
    child.add_argument("port", type=int)
    child.add_argument("backend", nargs="?", default="aiobotocore")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of measured load")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before the measurement")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    parser.add_argument(
        "--backends", default="aiobotocore,aiohttp", help="the store backends to soak, one after the other"
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve_app(args.endpoint_url, args.table, args.port, args.backend))
        return 0

    from tornado_dynasession.local import DYNALITE_VERSION, DynaliteServer
    from tornado_dynasession.tables import create_table

    runs: dict[str, dict[str, Any]] = {}
    found: list[str] = []
    with DynaliteServer() as server:
        for backend in args.backends.split(","):
            table = f"soak-{uuid.uuid4().hex[:8]}"
            asyncio.run(create_table(table, endpoint_url=server.endpoint_url))
            figures = asyncio.run(
                soak(
                    server.endpoint_url,
                    table,
                    clients=args.clients,
                    duration=args.duration,
                    warmup=args.warmup,
                    dynamodb_pid=server.process.pid if server.process else None,
                    backend=backend,
                )
            )
            problems_found = problems(figures)
            runs[backend] = {**figures, "problems": problems_found}
            found += [f"{backend}: {problem}" for problem in problems_found]
    document = {
        "what": "N clients each incrementing their own session counter on examples/tornado_app.py, on loopback",
        "command": "make soak (python -m tests.soak)",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dynamodb": f"dynalite {DYNALITE_VERSION} in memory, its own process",
        "load_generator": "aiohttp, one asyncio loop, one connection per client",
        "p50_ms_by_backend": {backend: run["latency_ms"]["p50"] for backend, run in runs.items()},
        "backends": runs,
        "problems": found,
        "machine": describe_machine(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))
    print(f"\nfigures written to {args.output}")
    print("PASS" if not found else "FAIL: " + "; ".join(found))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
