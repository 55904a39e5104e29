"""What every adapter shares through the adapters glue, and what each imports.

- A bug in save (here: a codec that raises something other than CodecError) answers 500 on every framework, with
  the cause logged and the session id in neither the log nor the body; the stored session is left as it was.
- Importing one adapter imports no other framework's adapter.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from tornado_dynasession import ConfigurationError, DynamoDBStore, OrjsonCodec

from .conftest import Serve
from .test_sessions import session_id_of

BUG = "a codec bug planted by the test"


class CodecWithABug:
    """A codec that breaks its protocol: encoding a session with an ``explode`` key raises a plain RuntimeError."""

    def __init__(self) -> None:
        self._codec = OrjsonCodec()

    def encode(self, data: Mapping[str, Any]) -> str | bytes:
        if "explode" in data:
            raise RuntimeError(BUG)
        return self._codec.encode(data)

    def decode(self, raw: str | bytes) -> dict[str, Any]:
        return self._codec.decode(raw)


@pytest.fixture
async def buggy_store(dynamodb_endpoint: str, dynamodb_table: str) -> AsyncIterator[DynamoDBStore]:
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint, codec=CodecWithABug()) as store:
        yield store


async def test_a_bug_in_save_answers_500_with_the_cause_logged_and_no_session_id(
    serve: Serve, buggy_store: DynamoDBStore, caplog: pytest.LogCaptureFixture
) -> None:
    browser = await serve(store=buggy_store)
    assert (await browser.get("/set?key=kept&value=1")).status == 200
    session_id = session_id_of(browser)
    with caplog.at_level(logging.DEBUG):
        reply = await browser.get("/set?key=explode&value=1", timeout=60)
    assert reply.status == 500
    assert BUG in caplog.text
    assert "session save failed unexpectedly" in caplog.text
    assert session_id not in caplog.text
    assert session_id not in reply.body
    assert not any(session_id in value for _, value in reply.headers)
    assert await buggy_store.get(session_id) == {"kept": "1"}


async def test_a_bug_in_save_leaves_the_server_answering_the_next_request(
    serve: Serve, buggy_store: DynamoDBStore
) -> None:
    browser = await serve(store=buggy_store)
    await browser.get("/set?key=kept&value=1")
    assert (await browser.get("/set?key=explode&value=1", timeout=60)).status == 500
    reply = await browser.get("/read")
    assert reply.status == 200
    assert json.loads(reply.body)["data"] == {"kept": "1"}


def test_an_unknown_adapter_option_fails_at_once_naming_the_known_ones(counted_store: DynamoDBStore) -> None:
    from aiohttp import web

    from tornado_dynasession.aiohttp_web import setup
    from tornado_dynasession.asgi import SessionMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("never called")

    with pytest.raises(ConfigurationError, match=r"unknown session option.*cookie_age.*max_age"):
        SessionMiddleware(app, store=counted_store, secret="s" * 40, cookie_age=60)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match=r"unknown session option.*cookie_age.*max_age"):
        setup(web.Application(), store=counted_store, secret="s" * 40, cookie_age=60)  # type: ignore[call-arg]


# -- imports --------------------------------------------------------------------------------------------------------


def imported_after(statement: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``statement``."""
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_sanic_adapter_imports_no_tornado_adapter() -> None:
    loaded = imported_after("import tornado_dynasession.sanic")
    assert "tornado_dynasession.adapters.sanic" in loaded
    assert "tornado_dynasession.mixin" not in loaded
    assert "tornado_dynasession.adapters.tornado" not in loaded


@pytest.mark.parametrize("module", ["tornado_dynasession.asgi", "tornado_dynasession.aiohttp_web"])
def test_importing_the_asgi_or_aiohttp_adapter_imports_no_other_framework(module: str) -> None:
    loaded = imported_after(f"import {module}")
    assert module in loaded
    assert not {"sanic", "starlette", "fastapi", "tornado_dynasession.mixin", "tornado_dynasession.sanic"} & loaded
    assert "tornado_dynasession.adapters.tornado" not in loaded  # tornado.web itself is there: it signs the cookie


def test_importing_the_package_imports_no_adapter_until_a_name_is_used() -> None:
    assert "tornado_dynasession.adapters.tornado" not in imported_after("import tornado_dynasession")
    assert "tornado_dynasession.adapters.tornado" in imported_after("from tornado_dynasession import SessionMixin")


def test_every_public_name_is_importable_from_the_package() -> None:
    import tornado_dynasession

    for name in tornado_dynasession.__all__:
        assert getattr(tornado_dynasession, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'NoSuchName'"):
        tornado_dynasession.NoSuchName  # noqa: B018
