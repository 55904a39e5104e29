"""A Tornado service and a Sanic service with the same secret, cookie name and table share their users' sessions."""

from __future__ import annotations

import json

from tornado_dynasession import DynamoDBStore

from .apps import start_sanic, start_tornado
from .conftest import SECRET
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
