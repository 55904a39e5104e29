"""The pytest plugin as a user's project sees it: a fresh project in a temporary directory, run by pytest in a child
interpreter, with the fixtures the package installs and pytest-asyncio's default configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT_TEST = """
import pytest
from tornado_dynasession import DynamoDBStore, new_session_id

@pytest.mark.asyncio
async def test_session_round_trip(dynamodb_endpoint, dynamodb_table):
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        sid = new_session_id()
        await store.set(sid, {"user": "alice"}, max_age=300)
        assert await store.get(sid) == {"user": "alice"}
"""
NOTICE = 'The configuration option "asyncio_default_fixture_loop_scope" is unset'


def run_project(tmp_path: Path, endpoint: str, *options: str) -> subprocess.CompletedProcess[str]:
    """pytest on a project of one test file and an empty pytest.ini (so no configuration above it applies)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (tmp_path / "test_sessions.py").write_text(PROJECT_TEST, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["DYNAMODB_ENDPOINT"] = endpoint
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_project_using_the_fixtures_passes_without_pytest_asyncios_loop_scope_notice(
    tmp_path: Path, dynamodb_endpoint: str
) -> None:
    result = run_project(tmp_path, dynamodb_endpoint)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 passed" in result.stdout
    assert NOTICE not in output and "Warning" not in output


def test_without_the_plugin_pytest_asyncio_prints_the_notice_the_plugin_hides(
    tmp_path: Path, dynamodb_endpoint: str
) -> None:
    # The same project with the plugin turned off (its test deselected: the fixtures are gone).
    result = run_project(tmp_path, dynamodb_endpoint, "-p", "no:tornado_dynasession", "-k", "no_such_test")
    assert NOTICE in result.stdout + result.stderr
