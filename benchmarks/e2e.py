"""End to end: the example Tornado app (``examples/tornado_app.py``), and for the ``fastapi-`` cases the FastAPI app
of ``benchmarks.e2e_fastapi``, under load from wrk, or from the asyncio load generator in ``benchmarks.loadgen`` when
wrk is not on PATH.

The app runs in this process, on 127.0.0.1 and a free port, on a store whose backend counts the DynamoDB calls it
makes by kind, and the request units DynamoDB would bill for them (:class:`CountingBackend`); the backend is the
one ``DynamoDBStore(backend=...)`` opens for itself: aiobotocore by default, aiodynamo or aiohttp for the cases
named ``-aiodynamo`` and ``-aiohttp``. The load generator is a child process, so it does not share the app's CPU
time. The app's request count comes from Tornado's ``log_function`` setting (an ASGI wrapper for FastAPI), so calls
and units per request are counted over exactly the requests the app served.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import aiohttp
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from tornado_dynasession import DynamoDBStore
from tornado_dynasession.backends import AttributeNames, Backend, ClientOptions, Condition, Item
from tornado_dynasession.backends.factory import TransportName, open_transport
from tornado_dynasession.backends.wire import WireBackend

from .cost import read_units, seam_item_bytes, usd_per_million_requests, write_units
from .variants import BenchContext

if TYPE_CHECKING:
    from .e2e_fastapi import RequestCounter

__all__ = [
    "CALL_KINDS",
    "CASES",
    "DEFAULT_APP",
    "CountingBackend",
    "E2ECase",
    "E2ESettings",
    "load_make_app",
    "run_e2e",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_APP = REPO_ROOT / "examples" / "tornado_app.py"
"""The example app: ``make_app(store, *, cookie_secret, touch_after=0, max_age=300) -> Application``."""

CALL_KINDS = ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
"""The DynamoDB calls a store's backend makes, as counted."""

LOGGED_IN_SESSIONS = 64
"""Sessions logged in before the cases that send a cookie; requests rotate over them."""


@dataclass(frozen=True)
class E2ECase:
    """One end-to-end case.

    :param touch_after: the app's ``touch_after`` in seconds.
    :param cookie: send one of the logged-in sessions' cookies (else no cookie at all).
    :param backend: the store's backend, ``"aiobotocore"`` (the default), ``"aiodynamo"`` or ``"aiohttp"``.
    :param framework: the app's framework, ``"tornado"`` (the default: the example app) or ``"fastapi"``.
    """

    name: str
    path: str
    touch_after: float
    cookie: bool
    description: str
    backend: str = "aiobotocore"
    framework: str = "tornado"


CASES: tuple[E2ECase, ...] = (
    E2ECase("no-session", "/health", 0.0, False, "GET /health: a route without sessions"),
    E2ECase("session-read", "/session", 0.0, True, "GET /session with a live session, touch_after=0"),
    E2ECase(
        "session-read-touch-after-60s",
        "/session",
        60.0,
        True,
        "GET /session with a live session, touch_after=60 s",
    ),
    E2ECase("session-modify", "/counter", 0.0, True, "GET /counter: session['count'] += 1"),
    E2ECase("new-visitor", "/session", 0.0, False, "GET /session without a cookie"),
    E2ECase(
        "session-read-aiodynamo",
        "/session",
        0.0,
        True,
        'session-read on a store with backend="aiodynamo"',
        backend="aiodynamo",
    ),
    E2ECase(
        "session-modify-aiodynamo",
        "/counter",
        0.0,
        True,
        'session-modify on a store with backend="aiodynamo"',
        backend="aiodynamo",
    ),
    E2ECase(
        "session-read-aiohttp",
        "/session",
        0.0,
        True,
        'session-read on a store with backend="aiohttp"',
        backend="aiohttp",
    ),
    E2ECase(
        "session-modify-aiohttp",
        "/counter",
        0.0,
        True,
        'session-modify on a store with backend="aiohttp"',
        backend="aiohttp",
    ),
    E2ECase(
        "fastapi-no-session",
        "/health",
        0.0,
        False,
        "FastAPI: GET /health, a route without sessions (the FastAPI floor)",
        framework="fastapi",
    ),
    E2ECase(
        "fastapi-session-read",
        "/session",
        0.0,
        True,
        "FastAPI: GET /session with a live session, touch_after=0",
        framework="fastapi",
    ),
)


