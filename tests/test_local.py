"""The embedded DynamoDB-compatible server (dynalite) launcher and the pytest plugin built on it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tornado_dynasession import DynamoDBStore, create_table
from tornado_dynasession.local import DynaliteServer, LocalServerError, MotoServer, dynamodb_endpoint, find_dynalite

from .support import open_raw_client


def is_gone(pid: int) -> bool:
    """The process no longer runs (it is gone, or a zombie nobody has reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def wait_until_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_gone(pid):
            return True
        time.sleep(0.05)
    return is_gone(pid)


def child_pids() -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] not in ("Z", "X"):
            children.add(int(stat.parent.name))
    return children


def listening_addresses(port: int) -> list[str]:
    """The local addresses of the LISTEN sockets on ``port``, as hex, from /proc/net/tcp{,6}."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                address, hex_port = fields[1].split(":")
                if int(hex_port, 16) == port and fields[3] == "0A":
                    found.append(address)
    return found


async def table_names(endpoint: str) -> list[str]:
    async with open_raw_client(endpoint) as client:
        names: list[str] = (await client.list_tables())["TableNames"]
        return names


@pytest.fixture(scope="module")
def server() -> Iterator[DynaliteServer]:
    with DynaliteServer() as running:
        yield running


@pytest.fixture
def no_dynamodb_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DYNAMODB_ENDPOINT", raising=False)


# -- starting ------------------------------------------------------------------------------------------------------


async def test_dynalite_starts_on_a_loopback_port_and_answers_dynamodb_calls(server: DynaliteServer) -> None:
    assert server.endpoint_url == f"http://127.0.0.1:{server.port}"
    assert server.process is not None and server.process.poll() is None
    assert await table_names(server.endpoint_url) == []


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_dynalite_listens_on_the_loopback_interface_only(server: DynaliteServer) -> None:
    assert listening_addresses(server.port) == ["0100007F"]  # 127.0.0.1, and no wildcard or IPv6 socket


def test_each_server_gets_its_own_free_port(server: DynaliteServer) -> None:
    other = DynaliteServer()
    assert other.port != server.port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", other.port))  # free: nothing listens there yet


async def test_a_started_server_serves_a_session_store(server: DynaliteServer) -> None:
    await create_table("launcher-sessions", endpoint_url=server.endpoint_url)
    async with DynamoDBStore("launcher-sessions", endpoint_url=server.endpoint_url) as store:
        await store.set("a-session", {"user": "ada"})
        assert await store.get("a-session") == {"user": "ada"}


async def test_on_disk_data_survives_a_stop_and_a_start(tmp_path: Path) -> None:
    with DynaliteServer(path=tmp_path / "db") as first:
        await create_table("kept", endpoint_url=first.endpoint_url)
        async with DynamoDBStore("kept", endpoint_url=first.endpoint_url) as store:
            await store.set("a-session", {"user": "ada"})
    with DynaliteServer(path=tmp_path / "db") as second:
        async with DynamoDBStore("kept", endpoint_url=second.endpoint_url) as store:
            assert await store.get("a-session") == {"user": "ada"}


async def test_in_memory_data_is_gone_after_a_restart() -> None:
    running = DynaliteServer()
    with running:
        await create_table("forgotten", endpoint_url=running.endpoint_url)
    with running:
        assert await table_names(running.endpoint_url) == []


def test_start_fails_clearly_when_the_port_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(LocalServerError, match="exited at start-up"):
            DynaliteServer(port=taken.getsockname()[1], startup_timeout=15).start()


def test_start_fails_clearly_without_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(LocalServerError, match="node is not installed"):
        DynaliteServer().start()


# -- stopping ------------------------------------------------------------------------------------------------------


def test_stop_leaves_no_process() -> None:
    running = DynaliteServer().start()
    assert running.process is not None
    process = running.process
    running.stop()
    assert process.poll() is not None
    assert is_gone(process.pid)
    assert running.process is None


def test_stop_is_safe_to_call_twice_and_before_start() -> None:
    never_started = DynaliteServer()
    never_started.stop()
    running = DynaliteServer().start()
    running.stop()
    running.stop()


def test_leaving_the_context_manager_stops_the_server() -> None:
    with DynaliteServer() as running:
        assert running.process is not None
        process = running.process
    assert process.poll() is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", running.port), timeout=1).close()


def test_kill_stops_the_server_at_once() -> None:
    running = DynaliteServer().start()
    assert running.process is not None
    process = running.process
    running.kill()
    assert process.returncode == -signal.SIGKILL
    assert running.process is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux-only")
def test_the_server_dies_with_a_parent_killed_without_warning(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from tornado_dynasession.local import DynaliteServer\n"
        "server = DynaliteServer().start()\n"
        "print(server.process.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        assert not is_gone(server_pid)
        parent.kill()  # SIGKILL: no atexit, no finally, nothing runs in the parent
        parent.wait(timeout=10)
        assert wait_until_gone(server_pid), "dynalite outlived its parent"
    finally:
        parent.kill()
        parent.wait(timeout=10)
        if parent.stdout is not None:
            parent.stdout.close()


# -- finding dynalite ----------------------------------------------------------------------------------------------


def test_find_dynalite_finds_the_checkouts_npm_install_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DYNALITE_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    found = find_dynalite()
    assert found.is_file()
    assert found.parts[-3:] == ("node_modules", "dynalite", "cli.js")


def test_find_dynalite_uses_DYNALITE_PATH(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = tmp_path / "my-dynalite.js"
    cli.write_text("")
    monkeypatch.setenv("DYNALITE_PATH", str(cli))
    assert find_dynalite() == cli


def test_a_DYNALITE_PATH_that_points_nowhere_is_an_error_saying_to_run_npm_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNALITE_PATH", str(tmp_path / "missing" / "cli.js"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LocalServerError, match="npm ci") as caught:
        find_dynalite()
    assert "DYNALITE_PATH" in str(caught.value)
    with pytest.raises(LocalServerError, match="npm ci"):
        DynaliteServer().start()


# -- the dynamodb_endpoint context manager and the pytest plugin ---------------------------------------------------


def test_dynamodb_endpoint_uses_DYNAMODB_ENDPOINT_and_starts_no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNAMODB_ENDPOINT", "http://127.0.0.1:1")
    before = child_pids()
    with dynamodb_endpoint() as endpoint:
        assert endpoint == "http://127.0.0.1:1"
        assert child_pids() == before


async def test_dynamodb_endpoint_without_the_variable_runs_dynalite_for_the_duration(
    no_dynamodb_endpoint: None,
) -> None:
    before = child_pids()
    with dynamodb_endpoint() as endpoint:
        assert endpoint.startswith("http://127.0.0.1:")
        assert await table_names(endpoint) == []
        started = child_pids() - before
        assert len(started) == 1
    assert wait_until_gone(started.pop())


async def test_dynamodb_endpoint_with_a_path_keeps_data_on_disk(no_dynamodb_endpoint: None, tmp_path: Path) -> None:
    with dynamodb_endpoint(path=tmp_path) as endpoint:
        await create_table("on-disk", endpoint_url=endpoint)
    with dynamodb_endpoint(path=tmp_path) as endpoint:
        assert await table_names(endpoint) == ["on-disk"]


@pytest.fixture
async def plugin_client(dynamodb_endpoint: str) -> AsyncIterator[Any]:
    async with open_raw_client(dynamodb_endpoint) as client:
        yield client


async def test_the_plugins_table_fixture_is_a_new_empty_session_table(dynamodb_table: str, plugin_client: Any) -> None:
    table = (await plugin_client.describe_table(TableName=dynamodb_table))["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == [{"AttributeName": "SessionID", "KeyType": "HASH"}]
    assert (await plugin_client.scan(TableName=dynamodb_table))["Items"] == []


async def test_a_server_that_logs_every_request_keeps_answering_past_a_pipes_worth_of_log() -> None:
    # moto logs a line to stderr per request; read from a pipe nobody drained, it blocked after about a thousand.
    with MotoServer() as moto:
        async with open_raw_client(moto.endpoint_url) as client:
            for _ in range(1500):
                await client.list_tables()
            assert (await client.list_tables())["TableNames"] == []
