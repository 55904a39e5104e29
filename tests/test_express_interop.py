"""One user, two apps: an Express app (the real express-session, on the real Node store) and our Tornado or Sanic
app share sessions through one DynamoDB table and one ``connect.sid`` cookie.

Each test runs per table layout (``connect-dynamodb``: the npm store; ``express-dynamodb``: the layout of
MRobertEvers/dynamodb-session-store, reproduced in ``tests/interop/express-dynamodb-store.js``) and per framework. The
Express app is ``tests/interop/express_app.js``, started with ``node``; the packages come from ``npm ci``. A browser
shares its cookies across the ports of one host, so the two test clients share one cookie jar.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tornado_dynasession import DynamoDBStore

from .conftest import FRAMEWORKS
from .support import Browser, free_port, open_raw_client, stop_process

SECRET = "express-and-ours-share-this-secret"
APP = Path(__file__).resolve().parent / "interop" / "express_app.js"
GUIDE = Path(__file__).resolve().parent.parent / "docs" / "express.md"  # the Express guide
PRESETS = {"connect-dynamodb": "id", "express-dynamodb": "SessionID"}  # layout -> the table's hash key
LIFETIME_SECONDS = 600
SHORT_LIFETIME_SECONDS = 2
# How long to wait after a side's last write for a short-lived session to have ended: both Node stores write an
# expiry at most the lifetime ahead; ours rounds it up to a whole second, so up to 1 s more.
PAST_EXPRESS_EXPIRY_SECONDS = SHORT_LIFETIME_SECONDS + 0.3
PAST_OUR_EXPIRY_SECONDS = SHORT_LIFETIME_SECONDS + 1.3
STARTUP_TIMEOUT_SECONDS = 30.0


# -- the Express app ------------------------------------------------------------------------------------------------


@dataclass
class ExpressApp:
    """A running ``express_app.js``."""

    base_url: str
    process: subprocess.Popen[str]
    log: Path


def start_express(*, endpoint: str, table: str, preset: str, lifetime_seconds: int, log: Path) -> ExpressApp:
    """Start the Express app with ``node`` and wait until it says it is listening."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "DYNAMODB_ENDPOINT": endpoint,
        "TABLE": table,
        "STORE": preset,
        "SESSION_SECRET": SECRET,
        "MAX_AGE_MS": str(lifetime_seconds * 1000),
    }
    with log.open("w") as stderr:
        process = subprocess.Popen(["node", str(APP)], env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        ready, _, _ = select.select([process.stdout], [], [], max(deadline - time.monotonic(), 0))
        line = process.stdout.readline() if ready else ""
        if line.startswith("listening"):
            return ExpressApp(f"http://127.0.0.1:{port}", process, log)
        if not ready or not line:  # timed out, or node exited
            stop_process(process)
            raise RuntimeError(f"the Express app did not start:\n{log.read_text()}")


@pytest.fixture(scope="module", params=sorted(PRESETS))
def preset(request: pytest.FixtureRequest) -> str:
    """The table layout both sides use: every test runs once per preset."""
    return str(request.param)


def run_cli(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    """``python -m tornado_dynasession ARGS`` as the guide's recipe runs it, with ``DYNAMODB_ENDPOINT`` set."""
    return subprocess.run(
        [sys.executable, "-m", "tornado_dynasession", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DYNAMODB_ENDPOINT": endpoint},
    )


@pytest.fixture(scope="module")
def table(preset: str, dynamodb_endpoint: str) -> Iterator[str]:
    """The preset's table for this module, created as the guide's recipe says: ``create-table --layout``."""
    name = f"express-interop-{uuid.uuid4().hex[:12]}"
    created = run_cli("create-table", "--table", name, "--layout", preset, endpoint=dynamodb_endpoint)
    assert created.returncode == 0, created.stderr

    async def delete() -> None:
        async with open_raw_client(dynamodb_endpoint) as client:
            await client.delete_table(TableName=name)

    yield name
    asyncio.run(delete())


@pytest.fixture(scope="module")
def express_apps(
    preset: str, table: str, dynamodb_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[int, ExpressApp]]:
    """The Express apps on this module's table, by session lifetime in seconds: one with a long lifetime, one with
    a short one (they share the table as two instances of one app would)."""
    logs = tmp_path_factory.mktemp(f"express-{preset}")
    apps: dict[int, ExpressApp] = {}
    try:
        for lifetime in (LIFETIME_SECONDS, SHORT_LIFETIME_SECONDS):
            log = logs / f"express-{lifetime}s.log"
            apps[lifetime] = start_express(
                endpoint=dynamodb_endpoint, table=table, preset=preset, lifetime_seconds=lifetime, log=log
            )
        yield apps
    finally:
        for app in apps.values():
            stop_process(app.process)


# -- the two sides, as one browser sees them ------------------------------------------------------------------------


@dataclass
class Sides:
    """A browser's view of the Express app and ours: two clients with one cookie jar."""

    express: Browser
    ours: Browser


@asynccontextmanager
async def open_sides(
    *, framework: str, preset: str, table: str, endpoint: str, express: ExpressApp, lifetime_seconds: int
) -> AsyncIterator[Sides]:
    store = DynamoDBStore(table, endpoint_url=endpoint, layout=preset)  # type: ignore[arg-type]
    await store.open()
    base_url, stop = await FRAMEWORKS[framework](
        store, secret=SECRET, cookie_format="express", max_age=lifetime_seconds
    )
    sides = Sides(express=Browser(express.base_url), ours=Browser(base_url))
    sides.ours.cookies = sides.express.cookies
    try:
        yield sides
    finally:
        await sides.express.close()
        await sides.ours.close()
        await stop()
        await store.close()


@pytest.fixture
async def sides(
    framework: str, preset: str, table: str, dynamodb_endpoint: str, express_apps: dict[int, ExpressApp]
) -> AsyncIterator[Sides]:
    """Both apps with a session lifetime of 10 minutes."""
    async with open_sides(
        framework=framework,
        preset=preset,
        table=table,
        endpoint=dynamodb_endpoint,
        express=express_apps[LIFETIME_SECONDS],
        lifetime_seconds=LIFETIME_SECONDS,
    ) as opened:
        yield opened


@pytest.fixture
async def short_lived_sides(
    framework: str, preset: str, table: str, dynamodb_endpoint: str, express_apps: dict[int, ExpressApp]
) -> AsyncIterator[Sides]:
    """Both apps with a session lifetime of 2 seconds."""
    async with open_sides(
        framework=framework,
        preset=preset,
        table=table,
        endpoint=dynamodb_endpoint,
        express=express_apps[SHORT_LIFETIME_SECONDS],
        lifetime_seconds=SHORT_LIFETIME_SECONDS,
    ) as opened:
        yield opened


async def visit(browser: Browser, path: str, *, cookies: dict[str, str] | None = None) -> dict[str, Any]:
    """GET ``path`` and return the JSON answer; any other status fails with the body (the Express app answers a
    store error as 500 with its message)."""
    reply = await browser.get(path, cookies=cookies)
    assert reply.status == 200, f"GET {browser.base_url}{path} answered {reply.status}: {reply.body}"
    answer: dict[str, Any] = json.loads(reply.body)
    return answer


# -- signing in on one side, going on on the other -------------------------------------------------------------------


async def test_a_user_signed_in_on_express_is_signed_in_on_ours(sides: Sides) -> None:
    await visit(sides.express, "/login?user=alice")
    read = await visit(sides.ours, "/read")
    assert read["new"] is False
    assert read["data"] == {"user": "alice"}


async def test_a_user_signed_in_on_ours_is_signed_in_on_express(sides: Sides) -> None:
    await visit(sides.ours, "/login?user=alice")
    read = await visit(sides.express, "/read")
    assert read["new"] is False
    assert read["data"] == {"user": "alice"}


async def test_a_change_made_on_ours_is_seen_on_express(sides: Sides) -> None:
    await visit(sides.express, "/login?user=alice")
    await visit(sides.ours, "/set?key=theme&value=dark")
    read = await visit(sides.express, "/read")
    assert read["data"] == {"user": "alice", "theme": "dark"}


async def test_a_change_made_on_express_is_seen_on_ours(sides: Sides) -> None:
    await visit(sides.ours, "/login?user=alice")
    await visit(sides.express, "/set?key=theme&value=dark")
    read = await visit(sides.ours, "/read")
    assert read["data"] == {"user": "alice", "theme": "dark"}


async def test_changes_made_in_turn_on_both_sides_are_all_kept(sides: Sides) -> None:
    await visit(sides.express, "/login?user=alice")
    await visit(sides.ours, "/set?key=theme&value=dark")
    await visit(sides.express, "/set?key=cart&value=3")
    await visit(sides.ours, "/set?key=lang&value=fr")
    expected = {"user": "alice", "theme": "dark", "cart": "3", "lang": "fr"}
    assert (await visit(sides.express, "/read"))["data"] == expected
    assert (await visit(sides.ours, "/read"))["data"] == expected


async def test_one_cookie_carries_the_session_across_both_sides(sides: Sides) -> None:
    await visit(sides.express, "/login?user=alice")
    cookie = dict(sides.express.cookies)
    await visit(sides.ours, "/set?key=theme&value=dark")
    await visit(sides.express, "/set?key=cart&value=3")
    assert sides.express.cookies == cookie  # neither side replaced the cookie express-session set at login


async def test_a_login_on_ours_replaces_a_session_express_started(sides: Sides) -> None:
    await visit(sides.express, "/login?user=guest")
    before = dict(sides.express.cookies)
    await visit(sides.ours, "/login?user=alice")
    assert sides.express.cookies != before
    assert (await visit(sides.express, "/read"))["data"] == {"user": "alice"}
    assert (await visit(sides.express, "/read", cookies=before))["new"] is True


# -- signing out ---------------------------------------------------------------------------------------------------


async def test_a_logout_on_express_ends_the_session_on_ours(sides: Sides) -> None:
    await visit(sides.ours, "/login?user=alice")
    assert (await visit(sides.express, "/read"))["data"] == {"user": "alice"}
    cookie = dict(sides.express.cookies)
    await visit(sides.express, "/logout")
    read = await visit(sides.ours, "/read", cookies=cookie)  # the old cookie, as a copy kept elsewhere would be
    assert read["new"] is True
    assert read["data"] == {}


async def test_a_logout_on_ours_ends_the_session_on_express(sides: Sides) -> None:
    await visit(sides.express, "/login?user=alice")
    assert (await visit(sides.ours, "/read"))["data"] == {"user": "alice"}
    cookie = dict(sides.express.cookies)
    await visit(sides.ours, "/logout")
    read = await visit(sides.express, "/read", cookies=cookie)
    assert read["new"] is True
    assert read["data"] == {}


# -- expiry --------------------------------------------------------------------------------------------------------


async def test_express_ends_a_session_idle_past_the_lifetime_ours_last_gave_it(short_lived_sides: Sides) -> None:
    sides = short_lived_sides
    await visit(sides.express, "/login?user=alice")
    assert (await visit(sides.ours, "/read"))["new"] is False  # ours renews the expiry on every visit
    await asyncio.sleep(PAST_OUR_EXPIRY_SECONDS)
    read = await visit(sides.express, "/read")
    assert read["new"] is True
    assert read["data"] == {}


async def test_ours_ends_a_session_idle_past_the_lifetime_express_last_gave_it(short_lived_sides: Sides) -> None:
    # express-session renews a session it loads by the lifetime stored in it (its cookie's originalMaxAge): the one
    # ours gave the session when it started it.
    sides = short_lived_sides
    await visit(sides.ours, "/login?user=alice")
    assert (await visit(sides.express, "/read"))["new"] is False
    await asyncio.sleep(PAST_EXPRESS_EXPIRY_SECONDS)
    read = await visit(sides.ours, "/read")
    assert read["new"] is True
    assert read["data"] == {}


# -- a string JavaScript allows and Unicode does not -----------------------------------------------------------------


async def test_half_an_emoji_saved_on_express_keeps_the_user_signed_in_on_both_sides(sides: Sides) -> None:
    # "🎉".slice(0, 1) is a lone surrogate: ours reads it as U+FFFD, the replacement character.
    await visit(sides.express, "/login?user=alice")
    await visit(sides.express, "/set-half-emoji?key=name")
    read = await visit(sides.ours, "/read")
    assert read["new"] is False
    assert read["data"] == {"user": "alice", "name": "\ufffd"}
    await visit(sides.ours, "/set?key=theme&value=dark")  # saved again by ours: as U+FFFD
    read = await visit(sides.express, "/read")
    assert read["new"] is False
    assert read["data"] == {"user": "alice", "name": "\ufffd", "theme": "dark"}


# -- the tools and the guide's recipe --------------------------------------------------------------------------------


async def test_create_table_and_doctor_with_the_layout_find_the_table_express_wrote_healthy(
    preset: str, table: str, dynamodb_endpoint: str, express_apps: dict[int, ExpressApp]
) -> None:
    express = Browser(express_apps[LIFETIME_SECONDS].base_url)
    try:
        await visit(express, "/login?user=alice")
        await visit(express, "/set-half-emoji?key=name")
    finally:
        await express.close()
    again = await asyncio.to_thread(
        run_cli, "create-table", "--table", table, "--layout", preset, endpoint=dynamodb_endpoint
    )
    assert again.returncode == 0, again.stderr
    assert "already exists with this key" in again.stdout
    doctor = await asyncio.to_thread(
        run_cli, "doctor", "--table", table, "--layout", preset, endpoint=dynamodb_endpoint
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert f"ok, in the {preset} layout" in doctor.stdout
    assert "fix " not in doctor.stdout and "delete" not in doctor.stdout


def normalized_call(text: str, opening: str) -> str:
    """The argument text of the first ``opening(...)`` call in JavaScript ``text``, without comments or spaces."""
    start = text.index(opening)
    depth, end = 0, start + opening.index("(")
    while True:
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            break
        end += 1
    code = re.sub(r"//[^\n]*", "", text[start : end + 1])
    return re.sub(r"\s+", "", code)


def test_the_guide_recipe_configures_express_as_the_tested_app_does() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    section = guide[guide.index("# Sharing sessions with an Express app") :]
    recipe = section[section.index("```js") : section.index("```", section.index("```js") + 5)]
    app = APP.read_text(encoding="utf-8")
    for opening in ("new DynamoDBClient(", "session({"):
        assert normalized_call(recipe, opening) == normalized_call(app, opening), opening
    assert "create-table --table sessions --layout connect-dynamodb" in section
