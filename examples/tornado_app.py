"""A small Tornado app with sessions: log in (regenerate), a counter, a page showing the session, log out (invalidate),
and "your sessions", listing the user's sessions with "sign out everywhere else".

Run it with ``make demo`` (``make demo PORT=9000`` for another port), which starts the embedded DynamoDB server and
creates the table; or by hand against any DynamoDB endpoint::

    python -m tornado_dynasession create-table --table sessions --user-index --endpoint-url $DYNAMODB_ENDPOINT
    DYNAMODB_ENDPOINT=... PORT=8888 python examples/tornado_app.py

It prints ``serving on http://127.0.0.1:PORT`` once it listens (``PORT`` from the environment, 8888 by default).
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import secrets
import time
from typing import Any

import tornado.web

from tornado_dynasession import DynamoDBStore, SessionMixin

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body>
<nav><a href="/">home</a> · <a href="/counter">counter</a> · <a href="/session">session</a> ·
<a href="/sessions">your sessions</a></nav>
<h1>{title}</h1>
{body}
</body></html>"""


def page(title: str, body: str) -> str:
    """Wrap ``body`` (HTML) in the demo's page layout."""
    return PAGE.format(title=html.escape(title), body=body)


class Health(tornado.web.RequestHandler):
    """No session at all: the baseline route."""

    def get(self) -> None:
        self.write("ok")


class Home(SessionMixin, tornado.web.RequestHandler):
    """Who is logged in, with the login or logout form."""

    def get(self) -> None:
        user = self.session.get("user")
        if user:
            body = (
                f'<p id="user">Logged in as <b>{html.escape(str(user))}</b>.</p>'
                '<form method="post" action="/logout"><button id="logout" type="submit">Log out</button></form>'
            )
        else:
            body = (
                '<p id="user">Not logged in.</p>'
                '<form method="post" action="/login"><input id="name" name="user" value="alice">'
                '<button id="login" type="submit">Log in</button></form>'
            )
        self.write(page("tornado_dynasession demo", body))


class Login(SessionMixin, tornado.web.RequestHandler):
    """POST (or GET ?user=NAME): log in. The session gets a new id (regenerate), keeping its data."""

    def _login(self) -> None:
        user = self.get_argument("user", "alice")[:64]
        self.session.regenerate()
        self.session["user"] = user
        if self.settings["session_store"].user_index:  # the table has a user index: list it under "your sessions"
            self.session.user_id = user
            self.session.label = device_label(self.request.headers.get("User-Agent", ""))
        self.redirect("/")

    def post(self) -> None:
        self._login()

    def get(self) -> None:
        if self.get_argument("user", None) is None:
            self.redirect("/")
        else:
            self._login()


class Logout(SessionMixin, tornado.web.RequestHandler):
    """POST (or GET): log out. The stored session is destroyed and the cookie cleared (invalidate)."""

    def post(self) -> None:
        self.session.invalidate()
        self.redirect("/")

    get = post


class Counter(SessionMixin, tornado.web.RequestHandler):
    """Each visit adds one to the session's counter: a modified session, one PutItem."""

    def get(self) -> None:
        self.session["count"] = int(self.session.get("count", 0)) + 1
        self.write(page("counter", f'<p>Visits: <span id="count">{self.session["count"]}</span></p>'))


class ShowSession(SessionMixin, tornado.web.RequestHandler):
    """Shows the session read-only: an existing session is touched (sliding expiry), a new visitor gets nothing."""

    def get(self) -> None:
        session = self.session
        state: dict[str, Any] = {"new": session.is_new, "data": dict(session), "max_age_seconds": session.max_age}
        self.write(page("session", f'<pre id="session">{html.escape(json.dumps(state, indent=2))}</pre>'))


