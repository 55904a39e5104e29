"""Tornado-only rules: every way a handler ends its response saves the session first; settings are checked."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

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
    browser = await serve()
    proxy.reset()
    reply = await browser.get(route)  # starts a session: its cookie must be sent with this response
    assert reply.status == status
    assert reply.cookie() is not None  # the Set-Cookie could only be sent if the save ran before the headers
    assert proxy.calls["PutItem"] == 1
    stored = await counted_store.get(session_id_of(browser))
    assert stored == {"via": route.strip("/")}


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


# -- a prepare() that ends the request stops it, exactly as in plain Tornado ------------------------------------------

HANDLER_RAN: list[str] = []
LATE_WRITES: list[str] = []


class _Guarded(SessionMixin, tornado.web.RequestHandler):
    """A page behind a login check in prepare(); ``how`` says how prepare ends the request."""

    async def prepare(self) -> None:
        await super().prepare()
        if "user" in self.session:
            return
        if self.get_argument("write", "0") == "1":
            self.session["bounced"] = self.get_argument("how")
        how = self.get_argument("how")
        if how == "redirect":
            self.redirect("/login")
        elif how == "finish":
            self.finish("please log in")
        elif how == "await-finish":
            await self.finish("please log in")
        elif how == "send-error":
            self.send_error(403)
        elif how == "raise-finish":
            raise tornado.web.Finish("please log in")
        try:
            self.write("LATE")
        except RuntimeError:
            LATE_WRITES.append("refused")
        else:
            LATE_WRITES.append("accepted")

    def get(self) -> None:
        HANDLER_RAN.append(self.request.uri or "")
        self.session["visited"] = True
        self.write("SECRET PAGE")


@pytest.fixture
async def guarded(counted_store: DynamoDBStore) -> AsyncIterator[Browser]:
    """A Browser on an app whose only route is the guarded page."""
    HANDLER_RAN.clear()
    LATE_WRITES.clear()
    app = tornado.web.Application([(r"/guarded", _Guarded)], session_store=counted_store, cookie_secret=SECRET)
    port = free_port()
    server = HTTPServer(app)
    server.listen(port, address="127.0.0.1")
    browser = Browser(f"http://127.0.0.1:{port}")
    yield browser
    await browser.close()
    server.stop()


@pytest.mark.parametrize(
    ("how", "status", "body"),
    [
        ("redirect", 302, ""),
        ("finish", 200, "please log in"),
        ("await-finish", 200, "please log in"),
        ("send-error", 403, "403: Forbidden"),
        ("raise-finish", 200, "please log in"),
    ],
)
async def test_ending_the_request_in_prepare_stops_it_before_the_handler_runs(
    guarded: Browser, proxy: DynamoProxy, how: str, status: int, body: str
) -> None:
    reply = await guarded.get(f"/guarded?how={how}")
    assert reply.status == status
    assert "SECRET PAGE" not in reply.body and "LATE" not in reply.body
    assert body in reply.body
    assert HANDLER_RAN == []
    assert reply.cookie() is None and proxy.count() == 0  # an untouched new session is not stored


@pytest.mark.parametrize("how", ["redirect", "finish", "await-finish", "send-error"])
async def test_a_write_after_prepare_ended_the_request_raises_as_in_plain_tornado(
    guarded: Browser, proxy: DynamoProxy, how: str
) -> None:
    await guarded.get(f"/guarded?how={how}")
    assert LATE_WRITES == ["refused"]


@pytest.mark.parametrize("how", ["redirect", "finish", "await-finish", "send-error", "raise-finish"])
async def test_a_session_changed_in_a_prepare_that_ends_the_request_is_saved_before_it_leaves(
    guarded: Browser, proxy: DynamoProxy, counted_store: DynamoDBStore, how: str
) -> None:
    reply = await guarded.get(f"/guarded?how={how}&write=1")
    assert HANDLER_RAN == []
    assert reply.cookie() is not None  # the Set-Cookie could only be sent if the save ran before the headers
    assert proxy.calls["PutItem"] == 1
    assert await counted_store.get(session_id_of(guarded)) == {"bounced": how}


async def test_a_logged_in_user_passes_the_guard_and_the_handler_runs(
    guarded: Browser, proxy: DynamoProxy, counted_store: DynamoDBStore
) -> None:
    await guarded.get("/guarded?how=finish&write=1")
    sid = session_id_of(guarded)
    await counted_store.set(sid, {"user": "ada"})
    reply = await guarded.get("/guarded?how=finish")
    assert reply.status == 200 and reply.body == "SECRET PAGE"
    assert HANDLER_RAN == ["/guarded?how=finish"]
    assert await counted_store.get(sid) == {"user": "ada", "visited": True}


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
