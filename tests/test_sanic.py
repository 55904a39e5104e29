"""Sanic-only rules: installation checks, route opt-out, and what streaming does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from sanic import Sanic

from tornado_dynasession import ConfigurationError, DynamoDBStore
from tornado_dynasession.sanic import SAVE_PRIORITY, Sessions

from .apps import Stop, serve_sanic_app
from .conftest import SECRET, Serve
from .support import Browser, DynamoProxy, Reply
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


# -- the save runs after the application's own middleware ----------------------------------------------------------

RESPONSE_MIDDLEWARE_PRIORITIES = {"by_negative_priority": -10, "by_default_priority": 0, "by_high_priority": 100}
"""Each app response middleware sets its key in the session; all these priorities are below SAVE_PRIORITY."""
assert max(RESPONSE_MIDDLEWARE_PRIORITIES.values()) < SAVE_PRIORITY

_middleware_apps = 0


async def start_app_with_middleware(store: DynamoDBStore) -> tuple[str, Stop]:
    """Serve a Sanic app with Sessions and its own middleware around it, the way ``start_sanic`` serves its app.

    - a request middleware (default priority) copies ``visits`` from the loaded session to ``request.ctx``;
    - one response middleware per entry of RESPONSE_MIDDLEWARE_PRIORITIES sets that key in the session;
    - a response middleware (default priority) sets ``Vary: Accept-Encoding`` on ``/encoded``.

    Routes: ``/untouched`` leaves the session alone; ``/visit`` counts visits and answers the count the request
    middleware saw; ``/encoded`` answers text.
    """
    from sanic import Request
    from sanic.response import BaseHTTPResponse, HTTPResponse, text
    from sanic.response import json as json_response

    global _middleware_apps
    _middleware_apps += 1
    app = Sanic(f"sessions_middleware_test_{_middleware_apps}")
    app.config.ACCESS_LOG = False
    app.config.TOUCHUP = False  # touchup rewrites shared classes and breaks a second app in one process
    app.config.MOTD = False
    Sessions(app, store=store, secret=SECRET)

    @app.on_request
    async def read_the_session(request: Request) -> None:
        request.ctx.visits_seen = request.ctx.session.get("visits")

    def setting(key: str) -> Callable[[Request, BaseHTTPResponse], Awaitable[None]]:
        async def set_key(request: Request, response: BaseHTTPResponse) -> None:
            request.ctx.session[key] = True

        return set_key

    for key, priority in RESPONSE_MIDDLEWARE_PRIORITIES.items():
        app.on_response(setting(key), priority=priority)  # type: ignore[no-untyped-call]

    @app.on_response
    async def vary_on_encoding(request: Request, response: BaseHTTPResponse) -> None:
        if request.path == "/encoded":
            response.headers["Vary"] = "Accept-Encoding"

    @app.get("/untouched")
    async def untouched(request: Request) -> HTTPResponse:
        return text("ok")

    @app.get("/visit")
    async def visit(request: Request) -> HTTPResponse:
        request.ctx.session["visits"] = int(request.ctx.session.get("visits", 0)) + 1
        return json_response({"visits_seen_by_request_middleware": request.ctx.visits_seen})

    @app.get("/encoded")
    async def encoded(request: Request) -> HTTPResponse:
        return text("ok")

    return await serve_sanic_app(app)


@pytest.fixture
async def middleware_app(counted_store: DynamoDBStore) -> AsyncIterator[Browser]:
    """A browser for the app of ``start_app_with_middleware``."""
    base_url, stop = await start_app_with_middleware(counted_store)
    browser = Browser(base_url)
    yield browser
    await browser.close()
    await stop()


def header_values(reply: Reply, name: str) -> list[str]:
    return [value for key, value in reply.headers if key.lower() == name.lower()]


async def test_changes_made_by_app_response_middleware_of_lower_priority_are_saved(
    middleware_app: Browser, counted_store: DynamoDBStore
) -> None:
    reply = await middleware_app.get("/untouched")
    assert reply.status == 200
    assert await counted_store.get(session_id_of(middleware_app)) == dict.fromkeys(RESPONSE_MIDDLEWARE_PRIORITIES, True)


async def test_a_session_changed_only_by_app_response_middleware_gets_its_cookie(middleware_app: Browser) -> None:
    reply = await middleware_app.get("/untouched")
    cookie = reply.cookie("session")
    assert cookie is not None and cookie["value"]
    assert "session" in middleware_app.cookies


async def test_app_request_middleware_sees_the_session_loaded_from_the_store(middleware_app: Browser) -> None:
    first = await middleware_app.get("/visit")
    second = await middleware_app.get("/visit")
    assert json.loads(first.body) == {"visits_seen_by_request_middleware": None}
    assert json.loads(second.body) == {"visits_seen_by_request_middleware": 1}


async def test_a_session_response_varies_on_cookie(middleware_app: Browser) -> None:
    reply = await middleware_app.get("/untouched")
    vary = ", ".join(header_values(reply, "Vary"))
    assert "cookie" in [field.strip().lower() for field in vary.split(",")], vary


async def test_a_vary_set_by_app_response_middleware_is_merged_with_cookie(middleware_app: Browser) -> None:
    reply = await middleware_app.get("/encoded")
    assert header_values(reply, "Vary") == ["Accept-Encoding, Cookie"]