@dataclass(frozen=True)
class E2ESettings:
    """How to run the end-to-end cases.

    :param duration: seconds of load per case (wrk rounds it up to whole seconds).
    :param warmup: seconds of load before the first case on each app instance (0 for none).
    :param connections: concurrent connections the load generator keeps busy.
    :param generator: ``"auto"`` (wrk if on PATH), ``"wrk"`` or ``"python"``.
    """

    app_path: Path = DEFAULT_APP
    duration: float = 8.0
    warmup: float = 1.0
    connections: int = 32
    generator: str = "auto"
    cases: Sequence[E2ECase] = CASES


class CountingBackend:
    """A :class:`~tornado_dynasession.backends.Backend` that counts the calls it passes on, by DynamoDB call, and
    the request units DynamoDB would bill for them (see :mod:`benchmarks.cost`).

    Units come from the sizes of the items the calls carry (:func:`benchmarks.cost.seam_item_bytes`). Where
    DynamoDB sizes a write by the item it replaces, which the call does not carry, the size last seen for that key
    by this backend stands in (the item a GetItem or refresh returned, or a PutItem wrote):

    - GetItem: read units of the item returned (a missing item still costs 1; half for an eventually consistent
      read).
    - PutItem: write units of the larger of the item written and the item it replaces (last seen; else the new
      item's own size, so a first write of an unseen key is sized by the new item alone).
    - UpdateItem, ``refresh``: write units of the item returned (as it was before the call, also where the
      condition failed), else last seen; the returned item costs nothing more. ``update_expires``: last seen. Moving
      ``Expires`` changes the item by a byte at most, which is ignored.
    - DeleteItem: write units of the item last seen for the key; else 1, the minimum of every write.

    A failed condition costs the same as a write that went through. :meth:`reset` clears counts, units and sizes
    between cases; the sizes last seen by key survive it.
    """

    def __init__(self, inner: Backend | None, *, hash_key: str) -> None:
        self.inner = cast(Backend, inner)
        self.hash_key = hash_key
        self.counts: Counter[str] = Counter()
        self.read_units = 0.0
        self.write_units = 0.0
        self.read_sizes: Counter[int] = Counter()
        """Sizes of the session items GetItem or refresh returned since the last reset, and how often."""
        self.written_sizes: Counter[int] = Counter()
        """Sizes of the items PutItem wrote since the last reset, and how often."""
        self.found = 0
        """Live sessions returned (a GetItem's item, or a refresh that went through) since the last reset."""
        self._last_size: dict[str, int] = {}

    def reset(self) -> None:
        """Start counting afresh (the sizes last seen by key are kept)."""
        self.counts.clear()
        self.read_units = self.write_units = 0.0
        self.read_sizes.clear()
        self.written_sizes.clear()
        self.found = 0

    def _write(self, key: str, size: int | None) -> None:
        self.write_units += write_units(size if size is not None else self._last_size.get(key))

    def _seen(self, key: str, size: int | None) -> None:
        if size is not None:
            self._last_size[key] = size
            self.read_sizes[size] += 1

    async def get(self, key: str, *, consistent_read: bool) -> Item | None:
        """GetItem."""
        self.counts["GetItem"] += 1
        item = await self.inner.get(key, consistent_read=consistent_read)
        size = seam_item_bytes(item)
        self.read_units += read_units(size, consistent=consistent_read)
        self._seen(key, size)
        if item is not None:
            self.found += 1
        return item

    async def put(self, item: Item, condition: Condition | None) -> bool | None:
        """PutItem."""
        self.counts["PutItem"] += 1
        key = str(item.get(self.hash_key))
        size = seam_item_bytes(item)
        old = self._last_size.get(key)
        written = await self.inner.put(item, condition)
        self._write(key, max(size or 0, old or 0) or None)
        if written and size is not None:
            self._last_size[key] = size
            self.written_sizes[size] += 1
        return written

    async def update_expires(self, key: str, expires_at: int, condition: Condition) -> bool:
        """UpdateItem."""
        self.counts["UpdateItem"] += 1
        self._write(key, None)
        return await self.inner.update_expires(key, expires_at, condition)

    async def refresh(self, key: str, expires_at: int, *, now: float, latest: int) -> tuple[bool, Item | None]:
        """UpdateItem (with the item returned)."""
        self.counts["UpdateItem"] += 1
        refreshed, item = await self.inner.refresh(key, expires_at, now=now, latest=latest)
        size = seam_item_bytes(item)
        self._write(key, size)
        self._seen(key, size)
        if refreshed and item is not None:
            self.found += 1
        return refreshed, item

    async def delete(self, key: str) -> None:
        """DeleteItem."""
        self.counts["DeleteItem"] += 1
        self._write(key, None)
        self._last_size.pop(key, None)
        await self.inner.delete(key)

    async def close(self) -> None:
        """Close the wrapped backend."""
        await self.inner.close()

    def __getattr__(self, name: str) -> Any:
        # Calls the Backend protocol may grow later still reach DynamoDB; they are counted under their own name
        # (and their units are not known).
        attribute = getattr(self.inner, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            return attribute(*args, **kwargs)

        return counted


class _RequestCounter:
    """Tornado's ``log_function``: counts the requests the app finished, and those not 2xx."""

    def __init__(self) -> None:
        self.requests = 0
        self.non_2xx = 0

    def __call__(self, handler: tornado.web.RequestHandler) -> None:
        self.requests += 1
        if not 200 <= handler.get_status() < 300:
            self.non_2xx += 1

    def reset(self) -> None:
        self.requests = self.non_2xx = 0


MakeApp = Callable[..., tornado.web.Application]


def load_make_app(path: Path) -> MakeApp:
    """Import ``make_app`` from the example app file; raises FileNotFoundError or ImportError saying why not."""
    if not path.is_file():
        raise FileNotFoundError(f"the example app {path} does not exist")
    spec = importlib.util.spec_from_file_location("tornado_dynasession_bench_app", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(path.parent))
    make_app = getattr(module, "make_app", None)
    if not callable(make_app):
        raise ImportError(f"{path} has no make_app(store, *, cookie_secret, touch_after, max_age)")
    result: MakeApp = make_app
    return result


# -- load generators ---------------------------------------------------------------------------------------------


class LoadGenerator(Protocol):
    """Runs load against a URL in a child process and returns the figures of ``wrk_report.lua``."""

    name: str

    async def run(self, url: str, *, connections: int, duration: float, cookies: Path | None) -> dict[str, float]:
        """Load ``url`` for ``duration`` seconds; ``cookies`` is a file of Cookie header values, one a line."""
        ...


async def _run_child(argv: list[str], marker: str, timeout: float) -> dict[str, float]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(REPO_ROOT)
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"{argv[0]} did not finish within {timeout:.0f} s") from None
    for line in stdout.decode(errors="replace").splitlines():
        if line.startswith(marker):
            figures: dict[str, float] = json.loads(line[len(marker) :])
            return figures
    raise RuntimeError(
        f"{' '.join(argv)} exited with {process.returncode} and no figures:\n"
        f"{stdout.decode(errors='replace')[-800:]}{stderr.decode(errors='replace')[-800:]}"
    )


