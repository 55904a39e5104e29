"""Sanic-only rules: installation checks, route opt-out, and what streaming does."""

from __future__ import annotations

import pytest
from sanic import Sanic

from tornado_dynasession import ConfigurationError, DynamoDBStore
from tornado_dynasession.sanic import Sessions

from .conftest import Serve
from .support import DynamoProxy
from .test_sessions import session_id_of


@pytest.fixture
def framework() -> str:
    """These tests are about Sanic's own hooks."""
    return "sanic"


def test_installing_without_a_secret_fails_at_once_naming_it(counted_store: DynamoDBStore) -> None:
    with pytest.raises(ConfigurationError, match="cookie secret"):
        Sessions(Sanic("no_secret_app"), store=counted_store, secret="")


def test_installing_without_a_store_fails_at_once_naming_it() -> None:
    with pytest.raises(ConfigurationError, match="session store"):
        Sessions(Sanic("no_store_app"), store=None, secret="s" * 40)  # type: ignore[arg-type]


async def test_changes_after_a_streamed_response_started_are_not_saved(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await serve()
    await browser.get("/stream")
    assert await counted_store.get(session_id_of(browser)) == {"streamed": 1}  # as documented
    assert proxy.calls["PutItem"] == 1