def device_label(user_agent: str) -> str:
    """A short description of the browser for the list of sessions, e.g. "Chrome on Linux"."""
    browser = next((name for name in ("Firefox", "Edg", "Chrome", "Safari") if name in user_agent), "a browser")
    system = next((name for name in ("Windows", "Android", "iPhone", "Mac OS", "Linux") if name in user_agent), "")
    return f"{browser.replace('Edg', 'Edge')} on {system}" if system else browser


class YourSessions(SessionMixin, tornado.web.RequestHandler):
    """The signed-in user's sessions, each with a "sign out" button, and "sign out everywhere else"."""

    @property
    def store(self) -> DynamoDBStore:
        store: DynamoDBStore = self.settings["session_store"]
        return store

    async def get(self) -> None:
        user = self.session.user_id
        if not self.store.user_index:
            self.write(page("your sessions", '<p id="sessions">This table has no user index.</p>'))
            return
        if user is None or self.session.id is None:
            self.write(page("your sessions", '<p id="sessions">Not logged in.</p>'))
            return
        current = self.store.key_for(self.session.id)
        rows = "".join(
            f'<li class="session">{html.escape(info.label or "unnamed")}'
            f"{' (this browser)' if info.key == current else ''}, active until "
            f"{time.strftime('%H:%M:%S', time.localtime(info.expires_at))}"
            + (
                ""
                if info.key == current
                else f'<form method="post" action="/sessions/revoke"><input type="hidden" name="key" '
                f'value="{html.escape(info.key)}"><button type="submit">Sign out</button></form>'
            )
            + "</li>"
            for info in await self.store.list_sessions(user)
        )
        self.write(
            page(
                "your sessions",
                f'<ul id="sessions">{rows}</ul><form method="post" action="/sessions/revoke-others">'
                '<button id="sign-out-others" type="submit">Sign out everywhere else</button></form>',
            )
        )


class RevokeSession(YourSessions):
    """POST key=K: end one of the user's sessions (only the signed-in user's own: revoke checks the user)."""

    async def post(self) -> None:
        if self.session.user_id is not None:
            await self.store.revoke(self.get_argument("key"), user_id=self.session.user_id)
        self.redirect("/sessions")


class RevokeOtherSessions(YourSessions):
    """POST: end every session of the user except this one."""

    async def post(self) -> None:
        if self.session.user_id is not None:
            await self.store.revoke_user(self.session.user_id, keep=self.session.id)
        self.redirect("/sessions")


def make_app(
    store: DynamoDBStore,
    *,
    cookie_secret: str,
    touch_after: float = 0.0,
    max_age: float = 300.0,
    **settings: Any,
) -> tornado.web.Application:
    """The demo application on ``store``; extra keyword arguments become Application settings."""
    return tornado.web.Application(
        [
            (r"/", Home),
            (r"/health", Health),
            (r"/login", Login),
            (r"/logout", Logout),
            (r"/counter", Counter),
            (r"/session", ShowSession),
            (r"/sessions", YourSessions),
            (r"/sessions/revoke", RevokeSession),
            (r"/sessions/revoke-others", RevokeOtherSessions),
        ],
        session_store=store,
        cookie_secret=cookie_secret,
        session_touch_after=touch_after,
        session_max_age=max_age,
        **settings,
    )


async def serve(
    endpoint_url: str | None, *, table: str = "sessions", port: int = 8888, user_index: str | None = "UserIndex"
) -> None:
    """Serve the demo on 127.0.0.1:``port`` until cancelled; ``user_index=None`` for a table without one."""
    secret = os.environ.get("COOKIE_SECRET") or secrets.token_hex(32)
    async with DynamoDBStore(table, endpoint_url=endpoint_url, user_index=user_index) as store:
        app = make_app(store, cookie_secret=secret)
        server = app.listen(port, address="127.0.0.1")
        where = f"DynamoDB at {store.endpoint_url or 'AWS'}, table {table!r}"
        print(f"serving on http://127.0.0.1:{port}  ({where})", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(serve(os.environ.get("DYNAMODB_ENDPOINT"), port=int(os.environ.get("PORT", "8888"))))
