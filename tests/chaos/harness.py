"""One chaos run: dynalite on disk, a Tornado and a Sanic app process each behind a fault-injecting proxy, many
simulated browsers doing random operations, faults at random, and the history checked against the model."""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tornado_dynasession.local import DynaliteServer
from tornado_dynasession.tables import create_table

from ..app_processes import AppProcess, start_app_process
from ..process_app import SECRET
from ..support import Browser, DynamoProxy, session_id_in
from .model import KEYS, History, Op, check, figures, replay_text
from .proxy import FaultLog, FaultPlan

TABLE = "chaos-sessions"
USER_INDEX = "UserIndex"
CLIENT_TIMEOUT = 30.0  # seconds: an answer later than this is a hang (the apps give up on DynamoDB within ~8 s)
APP_OPTIONS = ("--user-index", USER_INDEX, "--connect-timeout", "1", "--read-timeout", "1", "--max-attempts", "3")
REPLAY_CONCURRENCY = 16
OPERATION_WEIGHTS = {
    "read": 20,
    "set": 25,
    "delete": 10,
    "append": 12,
    "login": 8,
    "logout": 5,
    "remember": 5,
}


@dataclass
class ChaosConfig:
    """The knobs of a run. Times in seconds."""

    seed: int = 1
    seconds: float = 20.0
    browsers: int = 10
    fault_rate: float = 0.08  # the share of DynamoDB calls that get a fault
    max_delay: float = 2.5  # the longest injected delay (past the apps' read timeout of 1 s)
    restart_every: tuple[float, float] = (5.0, 10.0)  # the server is killed at random intervals in this range
    downtime: tuple[float, float] = (0.3, 1.5)
    pair_chance: float = 0.15  # the chance that a browser sends two requests at once
    workdir: Path | None = None


@dataclass
class ChaosResult:
    config: ChaosConfig
    history: History
    anomalies: list[Any]
    fault_counts: dict[str, int]
    elapsed: float
    app_logs: dict[str, str] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        numbers = figures(self.history, self.anomalies, self.fault_counts)
        return {
            "seed": self.config.seed,
            "seconds_of_traffic": self.config.seconds,
            "browsers": self.config.browsers,
            "fault_rate": self.config.fault_rate,
            **numbers,
        }

    def report(self) -> str:
        return replay_text(self.history, self.anomalies, self.config.seed)


