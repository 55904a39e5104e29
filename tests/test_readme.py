"""Every ```python block of README.md runs as written.

The blocks are taken from the README in order by a small parser. Each one compiles; the store snippet, the Tornado
and Sanic examples and the pytest example run as programs (subprocesses) against the test session's DynamoDB
server, through ``$DYNAMODB_ENDPOINT`` as a user would, on a table named ``sessions`` as the README says. A block
preceded by ``<!-- fragment -->`` is only compiled.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.web
from tornado.testing import bind_unused_port

from tornado_dynasession import DynamoDBStore
from tornado_dynasession.tables import create_table, delete_table

from .support import stop_process

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[ \t]*$")
TABLE = "sessions"  # the table name the README's examples hard-code
START_TIMEOUT = 30.0  # seconds for an example server to answer on its port
RUN_TIMEOUT = 120.0  # seconds for a program that runs to completion


@dataclass(frozen=True)
class Block:
    """One fenced ```python block: its code (dedented to the fence), where it starts, and its fragment mark."""

    code: str
    line: int
    fragment: bool


def python_blocks(text: str) -> list[Block]:
    """The ```python blocks of a Markdown text, in order. Fences may be indented (inside list items)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    previous = ""  # the last non-blank line outside a block, for the fragment mark
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match or not match["lang"]:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        indent, lang, start = match["indent"], match["lang"], i + 1
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        assert i < len(lines), f"README.md:{start}: unclosed code fence"
        if lang == "python":
            blocks.append(Block("\n".join(body) + "\n", start, previous == "<!-- fragment -->"))
        previous = ""
        i += 1
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def block(marker: str) -> Block:
    """The one README block that contains ``marker``."""
    found = [b for b in BLOCKS if marker in b.code]
    assert len(found) == 1, f"expected one ```python block of README.md containing {marker!r}, found {len(found)}"
    return found[0]


TORNADO = 'self.write(f"visits: '
SIGN_OUT = "revoke_user("
OBSERVABILITY = "ConsoleSpanExporter"
SANIC = "single_process=True"  # the one-process example; the several-process recipe has workers=2
STORE = "store.lookup("
PREPARE = "async def prepare("
PYTEST = "dynamodb_table"


def program_env(endpoint: str) -> dict[str, str]:
    """The environment of a README program: ours, pointed at the test server."""
    env = dict(os.environ, DYNAMODB_ENDPOINT=endpoint, PYTHONUNBUFFERED="1")
    env.pop("PYTEST_ADDOPTS", None)
    return env


@pytest.fixture(scope="module")
def sessions_table(dynamodb_endpoint: str) -> Iterator[str]:
    """The ``sessions`` table the README's programs use, with the user index as the README's ``local`` command
    makes it, on the test server; deleted afterwards if we created it."""
    setup = asyncio.run(create_table(TABLE, endpoint_url=dynamodb_endpoint, user_index="UserIndex"))
    try:
        yield TABLE
    finally:
        if setup.created:
            asyncio.run(delete_table(TABLE, endpoint_url=dynamodb_endpoint))


def port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def serving(code: str, port: int, tmp_path: Path, endpoint: str) -> Iterator[None]:
    """Run ``code`` as ``app.py`` until it answers on ``port``; terminate it afterwards."""
    if port_answers(port):
        pytest.fail(f"port {port} is already in use on this machine: the README example listens there; free it")
    script = tmp_path / "app.py"
    script.write_text(code, encoding="utf-8")
    log_path = tmp_path / "app.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, script.name], cwd=tmp_path, env=program_env(endpoint), stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not port_answers(port):
                if process.poll() is not None:
                    pytest.fail(f"the example exited ({process.returncode}) before listening:\n{log_path.read_text()}")
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"the example did not answer on port {port} in {START_TIMEOUT}s:\n{log_path.read_text()}"
                    )
                time.sleep(0.1)
            yield
        finally:
            stop_process(process)


