"""The command line as a user runs it, in a fresh interpreter: one-line errors for user mistakes, and ``local``.

Nothing here reaches the network beyond 127.0.0.1: the ``.invalid`` endpoints are only used where the error is
raised before any connection (no region, no credentials).
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tornado_dynasession import create_table
from tornado_dynasession.tables import delete_table
from tornado_dynasession.tools import cli

from .support import free_port, open_raw_client

AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


def child_env(tmp_path: Path | None = None, **overrides: str) -> dict[str, str]:
    """The environment for the CLI: no DYNAMODB_ENDPOINT; with ``tmp_path``, no AWS settings at all (empty config
    and credentials files, no instance metadata), so that nothing can find a region, credentials or a network."""
    env = {k: v for k, v in os.environ.items() if k != "DYNAMODB_ENDPOINT"}
    if tmp_path is not None:
        for name in AWS_VARIABLES:
            env.pop(name, None)
        empty = tmp_path / "empty-aws-file"
        empty.write_text("")
        env.update(AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty), AWS_EC2_METADATA_DISABLED="true")
    env.update(overrides)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tornado_dynasession", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else child_env(),
    )


def one_line_error(result: subprocess.CompletedProcess[str], status: int) -> str:
    """The single stderr line of a failed run, after checking the status and that there is no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == status, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), result.stderr
    return lines[0]


# -- create-table: one line per user mistake -------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", [[], ["--endpoint-url", "https://dynamodb.example.invalid"]], ids=["aws", "url"])
def test_no_region_is_one_line_naming_the_fix(tmp_path: Path, endpoint: list[str]) -> None:
    result = run_cli("create-table", "--table", "sessions", *endpoint, env=child_env(tmp_path))
    assert one_line_error(result, 2).endswith("no AWS region: pass --region or set AWS_DEFAULT_REGION")


def test_an_endpoint_without_a_scheme_is_one_line_with_the_corrected_option() -> None:
    result = run_cli("create-table", "--table", "sessions", "--endpoint-url", "127.0.0.1:8000")
    line = one_line_error(result, 2)
    assert "add http:// or https://" in line
    assert line.endswith("--endpoint-url http://127.0.0.1:8000")


def test_a_DYNAMODB_ENDPOINT_without_a_scheme_is_one_line_with_the_corrected_variable() -> None:
    result = run_cli("create-table", "--table", "sessions", env=child_env(DYNAMODB_ENDPOINT="localhost:8000"))
    assert one_line_error(result, 2).endswith("DYNAMODB_ENDPOINT=http://localhost:8000")


def test_no_credentials_for_a_real_aws_endpoint_is_one_line(tmp_path: Path) -> None:
    # Raised while signing, before any connection: the .invalid host is never looked up.
    env = child_env(tmp_path, AWS_DEFAULT_REGION="eu-west-1")
    result = run_cli(
        "create-table", "--table", "sessions", "--endpoint-url", "https://dynamodb.example.invalid", env=env
    )
    line = one_line_error(result, 2)
    assert "no AWS credentials" in line
    assert "AWS_ACCESS_KEY_ID" in line


def test_an_unreachable_server_is_one_line_saying_how_to_start_one() -> None:
    port = free_port()
    result = run_cli("create-table", "--table", "sessions", "--endpoint-url", f"http://127.0.0.1:{port}")
    line = one_line_error(result, 1)
    assert f"http://127.0.0.1:{port}" in line
    assert "unreachable" in line
    assert f"python -m tornado_dynasession local --port {port}" in line


async def test_a_table_with_another_hash_key_is_one_line_naming_both_keys(dynamodb_endpoint: str) -> None:
    table = f"cli-key-{time.time_ns()}"
    await create_table(table, hash_key="id", endpoint_url=dynamodb_endpoint)
    try:
        result = await asyncio.to_thread(run_cli, "create-table", "--table", table, "--endpoint-url", dynamodb_endpoint)
        line = one_line_error(result, 1)
        assert "'id'" in line and "'SessionID'" in line and "--hash-key" in line
    finally:
        await delete_table(table, endpoint_url=dynamodb_endpoint)


def test_a_missing_option_is_one_line_pointing_at_the_help() -> None:
    line = one_line_error(run_cli("create-table"), 2)
    assert "--table" in line and "--help" in line


# -- local -----------------------------------------------------------------------------------------------------