class Wrk:
    """wrk with ``wrk_report.lua`` (cookie rotation and JSON figures), two threads."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.name = "wrk"

    async def describe(self) -> str:
        """``wrk <version>``."""
        process = await asyncio.create_subprocess_exec(
            self.executable, "-v", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await process.communicate()
        first = out.decode(errors="replace").splitlines()[0] if out else "wrk"
        return " ".join(first.split()[:2])

    async def run(self, url: str, *, connections: int, duration: float, cookies: Path | None) -> dict[str, float]:
        """Run wrk for ``duration`` seconds, rounded up to whole seconds."""
        seconds = max(1, int(-(-duration // 1)))
        argv = [
            self.executable,
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(Path(__file__).with_name("wrk_report.lua")),
            url,
            "--",
            str(cookies) if cookies else "",
        ]
        return await _run_child(argv, "WRKJSON ", seconds + 30)


class PythonLoad:
    """``python -m benchmarks.loadgen``: aiohttp in a child process."""

    name = "python"

    async def describe(self) -> str:
        """``benchmarks.loadgen (aiohttp <version>)``."""
        return f"benchmarks.loadgen (aiohttp {aiohttp.__version__})"

    async def run(
        self, url: str, *, connections: int, duration: float, cookies: Path | None, rate: float | None = None
    ) -> dict[str, float]:
        """Run the asyncio load generator for ``duration`` seconds (at ``rate`` requests per second, if given)."""
        argv = [sys.executable, "-m", "benchmarks.loadgen", url, "--connections", str(connections)]
        argv += ["--duration", str(duration)]
        if rate:
            argv += ["--rate", f"{rate:.1f}"]
        if cookies:
            argv += ["--cookies", str(cookies)]
        return await _run_child(argv, "LOADJSON ", duration + 30)


def choose_generator(kind: str) -> Wrk | PythonLoad:
    """wrk if asked for or (``auto``) found on PATH, else the asyncio load generator."""
    executable = shutil.which("wrk")
    if kind == "wrk" and executable is None:
        raise RuntimeError("--load-generator wrk was asked for, but wrk is not on PATH")
    if kind in ("wrk", "auto") and executable is not None:
        return Wrk(executable)
    return PythonLoad()


# -- the run ----------------------------------------------------------------------------------------------------


async def _log_in(base_url: str, count: int) -> list[str]:
    """Log ``count`` users in through ``/login?user=...`` and return each session's Cookie header value."""
    cookies: list[str] = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        for i in range(count):
            async with http.get(f"{base_url}/login?user=bench{i}", allow_redirects=False) as response:
                await response.read()
                if response.status >= 400:
                    raise RuntimeError(f"GET /login answered {response.status}")
                pairs = [f"{name}={morsel.value}" for name, morsel in response.cookies.items() if morsel.value]
                if not pairs:
                    raise RuntimeError("GET /login set no cookie")
                cookies.append("; ".join(pairs))
    return cookies


