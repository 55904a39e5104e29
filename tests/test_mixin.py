"""Tornado-only rules: every way a handler ends its response saves the session first; settings are checked."""

from __future__ import annotations

import logging

import pytest
import tornado.web
from tornado.httpserver import HTTPServer

from tornado_dynasession import DynamoDBStore, SessionMixin

from .conftest import SECRET, Serve
from .support import Browser, DynamoProxy, free_port
from .test_sessions import session_id_of, start_session


@pytest.fixture
def framework() -> str:
    """These tests are about Tornado's own hooks."""
    return "tornado"


@pytest.mark.parametrize(
    ("route", "status"),
    [
        ("/redirect", 302),
        ("/render", 200),
        ("/finish", 200),
        ("/raise-finish", 200),
        ("/http-error", 404),
        ("/send-error", 418),
    ],
)
async def test_each_way_of_ending_a_response_saves_the_session_before_it_leaves(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore, route: str, status: int
) -> None:
    browser = await start_session(serve, proxy)
    reply = await browser.get(route)
    assert reply.status == status
    assert reply.cookie() is not None  # the Set-Cookie could only be sent if the save ran before the headers
    assert proxy.calls["PutItem"] == 1
    stored = await counted_store.get(session_id_of(browser))
    assert stored == {"count": 1, "via": route.strip("/")}


async def test_missing_session_store_setting_fails_naming_it(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    browser = await serve(store=None)
    with caplog.at_level(logging.ERROR):
        reply = await browser.get("/read")
    assert reply.status == 500
    assert "session_store setting is missing" in caplog.text


async def test_missing_cookie_secret_setting_fails_naming_it(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    browser = await serve(secret=None)
    with caplog.at_level(logging.ERROR):
        reply = await browser.get("/read")
    assert reply.status == 500
    assert "cookie_secret setting is missing" in caplog.text


async def test_a_dict_cookie_secret_without_key_version_fails_naming_it(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    browser = await serve(secret={1: "a" * 40})
    with caplog.at_level(logging.ERROR):
        reply = await browser.get("/read")
    assert reply.status == 500
    assert "key_version" in caplog.text


class _PrepareOverride(SessionMixin, tornado.web.RequestHandler):
    async def prepare(self) -> None:
        await super().prepare()
        self.seen = self.session.get("count")

    def get(self) -> None:
        self.write({"seen": self.seen})


async def test_a_handler_prepare_that_awaits_super_sees_the_loaded_session(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await start_session(serve, proxy)
    app = tornado.web.Application([(r"/", _PrepareOverride)], session_store=counted_store, cookie_secret=SECRET)
    port = free_port()
    server = HTTPServer(app)
    server.listen(port, address="127.0.0.1")
    other = Browser(f"http://127.0.0.1:{port}")
    try:
        reply = await other.get("/", cookies=browser.cookies)
        assert reply.status == 200 and '"seen": 1' in reply.body
    finally:
        await other.close()
        server.stop()


async def test_changes_after_the_first_flush_are_saved_at_finish(
    serve: Serve, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    browser = await serve()
    await browser.get("/stream")
    assert await counted_store.get(session_id_of(browser)) == {"streamed": 1, "after_flush": 1}
    assert proxy.calls["PutItem"] == 2  # one at the first flush (with the cookie), one at finish


async def test_a_save_failing_at_the_first_flush_answers_503_and_sends_no_partial_body(
    serve: Serve, proxy: DynamoProxy
) -> None:
    browser = await serve()
    proxy.fault = lambda operation, attempt: ("status", 500, "InternalServerError") if operation == "PutItem" else None
    reply = await browser.get("/stream")
    assert reply.status == 503
    assert "first chunk" not in reply.body and "Traceback" not in reply.body
    assert reply.cookie() is None
