"""What the randomized histories found, each reproduced by a scripted race."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from tornado_dynasession import ClientOptions, DynamoDBStore, SessionPolicy

from ..apps import serve_sanic_app
from ..process_app import OPERATIONS, SECRET, Operate, answer
from ..support import Browser, DynamoProxy

SLOW_SECONDS = 2.0


@contextlib.asynccontextmanager
async def served(endpoint: str, table: str, options: ClientOptions | None = None) -> AsyncIterator[Browser]:
    """A browser on the process app's Tornado routes, served in this loop on a store at ``endpoint``."""
    async with DynamoDBStore(table, endpoint_url=endpoint, options=options) as store:
        app = tornado.web.Application([(r"/([\w-]+)", Operate)], session_store=store, cookie_secret=SECRET)
        sock, port = bind_unused_port()
        server = HTTPServer(app)
        server.add_sockets([sock])
        browser = Browser(f"http://127.0.0.1:{port}")
        try:
            yield browser
        finally:
            await browser.close()
            server.stop()
            await server.close_all_connections()


@pytest.mark.parametrize(
    ("slow", "meanwhile"),
    [
        # The emptying request loads {a} and is stored after the other one added b: it merges its change onto b.
        (f"/slow-delete?key=a&seconds={SLOW_SECONDS}", "/set?key=b&value=2"),
        # The emptying request is stored (and answered, clearing the cookie) first: the other writes b onto it.
        (f"/slow-set?key=b&value=2&seconds={SLOW_SECONDS}", "/delete?key=a"),
    ],
    ids=["emptied-last", "emptied-first"],
)
async def test_a_request_emptying_the_session_keeps_a_key_another_request_added_meanwhile(
    dynamodb_endpoint: str, dynamodb_table: str, slow: str, meanwhile: str
) -> None:
    async with served(dynamodb_endpoint, dynamodb_table) as browser:
        assert (await browser.get("/set?key=a&value=1")).status == 200
        first = asyncio.ensure_future(browser.get(slow))  # loads {a}, and acts after the other request
        await asyncio.sleep(SLOW_SECONDS / 4)
        assert (await browser.get(meanwhile)).status == 200
        assert (await first).status == 200
        after = json.loads((await browser.get("/read")).body)
    # Either order of the two requests leaves b, in the session the browser still has: a deleted, b added.
    assert after["data"] == {"b": "2"}


@pytest.mark.parametrize("look_up_fails", [False, True], ids=["look-up-answers", "look-up-fails-too"])
async def test_a_login_whose_tombstone_lost_its_answer_still_logs_in(
    proxy: DynamoProxy, dynamodb_table: str, look_up_fails: bool
) -> None:
    async with served(proxy.url, dynamodb_table, ClientOptions(max_attempts=2, read_timeout=2)) as browser:
        assert (await browser.get("/set?key=cart&value=book")).status == 200
        proxy.reset()
        # The login's PutItem of the new session lands; the tombstone of the old id lands too but loses its
        # answer, and its retry gets a 500; then the look-up that would tell answers, or fails too. The old id is
        # dead already, so the login must go through: a 503 would leave the browser a cookie on which every change
        # is dropped, since it reads as replaced by a login.
        proxy.fault = lambda operation, attempt: (
            ("status", 500, "InternalServerError")
            if operation == "GetItem" and look_up_fails
            else None
            if operation != "PutItem" or attempt == 1
            else ("lose-answer",)
            if attempt == 2
            else ("status", 500, "InternalServerError")
        )
        assert (await browser.get("/login?user=alice")).status == 200
        proxy.fault = None
        assert (await browser.get("/set?key=k&value=1")).status == 200
        after = json.loads((await browser.get("/read")).body)
    # The browser holds the new id, with the session's data and the change made after the login.
    assert after["data"] == {"cart": "book", "user": "alice", "k": "1"}