async def _probe(base_url: str, path: str, cookie: str | None) -> tuple[int, bool]:
    """One GET: its status, and whether the response sets a cookie."""
    headers = {"Cookie": cookie} if cookie else {}
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.get(base_url + path, headers=headers, allow_redirects=False) as response,
    ):
        await response.read()
        return response.status, "Set-Cookie" in response.headers


async def run_e2e(
    ctx: BenchContext,
    settings: E2ESettings,
    *,
    on_progress: Callable[[str, int], None] = lambda description, done: None,
) -> tuple[list[dict[str, Any]], str]:
    """Run every case; return the result rows and a description of the load generator used.

    ``on_progress`` is called with a description and 0 when a case (or a warm-up) starts, and 1 when a case ends.

    Raises on anything that makes the whole end-to-end part meaningless (no app, a login that sets no cookie, a
    cookie the app does not read back).
    """
    make_app = load_make_app(settings.app_path)
    generator = choose_generator(settings.generator)
    generator_description = await generator.describe()
    results: list[dict[str, Any]] = []
    groups: dict[tuple[float, str, str], list[E2ECase]] = {}
    for case in settings.cases:
        groups.setdefault((case.touch_after, case.backend, case.framework), []).append(case)

    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tornado_dynasession-e2e-")))
        for (touch_after, backend, framework), cases in groups.items():
            missing = next(
                (m for m in _NEEDS[backend] + _NEEDS[framework] if importlib.util.find_spec(m) is None), None
            )
            if missing is not None:
                for case in cases:
                    on_progress(f"end to end: {case.name} (skipped: {missing} is not installed)", 1)
                continue
            counting = CountingBackend(None, hash_key=ctx.hash_key)
            store = DynamoDBStore(
                ctx.table,
                endpoint_url=ctx.endpoint_url,
                backend=counting,
                names=AttributeNames(hash_key=ctx.hash_key),
                options=ClientOptions(region_name=ctx.region_name),
            )
            counting.inner = await _open_backend(store, backend)
            secret = secrets.token_hex(32)
            served: _RequestCounter | RequestCounter
            if framework == "fastapi":
                from . import e2e_fastapi

                app = e2e_fastapi.make_app(store, cookie_secret=secret, touch_after=touch_after, max_age=300.0)
                base_url, served, stop_server = await e2e_fastapi.serve(app)
            else:
                base_url, served, stop_server = _serve_tornado(
                    make_app(store, cookie_secret=secret, touch_after=touch_after, max_age=300.0)
                )
            try:
                cookies = await _log_in(base_url, LOGGED_IN_SESSIONS)
                cookie_file = tmp / f"cookies-{base_url.rsplit(':', 1)[1]}.txt"
                cookie_file.write_text("\n".join(cookies) + "\n")
                counting.reset()
                status, _ = await _probe(base_url, "/session", cookies[0])
                if status != 200 or counting.found != 1:
                    raise RuntimeError(
                        f"GET /session with a logged-in cookie answered {status} and found {counting.found} live "
                        f"sessions in {sum(counting.counts.values())} store calls (expected 200 and 1): the app "
                        "does not read the login cookie back"
                    )
                if settings.warmup > 0:
                    on_progress(f"end to end: warm-up, touch_after={touch_after:g} s", 0)
                    await generator.run(
                        base_url + cases[0].path,
                        connections=settings.connections,
                        duration=settings.warmup,
                        cookies=cookie_file if cases[0].cookie else None,
                    )
                for case in cases:
                    on_progress(f"end to end: {case.name}", 0)
                    _, sets_cookie = await _probe(base_url, case.path, cookies[-1] if case.cookie else None)
                    counting.reset()
                    served.reset()
                    cpu_started = time.process_time()
                    figures = await generator.run(
                        base_url + case.path,
                        connections=settings.connections,
                        duration=settings.duration,
                        cookies=cookie_file if case.cookie else None,
                    )
                    await asyncio.sleep(0.2)  # requests still in flight when the generator stopped finish
                    cpu = time.process_time() - cpu_started
                    row = _result(case, figures, served, counting, cpu, generator_description)
                    row["connections"] = settings.connections
                    row["response_sets_cookie"] = sets_cookie
                    if case.cookie and case.name.startswith(("session-read", "fastapi-session-read")):
                        row["no_session_at_same_rate"] = await _no_session_at_rate(
                            base_url, row["requests_per_s"], settings, served
                        )
                    results.append(row)
                    on_progress(f"end to end: {case.name}", 1)
            finally:
                await stop_server()
                await store.close()
    order = {case.name: index for index, case in enumerate(settings.cases)}
    results.sort(key=lambda row: order[row["case"]])
    return results, generator_description


