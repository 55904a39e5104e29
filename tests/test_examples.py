"""The example apps in ``examples/`` (and ``make demo``'s ``examples/demo.py``) as a user starts them: on the port
``PORT`` names, saying where they serve, and showing who is logged in."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tornado_dynasession.tables import create_table, delete_table

from .support import free_port, stop_process

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TABLE = "sessions"  # the examples' table
START_TIMEOUT_SECONDS = 60.0


@pytest.fixture(scope="module")
def sessions_table(dynamodb_endpoint: str) -> Iterator[str]:
    """The examples' ``sessions`` table, with the user index ``make demo`` gives it; deleted if made here."""
    setup = asyncio.run(create_table(TABLE, endpoint_url=dynamodb_endpoint, user_index="UserIndex"))
    try:
        yield TABLE
    finally:
        if setup.created:
            asyncio.run(delete_table(TABLE, endpoint_url=dynamodb_endpoint))


@contextmanager
def started(script: str, endpoint: str, port: int, tmp_path: Path) -> Iterator[str]:
    """Run ``examples/<script>`` with ``PORT=port`` until it prints its first ``serving on`` line; yields that
    line, and stops the process afterwards."""
    env = {**os.environ, "DYNAMODB_ENDPOINT": endpoint, "PORT": str(port), "COOKIE_SECRET": "s" * 32}
    log = tmp_path / f"{script}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            line = next((line for line in log.read_text().splitlines() if line.startswith("serving on ")), None)
            if line is not None:
                yield line
                return
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{script} printed no 'serving on' line:\n{log.read_text()}")
            time.sleep(0.1)
    finally:
        stop_process(process)


def browse(port: int, path: str, form: dict[str, str] | None, opener: urllib.request.OpenerDirector) -> str:
    data = None if form is None else urllib.parse.urlencode(form).encode()
    with opener.open(f"http://127.0.0.1:{port}{path}", data=data, timeout=30) as response:
        return str(response.read().decode())


@pytest.mark.parametrize("script", ["tornado_app.py", "sanic_app.py", "demo.py"])
def test_an_example_serves_on_the_port_named_by_PORT_and_says_so(
    script: str, dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    port = free_port()
    with started(script, dynamodb_endpoint, port, tmp_path) as line:
        assert line.startswith(f"serving on http://127.0.0.1:{port} ")
        assert "Not logged in" in browse(port, "/", None, urllib.request.build_opener())


@pytest.mark.parametrize("script", ["tornado_app.py", "sanic_app.py"])
def test_an_example_shows_the_logged_in_user(
    script: str, dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    port = free_port()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with started(script, dynamodb_endpoint, port, tmp_path):
        assert "Logged in as <b>alice</b>" in browse(port, "/login", {"user": "alice"}, browser)
        assert "Not logged in" in browse(port, "/logout", {}, browser)