class Local:
    """``python -m tornado_dynasession local ...`` in a child process, its stdout read line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tornado_dynasession", "local", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env if env is not None else child_env(),
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for_endpoint(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.stdout.append(line)
            if line.startswith("export DYNAMODB_ENDPOINT="):
                return line.partition("=")[2]
        self.process.kill()
        raise AssertionError(f"no export line; stdout {self.stdout}, stderr {self.process.communicate()[1]}")

    def stop(self, signum: int = signal.SIGINT, timeout: float = 10) -> tuple[int, str]:
        self.process.send_signal(signum)
        try:
            _, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        return self.process.returncode, stderr


@pytest.fixture
def local_processes() -> Iterator[list[Local]]:
    started: list[Local] = []
    yield started
    for local in started:
        if local.process.poll() is None:
            local.process.kill()
            local.process.wait()


def answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def get_item(endpoint: str, table: str, key: str) -> dict[str, Any] | None:
    async with open_raw_client(endpoint) as client:
        item: dict[str, Any] | None = (await client.get_item(TableName=table, Key={"SessionID": {"S": key}})).get(
            "Item"
        )
        return item


async def table_status(endpoint: str, table: str) -> str:
    async with open_raw_client(endpoint) as client:
        return str((await client.describe_table(TableName=table))["Table"]["TableStatus"])


def test_local_starts_dynalite_creates_the_table_and_stops_cleanly_on_sigint(local_processes: list[Local]) -> None:
    port = free_port()
    local = Local("--port", str(port), "--table", "t-cli-local")
    local_processes.append(local)
    endpoint = local.wait_for_endpoint()
    assert endpoint == f"http://127.0.0.1:{port}"
    assert any("dynalite" in line for line in local.stdout)
    assert asyncio.run(table_status(endpoint, "t-cli-local")) == "ACTIVE"
    assert "Ctrl-C" in str(local.lines.get(timeout=10))
    status, stderr = local.stop(signal.SIGINT)
    assert status == 0, stderr
    assert "Traceback" not in stderr
    assert not answers(port), "the dynalite child still listens"


def test_local_user_index_gives_the_table_the_user_index(local_processes: list[Local]) -> None:
    local = Local("--port", str(free_port()), "--table", "t-cli-users", "--user-index")
    local_processes.append(local)
    endpoint = local.wait_for_endpoint()
    assert "user index: created, ACTIVE" in local.stdout

    async def indexes() -> list[str]:
        async with open_raw_client(endpoint) as client:
            table = (await client.describe_table(TableName="t-cli-users"))["Table"]
        return [index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])]

    assert asyncio.run(indexes()) == ["UserIndex"]
    assert local.stop(signal.SIGTERM)[0] == 0


def test_local_path_keeps_the_data_across_a_stop_and_a_start(tmp_path: Path, local_processes: list[Local]) -> None:
    port = free_port()
    args = ("--port", str(port), "--table", "t-cli-disk", "--path", str(tmp_path / "data"))

    async def put(endpoint: str) -> None:
        async with open_raw_client(endpoint) as client:
            await client.put_item(TableName="t-cli-disk", Item={"SessionID": {"S": "kept"}, "v": {"S": "1"}})

    first = Local(*args)
    local_processes.append(first)
    endpoint = first.wait_for_endpoint()
    asyncio.run(put(endpoint))
    assert first.stop(signal.SIGTERM)[0] == 0

    second = Local(*args)
    local_processes.append(second)
    assert second.wait_for_endpoint() == endpoint
    assert any("already exists" in line for line in second.stdout)
    assert asyncio.run(get_item(endpoint, "t-cli-disk", "kept")) == {"SessionID": {"S": "kept"}, "v": {"S": "1"}}
    assert second.stop()[0] == 0


def test_local_without_node_falls_back_to_moto_saying_so(tmp_path: Path, local_processes: list[Local]) -> None:
    port = free_port()
    env = child_env(PATH=str(tmp_path))  # no node on PATH; the interpreter is run by its absolute path
    local = Local("--port", str(port), "--table", "t-cli-moto", env=env)
    local_processes.append(local)
    endpoint = local.wait_for_endpoint(timeout=90)
    assert any("node is not installed: starting moto" in line for line in local.stdout)
    assert asyncio.run(table_status(endpoint, "t-cli-moto")) == "ACTIVE"
    status, stderr = local.stop(signal.SIGTERM)
    assert status == 0 and "Traceback" not in stderr, stderr
    assert not answers(port)


def test_local_path_without_node_is_refused_in_one_line(tmp_path: Path) -> None:
    result = run_cli("local", "--port", str(free_port()), "--path", str(tmp_path), env=child_env(PATH=str(tmp_path)))
    line = one_line_error(result, 2)
    assert "moto keeps everything in memory" in line and "npm ci" in line


def test_local_with_a_DYNALITE_PATH_pointing_nowhere_is_one_line(tmp_path: Path) -> None:
    env = child_env(DYNALITE_PATH=str(tmp_path / "missing.js"))
    line = one_line_error(run_cli("local", "--port", str(free_port()), env=env), 2)
    assert "DYNALITE_PATH" in line and "npm" in line


def test_local_on_a_taken_port_is_one_line(local_processes: list[Local]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        line = one_line_error(run_cli("local", "--port", str(port)), 2)
    assert f"port {port}" in line and "--port" in line


def test_local_without_dynalite_or_moto_names_the_fix_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: moto is installed in the test environment, so its absence is simulated.
    monkeypatch.setattr(cli.shutil, "which", lambda name: None)
    monkeypatch.setattr(cli, "_moto_available", lambda: False)
    assert cli.main(["local", "--port", str(free_port())]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert "npm ci" in lines[0] and f"dynalite@{cli.DYNALITE_VERSION}" in lines[0] and "DYNALITE_PATH" in lines[0]
    assert 'pip install "tornado_dynasession[local]"' in lines[0]
    assert captured.out == ""


def test_local_help_explains_the_default_port() -> None:
    result = run_cli("local", "--help")
    assert result.returncode == 0
    assert "8001" in result.stdout and "Sanic" in result.stdout