class _Run:
    def __init__(self, config: ChaosConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.rng = random.Random(config.seed)
        self.faults = FaultLog()
        self.history = History()
        self.server = DynaliteServer(path=workdir / "dynalite")
        self.proxies: dict[str, DynamoProxy] = {}
        self.plans: dict[str, FaultPlan] = {}
        self.apps: dict[str, AppProcess] = {}
        self.jars: dict[int, dict[str, str]] = {}  # each browser's cookie jar

    async def start(self) -> None:
        await asyncio.to_thread(self.server.start)
        await create_table(TABLE, endpoint_url=self.server.endpoint_url, user_index=USER_INDEX)
        for name in ("tornado", "sanic"):
            plan = FaultPlan(
                name, rng=random.Random(f"{self.config.seed}-{name}"), log=self.faults, max_delay=self.config.max_delay
            )
            proxy = DynamoProxy(self.server.endpoint_url)
            proxy.fault = plan
            self.proxies[name], self.plans[name] = await proxy.start(), plan
            self.apps[name] = await asyncio.to_thread(
                start_app_process, name, endpoint=proxy.url, table=TABLE, log_dir=self.workdir, options=APP_OPTIONS
            )

    async def stop(self) -> dict[str, str]:
        logs = {}
        for name, app in self.apps.items():
            await asyncio.to_thread(app.stop)
            logs[name] = app.log()
        for proxy in self.proxies.values():
            await proxy.stop()
        await asyncio.to_thread(self.server.stop)
        return logs

    def set_faults(self, on: bool) -> None:
        for plan in self.plans.values():
            plan.rate = self.config.fault_rate if on else 0.0

    async def restarts(self, until: float) -> None:
        low, high = self.config.restart_every
        while True:
            wait = self.rng.uniform(low, high)
            if time.monotonic() + wait >= until:
                return
            await asyncio.sleep(wait)
            down = time.monotonic()
            await asyncio.to_thread(self.server.kill)
            self.faults.record("server", "server-restart")
            await asyncio.sleep(self.rng.uniform(*self.config.downtime))
            await asyncio.to_thread(self.server.start)
            self.history.outages.append((down, time.monotonic()))

    async def browser(self, number: int, until: float) -> None:
        rng = random.Random(f"{self.config.seed}-browser-{number}")
        jar = self.jars[number] = {}
        clients = {name: Browser(app.url) for name, app in self.apps.items()}
        for client in clients.values():
            client.cookies = jar  # one browser, two services behind one domain
        counter = iter(range(1_000_000))
        try:
            while time.monotonic() < until:
                count = 2 if rng.random() < self.config.pair_chance else 1
                ops = [self._operation(number, next(counter), rng) for _ in range(count)]
                await asyncio.gather(*(self._send(op, clients[op.app], jar) for op in ops))
                await asyncio.sleep(rng.uniform(0, 0.05))
        finally:
            for client in clients.values():
                await client.close()

    def _operation(self, browser: int, seq: int, rng: random.Random) -> Op:
        kind = rng.choices(list(OPERATION_WEIGHTS), weights=list(OPERATION_WEIGHTS.values()))[0]
        op = Op(browser=browser, seq=seq, kind=kind, app=rng.choice(("tornado", "sanic")))
        tag = f"b{browser}-{seq}"
        if kind in ("set", "delete"):
            op.key = rng.choice([key for key in KEYS if key.startswith("k")])
        if kind in ("set", "append"):
            op.value = tag
        elif kind == "login":
            op.value = f"b{browser}-user{seq}"
        elif kind == "remember":
            op.value = str(rng.choice((1800, 3600, 86400)))
        return op

    @staticmethod
    def path(op: Op) -> str:
        query: dict[str, str] = {}
        if op.kind in ("set", "delete"):
            query["key"] = str(op.key)
        if op.kind == "set":
            query["value"] = str(op.value)
        elif op.kind == "append":
            query["item"] = str(op.value)
        elif op.kind == "login":
            query["user"] = str(op.value)
        elif op.kind == "remember":
            query["seconds"] = str(op.value)
        route = "read" if op.kind in ("final", "replay") else op.kind
        return f"/{route}" + (f"?{urllib.parse.urlencode(query)}" if query else "")

    async def _send(self, op: Op, client: Browser, jar: dict[str, str] | None, *, record: bool = True) -> Op:
        """Send ``op`` with the jar's cookie (kept up to date by the answer), or, without a jar, with
        ``op.sent_cookie`` alone."""
        if jar is not None:
            op.sent_cookie = jar.get("session")
        op.sent_id = session_id_in(SECRET, op.sent_cookie) if op.sent_cookie else None
        cookies = None if jar is not None else ({"session": op.sent_cookie} if op.sent_cookie else {})
        op.start = time.monotonic()
        try:
            reply = await client.get(self.path(op), cookies=cookies, timeout=CLIENT_TIMEOUT)
        except asyncio.TimeoutError:
            op.error = f"no answer within {CLIENT_TIMEOUT} s"
        except aiohttp.ClientError as exc:
            op.error = f"{type(exc).__name__}: {exc}"
        else:
            op.status = reply.status
            cookie = reply.cookie("session")
            if cookie is not None and cookie["value"]:
                op.set_id = session_id_in(SECRET, cookie["value"])
            if reply.status == 200:
                body = json.loads(reply.body)
                op.data, op.reply_id = body["data"], body["id"]
        op.end = time.monotonic()
        if record:
            self.history.ops.append(op)
        return op

    async def quiesce(self) -> None:
        """Faults off, server up, and every delayed call landed or dropped."""
        self.set_faults(False)
        if self.server.process is None:
            await asyncio.to_thread(self.server.start)
        await asyncio.sleep(self.config.max_delay + 1.0)

    async def final_reads_and_replays(self) -> None:
        """Each browser reads its session once more, and every ended cookie (logout, or the id a login replaced)
        is replayed once."""
        client = {name: Browser(app.url) for name, app in self.apps.items()}
        try:
            for browser, jar in sorted(self.jars.items()):
                op = Op(browser=browser, seq=1_000_000, kind="final", app=self.rng.choice(("tornado", "sanic")))
                client[op.app].cookies = jar
                await self._send(op, client[op.app], jar)
            limit = asyncio.Semaphore(REPLAY_CONCURRENCY)

            async def replay(ender: Op) -> None:
                again = Op(browser=ender.browser, seq=ender.seq, kind="replay", app=ender.app)
                again.sent_cookie = ender.sent_cookie
                async with limit:  # checked as a replay, not as one of the browser's operations
                    await self._send(again, client[again.app], None, record=False)
                self.history.replays.append((ender, again))

            enders = [op for op in self.history.ops if op.acked and op.kind in ("login", "logout") and op.sent_cookie]
            await asyncio.gather(*(replay(ender) for ender in enders))
        finally:
            for browser_client in client.values():
                await browser_client.close()


async def run_history(config: ChaosConfig) -> ChaosResult:
    """Run one seeded history and check it."""
    with tempfile.TemporaryDirectory(prefix="chaos-") as scratch:
        workdir = config.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        run = _Run(config, workdir)
        began = time.monotonic()
        try:
            await run.start()
            until = time.monotonic() + config.seconds
            run.set_faults(True)
            await asyncio.gather(run.restarts(until), *(run.browser(n, until) for n in range(config.browsers)))
            await run.quiesce()
            await run.final_reads_and_replays()
        finally:
            logs = await run.stop()
        run.history.fault_times = list(run.faults.times)
        anomalies = check(run.history)
        return ChaosResult(config, run.history, anomalies, dict(run.faults.counts), time.monotonic() - began, logs)
