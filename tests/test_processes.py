"""Several processes serving one table: forked Tornado children, Sanic workers, and a Tornado and a Sanic service
side by side; and a store that crosses a fork."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from .app_processes import ROOT, AppProcess, start_app_process, wait_until_serving
from .doc_blocks import port_answers, program_env
from .support import Browser
from .test_docs import SANIC_RECIPE, TORNADO_RECIPE, doc_block
from .test_readme import sessions_table

__all__ = ["sessions_table"]  # the README's table fixture, used here too

CLOSE = {"Connection": "close"}  # a new connection per request, so that any process may accept it
MAX_REQUESTS = 200  # requests to wait for the second process to answer one


@pytest.fixture
def apps(dynamodb_endpoint: str, dynamodb_table: str, tmp_path: Path) -> Iterator[list[AppProcess]]:
    started: list[AppProcess] = []
    yield started
    for app in started:
        app.stop()


@pytest.fixture
async def browsers() -> AsyncIterator[list[Browser]]:
    opened: list[Browser] = []
    yield opened
    for browser in opened:
        await browser.close()


async def serve(
    framework: str,
    processes: int,
    apps: list[AppProcess],
    browsers: list[Browser],
    endpoint: str,
    table: str,
    tmp_path: Path,
) -> Browser:
    app = start_app_process(framework, endpoint=endpoint, table=table, log_dir=tmp_path, processes=processes)
    apps.append(app)
    browser = Browser(app.url)
    browsers.append(browser)
    await wait_until_serving(app, browser.get)
    return browser


async def assert_served_by_every_process(browser: Browser, app: AppProcess, processes: int) -> None:
    """Write one key per request over new connections until ``processes`` pids answered; every answer holds every
    key written before it, whichever process served it."""
    first = await browser.get("/set?key=k0&value=0", headers=CLOSE)
    assert first.status == 200, first.body
    session_id = None  # a new session has its id once saved: the next answer shows it
    pids = {json.loads(first.body)["pid"]}
    expected = {"k0": "0"}
    for i in range(1, MAX_REQUESTS):
        reply = await browser.get(f"/set?key=k{i}&value={i}", headers=CLOSE)
        assert reply.status == 200, reply.body
        answer = json.loads(reply.body)
        expected[f"k{i}"] = str(i)
        session_id = session_id or answer["id"]
        assert answer["id"] == session_id and answer["new"] is False
        assert answer["data"] == expected
        pids.add(answer["pid"])
        if len(pids) == processes and i >= 10:
            break
    assert len(pids) == processes, f"only {pids} answered in {MAX_REQUESTS} requests:\n{app.log()}"
    assert app.process.pid not in pids  # the parent or manager only supervises
    reread = json.loads((await browser.get("/read", headers=CLOSE)).body)
    assert reread["data"] == expected


async def test_forked_tornado_children_serve_one_session_in_turn(
    apps: list[AppProcess], browsers: list[Browser], dynamodb_endpoint: str, dynamodb_table: str, tmp_path: Path
) -> None:
    browser = await serve("tornado", 2, apps, browsers, dynamodb_endpoint, dynamodb_table, tmp_path)
    await assert_served_by_every_process(browser, apps[0], 2)


async def test_sanic_workers_serve_one_session_in_turn(
    apps: list[AppProcess], browsers: list[Browser], dynamodb_endpoint: str, dynamodb_table: str, tmp_path: Path
) -> None:
    browser = await serve("sanic", 2, apps, browsers, dynamodb_endpoint, dynamodb_table, tmp_path)
    await assert_served_by_every_process(browser, apps[0], 2)


async def test_a_tornado_and_a_sanic_process_share_a_session_and_a_logout_in_one_ends_it_in_the_other(
    apps: list[AppProcess], browsers: list[Browser], dynamodb_endpoint: str, dynamodb_table: str, tmp_path: Path
) -> None:
    tornado_side = await serve("tornado", 1, apps, browsers, dynamodb_endpoint, dynamodb_table, tmp_path)
    sanic_side = await serve("sanic", 1, apps, browsers, dynamodb_endpoint, dynamodb_table, tmp_path)
    sanic_side.cookies = tornado_side.cookies  # one browser, two services behind one domain

    login = json.loads((await tornado_side.get("/login?user=alice")).body)
    assert login["data"] == {"user": "alice"}
    signed_in_cookie = dict(tornado_side.cookies)
    changed = json.loads((await sanic_side.get("/set?key=theme&value=dark")).body)
    assert changed["id"] == login["id"] and changed["data"] == {"user": "alice", "theme": "dark"}
    seen = json.loads((await tornado_side.get("/read")).body)
    assert seen["id"] == login["id"] and seen["data"] == {"user": "alice", "theme": "dark"}

    assert (await sanic_side.get("/logout")).status == 200
    assert "session" not in tornado_side.cookies
    # The cookie from before the logout, replayed on the other service: a new, empty session.
    replayed = json.loads((await tornado_side.get("/read", cookies=signed_in_cookie)).body)
    assert replayed["new"] is True and replayed["data"] == {} and replayed["id"] != login["id"]


FORK_PROGRAM = """
import asyncio, os, sys
from tornado_dynasession import DynamoDBStore
from tornado_dynasession.errors import ConfigurationError