async def _no_session_at_rate(
    base_url: str, rate: float, settings: E2ESettings, served: _RequestCounter | RequestCounter
) -> dict[str, float]:
    """The same app's route without sessions, loaded at ``rate`` requests/s (the session case's own): its app CPU
    per request. An app's CPU per request grows as its request rate falls (less work shares each wake-up of the
    event loop), so a session case limited by the server's rate is also compared with the floor at its own rate."""
    served.reset()
    started = time.process_time()
    figures = await PythonLoad().run(
        base_url + "/health", connections=settings.connections, duration=settings.duration, cookies=None, rate=rate
    )
    await asyncio.sleep(0.2)
    cpu = time.process_time() - started
    requests = served.requests or int(figures["requests"])
    return {
        "requests_per_s": requests / (figures["duration_us"] / 1e6) if figures["duration_us"] else 0.0,
        "app_cpu_us_per_request": cpu / requests * 1e6 if requests else float("nan"),
    }


async def _open_backend(store: DynamoDBStore, name: str) -> Backend:
    """The backend ``store`` would open for itself with ``backend=name``: its own client, through the telemetry
    metering a store has when opentelemetry is installed."""
    transport = await open_transport(cast(TransportName, name), store.options, endpoint_url=store.endpoint_url)
    if store.telemetry is not None:
        transport = store.telemetry.metered(transport)
    return WireBackend(transport, store.table, store.names)


_NEEDS: dict[str, list[str]] = {
    "aiobotocore": [],
    "aiodynamo": ["aiodynamo"],
    "aiohttp": [],
    "tornado": [],
    "fastapi": ["fastapi", "uvicorn"],
}
"""What a case's backend or framework needs installed, beyond the defaults; a case without it is skipped."""


def _serve_tornado(app: tornado.web.Application) -> tuple[str, _RequestCounter, Callable[[], Awaitable[None]]]:
    """Serve the Tornado app on a free 127.0.0.1 port: its base URL, its request counter and a stop function."""
    served = _RequestCounter()
    app.settings["log_function"] = served
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)

    async def stop() -> None:
        server.stop()
        await server.close_all_connections()

    return f"http://127.0.0.1:{sockets[0].getsockname()[1]}", served, stop


def _result(
    case: E2ECase,
    figures: dict[str, float],
    served: _RequestCounter | RequestCounter,
    counting: CountingBackend,
    cpu: float,
    generator: str,
) -> dict[str, Any]:
    requests = max(served.requests, 1)
    kinds = list(CALL_KINDS) + sorted(set(counting.counts) - set(CALL_KINDS))
    duration = figures["duration_us"] / 1e6
    reads = counting.read_units / requests
    writes = counting.write_units / requests
    return {
        "case": case.name,
        "description": case.description,
        "path": case.path,
        "touch_after_s": case.touch_after,
        "cookie": case.cookie,
        "backend": case.backend,
        "framework": case.framework,
        "requests_per_s": figures["requests"] / duration if duration > 0 else 0.0,
        "p50_ms": figures["p50_us"] / 1e3,
        "p99_ms": figures["p99_us"] / 1e3,
        "max_ms": figures["max_us"] / 1e3,
        "requests": served.requests,
        "non_2xx": served.non_2xx,
        "socket_errors": int(figures["socket_errors"]),
        "store_calls_per_request": {kind: counting.counts[kind] / requests for kind in kinds},
        "read_units_per_request": reads,
        "write_units_per_request": writes,
        "usd_per_million_requests": usd_per_million_requests(reads, writes),
        "item_bytes_read_mean": _mean(counting.read_sizes),
        "item_bytes_written_mean": _mean(counting.written_sizes),
        "app_cpu_us_per_request": cpu / requests * 1e6,
        "load_generator": generator,
    }


def _mean(sizes: Counter[int]) -> float | None:
    total = sum(sizes.values())
    return sum(size * count for size, count in sizes.items()) / total if total else None
