"""What tests/test_readme.py and tests/test_docs.py share: the Markdown code-block parser, and running a block as a
user would (as a program against the test session's DynamoDB server, through ``$DYNAMODB_ENDPOINT``, or serving it
on a port until it answers there).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tornado_dynasession.tables import create_table, delete_table

from .support import stop_process

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[ \t]*$")
TABLE = "sessions"  # the table name the examples hard-code
START_TIMEOUT = 30.0  # seconds for an example server to answer on its port
RUN_TIMEOUT = 120.0  # seconds for a program that runs to completion


@dataclass(frozen=True)
class Block:
    """One fenced ```python block: its code (dedented to the fence), where it starts, and its fragment mark."""

    code: str
    line: int
    fragment: bool
    source: str = "README.md"  # the file it is in, relative to the clone's top folder


def python_blocks(text: str, language: str = "python", source: str = "README.md") -> list[Block]:
    """The ```python blocks (or those of another ``language``) of a Markdown text, in order. Fences may be indented
    (inside list items). A block preceded by ``<!-- fragment -->`` is marked as a fragment."""
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
        assert i < len(lines), f"{source}:{start}: unclosed code fence"
        if lang == language:
            blocks.append(Block("\n".join(body) + "\n", start, previous == "<!-- fragment -->", source))
        previous = ""
        i += 1
    return blocks


def section_blocks(path: Path, heading: str, blocks: list[Block]) -> list[Block]:
    """The blocks under ``heading`` in the Markdown file at ``path`` (up to the next heading of its level)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading)
    level = heading.split(" ", 1)[0] + " "
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(level)), len(lines))
    return [b for b in blocks if start < b.line <= end]


def program_env(endpoint: str) -> dict[str, str]:
    """The environment of an example program: ours, pointed at the test server."""
    env = dict(os.environ, DYNAMODB_ENDPOINT=endpoint, PYTHONUNBUFFERED="1")
    env.pop("PYTEST_ADDOPTS", None)
    return env


@contextmanager
def sessions_table_on(endpoint: str) -> Iterator[str]:
    """The ``sessions`` table the examples use, with the user index as the ``local`` command makes it, on the test
    server; deleted afterwards if we created it."""
    setup = asyncio.run(create_table(TABLE, endpoint_url=endpoint, user_index="UserIndex"))
    try:
        yield TABLE
    finally:
        if setup.created:
            asyncio.run(delete_table(TABLE, endpoint_url=endpoint))


def port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def serving(code: str, port: int, tmp_path: Path, endpoint: str) -> Iterator[Path]:
    """Run ``code`` as ``app.py``, with ``PORT`` set to ``port``, until it answers there; terminate it afterwards.
    Yields the path of its output."""
    if port_answers(port):
        pytest.fail(f"port {port} is already in use on this machine: the example listens there; free it")
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


def run_program(code: str, endpoint: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` as a program to completion; its output, after checking it exited 0."""
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
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


def run_curl_session(code: str, port: int, cwd: Path) -> None:
    """Run each line of a ```sh block of curl commands against the Tornado example on ``port`` (the block says
    8888), and check that each prints what its ``# comment`` says."""
    lines = [line for line in code.splitlines() if line.strip()]
    assert len(lines) == 4
    for line in lines:
        command, expected = line.split("#", 1)
        command = command.replace("127.0.0.1:8888", f"127.0.0.1:{port}")  # the example's PORT, in this test
        result = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        assert (result.returncode, result.stdout) == (0, expected.strip()), (line, result.stderr)


def check_the_tornado_example(code: str, endpoint: str, tmp_path: Path, port: int) -> None:
    """The Tornado example prints its URL and counts a visit there."""
    with serving(code, port, tmp_path, endpoint) as log:
        status, body, cookie = get(f"http://127.0.0.1:{port}/")
        printed = log.read_text()
    assert f"serving on http://127.0.0.1:{port}\n" in printed
    assert (status, body) == (200, "visits: 1")
    assert cookie and cookie.startswith("session=")


def check_the_sanic_example(code: str, endpoint: str, tmp_path: Path, port: int) -> None:
    """The Sanic example prints its URL, counts a visit there, and serves /health without a session."""
    with serving(code, port, tmp_path, endpoint) as log:
        status, body, cookie = get(f"http://127.0.0.1:{port}/")
        health = get(f"http://127.0.0.1:{port}/health")
        printed = log.read_text()
    assert f"serving on http://127.0.0.1:{port}\n" in printed
    assert (status, body) == (200, "visits: 1")
    assert cookie and cookie.startswith("session=")
    assert health == (200, "ok", None)