def get(url: str) -> tuple[int, str, str | None]:
    """GET ``url``: status, body and Set-Cookie."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode(), response.headers.get("Set-Cookie")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), exc.headers.get("Set-Cookie")


def test_readme_has_the_expected_blocks() -> None:
    for marker in (TORNADO, SANIC, STORE, PREPARE, PYTEST, SIGN_OUT, OBSERVABILITY):
        block(marker)


@pytest.mark.parametrize("readme_block", BLOCKS, ids=[f"line{b.line}" for b in BLOCKS])
def test_every_block_compiles(readme_block: Block) -> None:
    compile(readme_block.code, f"README.md:{readme_block.line}", "exec")


def run_program(marker: str, endpoint: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the README block containing ``marker`` as a program to completion; its output, after checking it exited 0."""
    script = tmp_path / "example.py"
    script.write_text(block(marker).code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, script.name],
        cwd=tmp_path,
        env=program_env(endpoint),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_store_snippet_runs(dynamodb_endpoint: str, sessions_table: str, tmp_path: Path) -> None:
    result = run_program(STORE, dynamodb_endpoint, tmp_path)
    assert "{'user': 'alice'}" in result.stdout
    assert "Absence.MISSING" in result.stdout


def test_observability_example_prints_spans_without_the_session_id(
    dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    result = run_program(OBSERVABILITY, dynamodb_endpoint, tmp_path)
    assert '"name": "get sessions"' in result.stdout and '"db.system.name": "aws.dynamodb"' in result.stdout
    assert "{'user': 'alice'}" in result.stdout
    assert "an-example-session-id" not in result.stdout


def test_tornado_example_serves(dynamodb_endpoint: str, sessions_table: str, tmp_path: Path) -> None:
    with serving(block(TORNADO).code, 8888, tmp_path, dynamodb_endpoint):
        status, body, cookie = get("http://127.0.0.1:8888/")
    assert (status, body) == (200, "visits: 1")
    assert cookie and cookie.startswith("session=")


def test_sign_out_everywhere_example_lists_devices_and_ends_the_others(
    dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    laptop = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    phone = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())

    def call(opener: urllib.request.OpenerDirector, path: str, form: dict[str, str] | None = None) -> Any:
        data = None if form is None else urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(f"http://127.0.0.1:8888{path}", data=data, headers={"User-Agent": path})
        try:
            with opener.open(request, timeout=10) as response:
                body = response.read().decode()
                return json.loads(body) if body else response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    with serving(block(SIGN_OUT).code, 8888, tmp_path, dynamodb_endpoint):
        assert call(laptop, "/login", {"user": "alice"}) == 200
        assert call(phone, "/login", {"user": "alice"}) == 200
        devices = call(laptop, "/devices")["sessions"]
        assert len(devices) == 2 and sum(device["this"] for device in devices) == 1
        assert call(laptop, "/sign-out-others", {}) == {"ended": 1}
        assert call(phone, "/devices") == 403
        assert [device["this"] for device in call(laptop, "/devices")["sessions"]] == [True]


def test_sanic_example_serves(dynamodb_endpoint: str, sessions_table: str, tmp_path: Path) -> None:
    with serving(block(SANIC).code, 8000, tmp_path, dynamodb_endpoint):
        status, body, cookie = get("http://127.0.0.1:8000/")
        health = get("http://127.0.0.1:8000/health")
    assert (status, body) == (200, "visits: 1")
    assert cookie and cookie.startswith("session=")
    assert health == (200, "ok", None)


async def test_prepare_snippet_redirects_to_login(dynamodb_endpoint: str, dynamodb_table: str) -> None:
    namespace: dict[str, object] = {"__name__": "readme_prepare"}
    exec(compile(block(PREPARE).code, "README.md", "exec"), namespace)
    handler = namespace["Account"]
    assert isinstance(handler, type) and issubclass(handler, tornado.web.RequestHandler)
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        app = tornado.web.Application([(r"/", handler)], session_store=store, cookie_secret="s" * 32)
        sock, port = bind_unused_port()
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets([sock])
        client = tornado.httpclient.AsyncHTTPClient()
        try:
            response = await client.fetch(
                f"http://127.0.0.1:{port}/", follow_redirects=False, raise_error=False, request_timeout=10
            )
        finally:
            server.stop()
            await server.close_all_connections()
    assert response.code == 302
    assert response.headers["Location"] == "/login"


def test_pytest_example_passes(dynamodb_endpoint: str, tmp_path: Path) -> None:
    (tmp_path / "test_sessions.py").write_text(block(PYTEST).code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_sessions.py"],
        cwd=tmp_path,
        env=program_env(dynamodb_endpoint),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
