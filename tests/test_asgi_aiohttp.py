"""Starlette/FastAPI and aiohttp.web rules of their own: streaming, responses raised as exceptions, opting out."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest

from tornado_dynasession import DynamoDBStore

from .apps import Stop, serve_aiohttp_app, serve_asgi_app
from .conftest import SECRET, Serve
from .support import Browser, DynamoProxy
from .test_sessions import session_id_of


@pytest.fixture(params=["fastapi", "aiohttp"])
def framework(request: pytest.FixtureRequest) -> str:
    """These tests are about the ASGI middleware and the aiohttp.web middleware."""
    return str(request.param)


async def test_changes_after_a_streamed_response_started_are_not_saved(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await serve()
    reply = await browser.get("/stream")
    assert reply.body == "first chunk\nsecond chunk\n"
    assert await counted_store.get(session_id_of(browser)) == {"streamed": 1}  # as documented
    assert proxy.calls["PutItem"] == 1


async def test_an_excluded_path_costs_no_store_call_even_with_a_session_cookie(
    serve: Serve, proxy: DynamoProxy
) -> None:
    browser = await serve()
    await browser.get("/counter")
    proxy.reset()
    reply = await browser.get("/health")
    assert reply.status == 200 and reply.body == "ok"
    assert proxy.count() == 0
    assert reply.cookie() is None


# -- a response raised as an exception is a response: the session is saved onto it ----------------------------------


async def start_raising_app(framework: str, store: DynamoDBStore) -> tuple[str, Stop]:
    """An app whose ``/go`` sets ``via`` in the session and then raises: a redirect on aiohttp (``HTTPFound``), a 404
    on FastAPI (``HTTPException``, answered by the exception handling inside the middleware); ``/read`` answers the
    session's data, and so does ``/unsessioned``, which its ``exclude_paths`` opt out of sessions."""
    if framework == "aiohttp":
        from aiohttp import web

        from tornado_dynasession.aiohttp_web import get_session, setup

        app = web.Application()
        setup(app, store=store, secret=SECRET, exclude_paths=("/unsessioned",))

        async def go(request: web.Request) -> web.StreamResponse:
            (await get_session(request))["via"] = "raised"
            raise web.HTTPFound("/read")

        async def read(request: web.Request) -> web.StreamResponse:
            return web.json_response(dict(await get_session(request)))

        app.router.add_get("/go", go)
        app.router.add_get("/read", read)
        app.router.add_get("/unsessioned", read)
        return await serve_aiohttp_app(app)
    from fastapi import FastAPI, HTTPException
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from tornado_dynasession.asgi import SessionMiddleware, get_session

    async def raise_404(request: Request) -> Response:
        request.session["via"] = "raised"
        raise HTTPException(404)

    async def answer(request: Request) -> Response:
        return JSONResponse(dict(get_session(request)))

    routes = [Route("/go", raise_404), Route("/read", answer), Route("/unsessioned", answer)]
    starlette_app: Starlette = FastAPI(routes=routes)
    starlette_app.add_middleware(SessionMiddleware, store=store, secret=SECRET, exclude_paths=("/unsessioned",))
    return await serve_asgi_app(starlette_app)


@pytest.fixture
async def raising_app(framework: str, counted_store: DynamoDBStore) -> AsyncIterator[Browser]:
    base_url, stop = await start_raising_app(framework, counted_store)
    browser = Browser(base_url)
    yield browser
    await browser.close()
    await stop()


async def test_a_response_raised_as_an_exception_carries_the_saved_session(
    raising_app: Browser, framework: str, counted_store: DynamoDBStore
) -> None:
    reply = await raising_app.get("/go")
    assert reply.status == (302 if framework == "aiohttp" else 404)
    assert reply.cookie() is not None
    assert ("Vary", "Cookie") in reply.headers
    assert await counted_store.get(session_id_of(raising_app)) == {"via": "raised"}
    assert json.loads((await raising_app.get("/read")).body) == {"via": "raised"}


async def test_get_session_on_an_excluded_path_fails_naming_the_fix(
    raising_app: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        reply = await raising_app.get("/unsessioned")
    assert reply.status == 500
    assert "leave the path out of its exclude_paths" in caplog.text
