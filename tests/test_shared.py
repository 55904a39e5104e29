"""Services on different frameworks with the same secret, cookie name and table share their users' sessions."""

from __future__ import annotations

import json
from typing import Any

from tornado_dynasession import DynamoDBStore

from .apps import start_sanic, start_tornado
from .conftest import FRAMEWORKS, SECRET
from .support import Browser


async def test_log_in_on_tornado_and_be_logged_in_on_sanic_and_back(counted_store: DynamoDBStore) -> None:
    tornado_url, stop_tornado = await start_tornado(counted_store, secret=SECRET)
    sanic_url, stop_sanic = await start_sanic(counted_store, secret=SECRET)
    on_tornado, on_sanic = Browser(tornado_url), Browser(sanic_url)
    try:
        await on_tornado.get("/login?user=alice")
        on_sanic.cookies = on_tornado.cookies  # one browser, two services behind one domain
        seen = json.loads((await on_sanic.get("/counter")).body)
        assert seen["data"] == {"user": "alice", "count": 1}
        assert json.loads((await on_tornado.get("/read")).body)["data"] == {"user": "alice", "count": 1}
        logged_in = dict(on_tornado.cookies)
        await on_sanic.get("/logout")
        assert json.loads((await on_tornado.get("/read", cookies=logged_in)).body)["new"] is True
    finally:
        await on_tornado.close()
        await on_sanic.close()
        await stop_tornado()
        await stop_sanic()


async def test_one_browser_moves_between_all_four_frameworks_on_one_session(counted_store: DynamoDBStore) -> None:
    apps = {name: await start(counted_store, secret=SECRET) for name, start in FRAMEWORKS.items()}
    browsers = {name: Browser(base_url) for name, (base_url, _) in apps.items()}
    jar: dict[str, str] = {}

    async def visit(name: str, path: str) -> dict[str, Any]:
        browser = browsers[name]
        browser.cookies = jar  # one browser, four services behind one domain: the jar is shared
        reply = await browser.get(path)
        assert reply.status == 200, (name, path, reply.body)
        return dict(json.loads(reply.body))

    try:
        first, *others = FRAMEWORKS
        await visit(first, "/login?user=alice")
        for name in others:  # the login on one is a login on all, and each one's change is seen by the next
            seen = await visit(name, f"/set?key={name}&value=1")
            assert seen["data"]["user"] == "alice"
        logged_in = dict(jar)
        everything = {"user": "alice", **{name: "1" for name in others}}
        for name in FRAMEWORKS:
            assert (await visit(name, "/read"))["data"] == everything
        await visit(others[-1], "/logout")
        for name in FRAMEWORKS:  # the old cookie, replayed, finds the session ended everywhere
            reply = await browsers[name].get("/read", cookies=logged_in)
            assert json.loads(reply.body)["new"] is True, name
    finally:
        for browser in browsers.values():
            await browser.close()
        for _, stop in apps.values():
            await stop()
