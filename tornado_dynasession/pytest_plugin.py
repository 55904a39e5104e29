"""pytest fixtures: a DynamoDB endpoint for the test session, and a fresh, uniquely named table per test.

Installed as a pytest plugin (entry point ``tornado_dynasession``), so any project that installs this package gets:

- ``dynamodb_endpoint``: ``$DYNAMODB_ENDPOINT`` if set, else a dynalite started once per test session (in memory);
- ``dynamodb_table``: the name of a new session table on that endpoint, deleted after the test.

Async tests need pytest-asyncio (``pip install pytest pytest-asyncio``). pytest-asyncio 0.24 and later print a
deprecation notice on every run of a project whose configuration does not set ``asyncio_default_fixture_loop_scope``;
these fixtures are synchronous and do not depend on it, so the plugin hides that one notice (and changes nothing else:
a project that sets the option gets exactly the loop scope it chose).
"""

from __future__ import annotations

import asyncio
import os
import uuid
import warnings
from collections.abc import Iterator

import pytest

from .tools.local import DynaliteServer
from .tools.tables import create_table, delete_table

__all__ = ["dynamodb_endpoint", "dynamodb_table", "pytest_configure"]

_LOOP_SCOPE_NOTICE = r'The configuration option "asyncio_default_fixture_loop_scope" is unset'


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Hide pytest-asyncio's notice that ``asyncio_default_fixture_loop_scope`` is unset (see the module docstring).

    Runs before pytest-asyncio's own ``pytest_configure``, which warns. pytest configures the plugins inside a
    warnings context of its own, so the filter stays there, and it matches that one message only.
    """
    warnings.filterwarnings("ignore", message=_LOOP_SCOPE_NOTICE, category=pytest.PytestDeprecationWarning)


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """The endpoint URL of a DynamoDB-compatible server, for the whole test session."""
    configured = os.environ.get("DYNAMODB_ENDPOINT")
    if configured:
        yield configured
        return
    with DynaliteServer() as server:
        yield server.endpoint_url


@pytest.fixture
def dynamodb_table(dynamodb_endpoint: str) -> Iterator[str]:
    """A new, empty session table (hash key ``SessionID``) for this test; deleted afterwards."""
    name = f"test-sessions-{uuid.uuid4().hex[:12]}"
    asyncio.run(create_table(name, endpoint_url=dynamodb_endpoint))
    try:
        yield name
    finally:
        asyncio.run(delete_table(name, endpoint_url=dynamodb_endpoint))
