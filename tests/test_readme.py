"""Every ```python block of README.md runs as written.

The blocks are taken from the README in order by a small parser. Each one compiles; the store snippet, the Tornado,
Sanic, FastAPI and aiohttp examples and the pytest example run as programs (subprocesses) against the test
session's DynamoDB server, through ``$DYNAMODB_ENDPOINT`` as a user would, on a table named ``sessions`` as the
README says. A block preceded by ``<!-- fragment -->`` is only compiled.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
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

from .support import free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
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


def python_blocks(text: str, language: str = "python") -> list[Block]:
    """The ```python blocks (or those of another ``language``) of a Markdown text, in order. Fences may be indented
    (inside list items)."""
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
        if lang == language:
            blocks.append(Block("\n".join(body) + "\n", start, previous == "<!-- fragment -->"))
        previous = ""
        i += 1
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))
SHELL_BLOCKS = python_blocks(README.read_text(encoding="utf-8"), "sh")


def block(marker: str, blocks: list[Block] = BLOCKS, language: str = "python") -> Block:
    """The one README block (```python unless told) that contains ``marker``."""
    found = [b for b in blocks if marker in b.code]
    assert len(found) == 1, f"expected one ```{language} block of README.md containing {marker!r}, found {len(found)}"
    return found[0]


def shell_block(marker: str) -> Block:
    """The one ```sh block of the README that contains ``marker``."""
    return block(marker, SHELL_BLOCKS, "sh")


TORNADO = 'self.write(f"visits: '
SIGN_OUT = "revoke_user("
OBSERVABILITY = "ConsoleSpanExporter"
SANIC = "Sanic("
STORE = "store.lookup("
PREPARE = "async def prepare("
PYTEST = "dynamodb_table"
FASTAPI = "app.add_middleware(SessionMiddleware"
AIOHTTP = "tornado_dynasession.aiohttp_web import"
CURL = "curl -s -b jar -c jar"  # the README's curl session against the Tornado example


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
def serving(code: str, port: int, tmp_path: Path, endpoint: str) -> Iterator[Path]:
    """Run ``code`` as ``app.py``, with ``PORT`` set to ``port``, until it answers there; terminate it afterwards.
    Yields the path of its output."""
    if port_answers(port):
        pytest.fail(f"port {port} is already in use on this machine: the README example listens there; free it")
    script = tmp_path / "app.py"
    script.write_text(code, encoding="utf-8")
    log_path = tmp_path / "app.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, script.name],
            cwd=tmp_path,
            env={**program_env(endpoint), "PORT": str(port)},
            stdout=log,
            stderr=log,
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
            yield log_path
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
    for marker in (TORNADO, SANIC, FASTAPI, AIOHTTP, STORE, PREPARE, PYTEST, SIGN_OUT, OBSERVABILITY):
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


def test_tornado_example_serves_on_the_port_it_prints(
    dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    port = free_port()
    with serving(block(TORNADO).code, port, tmp_path, dynamodb_endpoint) as log:
        status, body, cookie = get(f"http://127.0.0.1:{port}/")
        printed = log.read_text()
    assert f"serving on http://127.0.0.1:{port}\n" in printed
    assert (status, body) == (200, "visits: 1")
    assert cookie and cookie.startswith("session=")


def test_the_curl_session_against_the_tornado_example_answers_as_its_comments_say(
    dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    port = free_port()
    lines = [line for line in shell_block(CURL).code.splitlines() if line.strip()]
    assert len(lines) == 4
    with serving(block(TORNADO).code, port, tmp_path, dynamodb_endpoint):
        for line in lines:
            command, expected = line.split("#", 1)
            command = command.replace("127.0.0.1:8888", f"127.0.0.1:{port}")  # the example's PORT, in this test
            result = subprocess.run(
                ["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT
            )
            assert (result.returncode, result.stdout) == (0, expected.strip()), (line, result.stderr)


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


def test_sanic_example_serves_on_the_port_it_prints(
    dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    port = free_port()
    with serving(block(SANIC).code, port, tmp_path, dynamodb_endpoint) as log:
        status, body, cookie = get(f"http://127.0.0.1:{port}/")
        health = get(f"http://127.0.0.1:{port}/health")
        printed = log.read_text()
    assert f"serving on http://127.0.0.1:{port}\n" in printed
    assert (status, body) == (200, "visits: 1")
    assert cookie and cookie.startswith("session=")
    assert health == (200, "ok", None)


@pytest.mark.parametrize(("marker", "port"), [(FASTAPI, 8001), (AIOHTTP, 8002)], ids=["fastapi", "aiohttp"])
def test_fastapi_and_aiohttp_examples_serve(
    marker: str, port: int, dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    with serving(block(marker).code, port, tmp_path, dynamodb_endpoint):
        status, body, cookie = get(f"http://127.0.0.1:{port}/")
        health = get(f"http://127.0.0.1:{port}/health")
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
    assert "asyncio_default_fixture_loop_scope" not in result.stdout + result.stderr  # the plugin hides the notice


# -- Install: the commands run in a new virtual environment, on a copy of the clone --------------------------------

INSTALL_TIMEOUT = 900.0  # seconds for the whole install test: pip downloads, builds the wheel, installs it


def section_blocks(heading: str, blocks: list[Block]) -> list[Block]:
    """The blocks under the README's ``heading`` (up to the next heading of its level)."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading)
    level = heading.split(" ", 1)[0] + " "
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(level)), len(lines))
    return [b for b in blocks if start < b.line <= end]


def copy_of_the_clone(destination: Path) -> Path:
    """The files of this clone as git sees them (tracked, and new ones not ignored), copied to ``destination``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is left out
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def run_commands(code: str, cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", "-e", "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
    )
    assert result.returncode == 0, f"{code}\n{result.stdout}\n{result.stderr}"


def imported_from(python: Path, cwd: Path) -> Path:
    """Where ``python`` imports the package from (with Sanic's extra: importing the Sanic adapter)."""
    code = "import tornado_dynasession.sanic, tornado_dynasession; print(tornado_dynasession.__file__)"
    result = subprocess.run([str(python), "-c", code], cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip()).resolve()


@pytest.mark.timeout(INSTALL_TIMEOUT)
def test_the_install_commands_install_from_the_clone_and_from_a_built_wheel(tmp_path: Path) -> None:
    editable, wheel = section_blocks("## Install", SHELL_BLOCKS)
    clone = copy_of_the_clone(tmp_path / "clone")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=RUN_TIMEOUT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv))
    elsewhere = tmp_path / "elsewhere"  # not the clone, so that only the installed package can be imported
    elsewhere.mkdir()

    run_commands(editable.code, clone, env)
    assert imported_from(venv / "bin" / "python", elsewhere).is_relative_to(clone.resolve())

    # The two ways are alternatives: the same environment serves both (for the dependencies' download time), with
    # the editable install removed first, as pip would otherwise find the requirement already met.
    run_commands("python -m pip uninstall --yes tornado_dynasession", clone, env)
    run_commands(wheel.code, clone, env)
    installed = imported_from(venv / "bin" / "python", elsewhere)
    assert installed.is_relative_to(venv.resolve()) and "site-packages" in installed.parts
