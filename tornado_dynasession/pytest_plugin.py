"""pytest fixtures: a DynamoDB endpoint for the test session, and a fresh, uniquely named table per test.

Installed as a pytest plugin (entry point ``tornado_dynasession``), so any project that installs this package gets:

- ``dynamodb_endpoint``: ``$DYNAMODB_ENDPOINT`` if set, else a dynalite started once per test session (in memory);
- ``dynamodb_table``: the name of a new session table on that endpoint, deleted after the test.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest

from .local import DynaliteServer
from .tables import create_table, delete_table

__all__ = ["dynamodb_endpoint", "dynamodb_table"]


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