store = DynamoDBStore({table!r}, endpoint_url={endpoint!r})
if {open_before_fork}:
    asyncio.run(store.open())

async def use():
    try:
        await store.set("forked", {{"n": 1}})
        print("child:", await store.get("forked"), flush=True)
    except ConfigurationError as exc:
        print("child: ConfigurationError:", exc, flush=True)
    finally:
        await store.close()

pid = os.fork()
if pid == 0:
    asyncio.run(use())
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("parent: child exited", os.waitstatus_to_exitcode(status), flush=True)
"""


def run_fork_program(endpoint: str, table: str, *, open_before_fork: bool) -> str:
    code = textwrap.dedent(FORK_PROGRAM).format(table=table, endpoint=endpoint, open_before_fork=open_before_fork)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,  # a hang fails here
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_store_opened_before_a_fork_fails_at_once_in_the_child_naming_the_fix(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    output = run_fork_program(dynamodb_endpoint, dynamodb_table, open_before_fork=True)
    assert "child: ConfigurationError:" in output, output
    assert "a connection pool cannot be shared between processes" in output
    assert "after tornado.process.fork_processes()" in output and "before_server_start" in output
    assert "parent: child exited 0" in output


def test_a_store_first_opened_after_a_fork_works_in_the_child(dynamodb_endpoint: str, dynamodb_table: str) -> None:
    output = run_fork_program(dynamodb_endpoint, dynamodb_table, open_before_fork=False)
    assert "child: {'n': 1}" in output, output
    assert "parent: child exited 0" in output


# -- the recipes of the operations page (docs/operations.md) -------------------------------------------------------


async def visit_until_every_process_served(url: str, processes: int) -> set[int]:
    """Visit the recipe's counter with one cookie jar until ``processes`` pids answered; the count never skips."""
    browser = Browser(url)
    pids: set[int] = set()
    try:
        for visit in range(1, MAX_REQUESTS + 1):
            reply = await browser.get("/", headers=CLOSE)
            assert reply.status == 200, reply.body
            pid, count = re.fullmatch(r"process (\d+): visit (\d+)", reply.body).groups()  # type: ignore[union-attr]
            assert int(count) == visit
            pids.add(int(pid))
            if len(pids) == processes and visit >= 10:
                break
    finally:
        await browser.close()
    return pids


def start_recipe(marker: str, port: int, endpoint: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    (tmp_path / "app.py").write_text(doc_block(marker, "operations.md").code, encoding="utf-8")
    log = (tmp_path / "app.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=tmp_path,
        env=program_env(endpoint),
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not port_answers(port):
        assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "app.log").read_text()
        time.sleep(0.1)
    return process


@pytest.mark.parametrize(("marker", "port"), [(TORNADO_RECIPE, 8888), (SANIC_RECIPE, 8000)], ids=["tornado", "sanic"])
async def test_the_documented_recipes_serve_one_session_from_two_processes_and_stop_on_sigterm(
    marker: str, port: int, dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    if port_answers(port):
        pytest.fail(f"port {port} is already in use on this machine: the recipe listens there; free it")
    process = start_recipe(marker, port, dynamodb_endpoint, tmp_path)
    try:
        pids = await visit_until_every_process_served(f"http://127.0.0.1:{port}", 2)
        assert len(pids) == 2, (tmp_path / "app.log").read_text()
        os.killpg(process.pid, signal.SIGTERM)  # the whole group, as the page says
        await asyncio.to_thread(process.wait, 60)
        deadline = time.monotonic() + 60
        while port_answers(port):  # every child has stopped listening
            assert time.monotonic() < deadline, (tmp_path / "app.log").read_text()
            await asyncio.sleep(0.1)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