async def test_a_write_racing_a_login_never_sends_the_browser_back_to_the_replaced_id(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    from sanic import Request, Sanic
    from sanic.response import HTTPResponse
    from sanic.response import json as json_response

    from tornado_dynasession.sanic import SAVE_PRIORITY, Sessions

    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        app = Sanic("stale_cookie_finding")
        app.config.ACCESS_LOG = False
        app.config.TOUCHUP = False
        Sessions(app, store=store, secret=SECRET)

        @app.get("/<name>")
        async def operate(request: Request, name: str) -> HTTPResponse:
            await OPERATIONS[name](request.ctx.session, request.args.get)
            return json_response(answer(request.ctx.session))

        @app.on_response(priority=SAVE_PRIORITY + 1)  # type: ignore[misc]
        async def slow_network(request: Request, response: HTTPResponse) -> None:
            # After the session was saved: the answer is slow to reach the browser.
            await asyncio.sleep(float(request.args.get("answer_delay", "0")))

        url, stop = await serve_sanic_app(app)
        browser = Browser(url)
        try:
            assert (await browser.get("/set?key=a&value=1")).status == 200
            # A write that is stored under the current id at once, and whose answer arrives late.
            write = asyncio.ensure_future(browser.get(f"/set?key=b&value=2&answer_delay={SLOW_SECONDS}"))
            await asyncio.sleep(SLOW_SECONDS / 4)
            login = await browser.get("/login?user=alice")
            assert login.status == 200 and json.loads(login.body)["data"] == {"a": "1", "b": "2", "user": "alice"}
            assert (await write).status == 200
            assert (await browser.get("/set?key=c&value=3")).status == 200
            after = json.loads((await browser.get("/read")).body)
        finally:
            await browser.close()
            await stop()
    # The browser stays on the id the login gave it, and the change made after the login is stored.
    assert after["data"] == {"a": "1", "b": "2", "user": "alice", "c": "3"}


async def test_a_late_retried_create_never_brings_back_a_logged_out_session(
    proxy: DynamoProxy, dynamodb_table: str
) -> None:
    async with served(proxy.url, dynamodb_table, ClientOptions(max_attempts=2, read_timeout=1)) as browser:
        # The PutItem creating the session is held past the read timeout: the retry creates it, and the first
        # attempt reaches the server later.
        proxy.fault = lambda operation, attempt: ("delay", 2.0) if operation == "PutItem" and attempt == 1 else None
        assert (await browser.get("/set?key=cart&value=book")).status == 200
        signed_in = dict(browser.cookies)
        assert (await browser.get("/logout")).status == 200
        await asyncio.sleep(2.5)  # the held attempt has reached the server
        replayed = json.loads((await browser.get("/read", cookies=signed_in)).body)
    assert replayed["data"] == {} and replayed["new"] is True


@pytest.mark.parametrize(
    ("request_path", "tombstone_attempt"),
    [
        ("/logout", 1),  # the logout's only PutItem is its tombstone
        ("/login?user=alice", 2),  # the login's first PutItem stores the new session, the second the old id's tombstone
    ],
    ids=["logout", "login"],
)
async def test_a_tombstone_answered_503_that_lands_late_never_ends_changes_acknowledged_after_it(
    proxy: DynamoProxy, dynamodb_table: str, request_path: str, tombstone_attempt: int
) -> None:
    async with served(proxy.url, dynamodb_table, ClientOptions(max_attempts=2, read_timeout=1)) as browser:
        assert (await browser.get("/set?key=a&value=1")).status == 200
        proxy.reset()
        # The tombstone's first attempt is held in the network past the read timeout and reaches the server
        # three seconds later; its retry gets a 500. The request is answered 503.
        proxy.fault = lambda operation, attempt: (
            ("delay", 3.0)
            if operation == "PutItem" and attempt == tombstone_attempt
            else ("status", 500, "InternalServerError")
            if operation == "PutItem" and attempt == tombstone_attempt + 1
            else None
        )
        assert (await browser.get(request_path)).status == 503
        # The browser still holds its session, and changes it; the change is acknowledged.
        assert json.loads((await browser.get("/set?key=b&value=2")).body)["data"] == {"a": "1", "b": "2"}
        await asyncio.sleep(3.5)  # the held attempt has reached the server
        after = json.loads((await browser.get("/read")).body)
    assert after["data"] == {"a": "1", "b": "2"}


# -- an emptied session, with requests interleaved by hand on the session policy ---------------------------------


async def _cookie_for(policy: SessionPolicy, data: dict[str, str]) -> str:
    session = await policy.load(None)
    session.update(data)
    sent = await policy.save(session, https=False)
    assert sent is not None and sent.value is not None
    return sent.value


@pytest.mark.parametrize("remember", [False, True], ids=["new-key", "new-key-and-lifetime"])
async def test_a_write_onto_an_emptied_session_never_sends_the_browser_back_from_a_later_login(
    dynamodb_endpoint: str, dynamodb_table: str, remember: bool
) -> None:
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        policy = SessionPolicy(store, secret=SECRET)
        cookie = await _cookie_for(policy, {"cart": "book"})
        slow = await policy.load(cookie)  # a slow request adds a key (and, say, ticks "remember me": a cookie due)
        slow["seen"] = "1"
        if remember:
            slow.max_age = 30 * 86400
        emptying = await policy.load(cookie)  # another empties the cart first
        del emptying["cart"]
        assert await policy.save(emptying, https=False) is None  # the cookie is left alone
        login = await policy.load(None)  # the browser then signs in from a cookieless tab, say
        login["user"] = "alice"
        signed_in = await policy.save(login, https=False)
        assert signed_in is not None and signed_in.value is not None
        # The slow request stores its changes onto the emptied session, under its id, and sends no cookie.
        assert await policy.save(slow, https=False) is None
        stored = await policy.load(cookie)
        assert dict(stored) == {"seen": "1"} and stored.max_age == (30 * 86400 if remember else policy.max_age)
        assert dict(await policy.load(signed_in.value)) == {"user": "alice"}


async def test_a_request_emptying_a_session_stores_nothing_whatever_lifetime_it_gave_it(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        policy = SessionPolicy(store, secret=SECRET)
        cookie = await _cookie_for(policy, {"cart": "book"})
        emptying = await policy.load(cookie)
        del emptying["cart"]
        emptying.max_age = 3600
        assert await policy.save(emptying, https=False) is None
        assert emptying.id is None and emptying.record is None


async def test_two_requests_emptying_a_session_with_locking_both_succeed_and_leave_the_cookie(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        policy = SessionPolicy(store, secret=SECRET, locking=True)
        cookie = await _cookie_for(policy, {"cart": "book"})
        first, second = await policy.load(cookie), await policy.load(cookie)  # a double-clicked "remove"
        del first["cart"]
        del second["cart"]
        assert await policy.save(first, https=False) is None
        assert await policy.save(second, https=False) is None  # emptied already: no 409, no cookie change
        assert (await policy.load(cookie)).is_new


async def test_a_whole_session_write_never_puts_back_a_session_a_clear_emptied(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    # An app that signs users out with session.clear(): a parallel request that replaced the session whole must not
    # bring the signed-in data back.
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        policy = SessionPolicy(store, secret=SECRET)
        cookie = await _cookie_for(policy, {"user": "alice", "theme": "dark"})
        whole = await policy.load(cookie)
        whole["theme"] = "light"
        whole.mark_modified()  # the whole session, as loaded, is this request's write
        sign_out = await policy.load(cookie)
        sign_out.clear()
        assert await policy.save(sign_out, https=False) is None
        assert await policy.save(whole, https=False) is None
        assert (await policy.load(cookie)).is_new


async def test_a_write_onto_an_emptied_session_keeps_its_absolute_lifetime(
    dynamodb_endpoint: str, dynamodb_table: str
) -> None:
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        policy = SessionPolicy(store, secret=SECRET, absolute_max_age=3600)
        cookie = await _cookie_for(policy, {"a": "1"})
        created_at = (await policy.load(cookie)).record.created_at  # type: ignore[union-attr]
        await asyncio.sleep(1.1)
        adding = await policy.load(cookie)
        adding["b"] = "2"
        emptying = await policy.load(cookie)
        del emptying["a"]
        await policy.save(emptying, https=False)
        await policy.save(adding, https=False)
        after = await policy.load(cookie)
    assert dict(after) == {"b": "2"} and after.record is not None and after.record.created_at == created_at


async def test_a_request_whose_session_a_login_replaced_between_its_two_load_calls_leaves_the_cookie(
    proxy: DynamoProxy, dynamodb_table: str
) -> None:
    async with DynamoDBStore(dynamodb_table, endpoint_url=proxy.url) as store:
        policy = SessionPolicy(store, secret=SECRET)
        cookie = await _cookie_for(policy, {"a": "1"})
        remember = await policy.load(cookie)
        remember.max_age = 1800  # another tab's "remember me"; this browser's cookie still tells the old lifetime
        await policy.save(remember, https=False)
        proxy.reset()
        # The load slides the expiry (UpdateItem #1), then, the cookie's lifetime being out of date, puts it where
        # the stored lifetime says (UpdateItem #2), which is held in the network while a login replaces the id.
        proxy.fault = lambda operation, attempt: ("delay", 1.0) if operation == "UpdateItem" and attempt == 2 else None
        slow = asyncio.ensure_future(policy.load(cookie))
        await asyncio.sleep(0.3)
        login = await policy.load(cookie)
        login.regenerate()
        login["user"] = "alice"
        signed_in = await policy.save(login, https=False)
        assert signed_in is not None and signed_in.value is not None
        late = await slow
        late["b"] = "2"
        # The login's cookie is the one the browser keeps: this request neither clears nor replaces it.
        assert await policy.save(late, https=False) is None
        assert dict(await policy.load(signed_in.value)) == {"a": "1", "user": "alice"}
