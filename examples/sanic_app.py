"""The demo's Sanic twin: the same pages, the same sessions. Give it the same COOKIE_SECRET and table as the Tornado
demo and a user logged in on one is logged in on the other.

    python -m tornado_dynasession create-table --table sessions --endpoint-url $DYNAMODB_ENDPOINT
    DYNAMODB_ENDPOINT=... COOKIE_SECRET=... PORT=8889 python examples/sanic_app.py

It prints ``serving on http://127.0.0.1:PORT`` once it listens (``PORT`` from the environment, 8889 by default).
"""

from __future__ import annotations

import html
import json
import os
import secrets

from sanic import Request, Sanic
from sanic.response import HTTPResponse, redirect, text
from sanic.response import html as html_response

from tornado_dynasession import DynamoDBStore
from tornado_dynasession.sanic import Sessions

PORT = int(os.environ.get("PORT", "8889"))
app = Sanic("tornado_dynasession_demo")
store = DynamoDBStore(os.environ.get("TABLE", "sessions"))  # opened on first use, closed below
Sessions(app, store=store, secret=os.environ.get("COOKIE_SECRET") or secrets.token_hex(32))


def page(title: str, body: str) -> HTTPResponse:
    """The demo's page layout around ``body`` (HTML)."""
    nav = '<nav><a href="/">home</a> · <a href="/counter">counter</a> · <a href="/session">session</a></nav>'
    return html_response(f"<!doctype html><title>{html.escape(title)}</title>{nav}<h1>{html.escape(title)}</h1>{body}")


@app.get("/health", ctx_sessions=False)
async def health(request: Request) -> HTTPResponse:
    """No session: costs no store call."""
    return text("ok")


@app.get("/")
async def home(request: Request) -> HTTPResponse:
    """Who is logged in, with the login or logout form."""
    user = request.ctx.session.get("user")
    if user:
        body = (
            f'<p id="user">Logged in as <b>{html.escape(str(user))}</b>.</p>'
            '<form method="post" action="/logout"><button id="logout">Log out</button></form>'
        )
    else:
        body = (
            '<p id="user">Not logged in.</p><form method="post" action="/login">'
            '<input id="name" name="user" value="alice"><button id="login">Log in</button></form>'
        )
    return page("tornado_dynasession demo (Sanic)", body)


@app.post("/login")
async def login(request: Request) -> HTTPResponse:
    """Log in: a new session id (regenerate), keeping the data."""
    request.ctx.session.regenerate()
    request.ctx.session["user"] = (request.form.get("user") or "alice")[:64]
    return redirect("/")


@app.post("/logout")
async def logout(request: Request) -> HTTPResponse:
    """Log out: the stored session is destroyed and the cookie cleared."""
    request.ctx.session.invalidate()
    return redirect("/")


@app.get("/counter")
async def counter(request: Request) -> HTTPResponse:
    """One more visit: a modified session, one PutItem."""
    session = request.ctx.session
    session["count"] = int(session.get("count", 0)) + 1
    return page("counter", f'<p>Visits: <span id="count">{session["count"]}</span></p>')


@app.get("/session")
async def show(request: Request) -> HTTPResponse:
    """The session, read-only: touched if stored, nothing at all for a new visitor."""
    session = request.ctx.session
    state = {"new": session.is_new, "data": dict(session), "max_age_seconds": session.max_age}
    return page("session", f'<pre id="session">{html.escape(json.dumps(state, indent=2))}</pre>')


@app.after_server_start
async def announce(app: Sanic) -> None:  # type: ignore[type-arg]
    """Say where the demo listens, once it does."""
    where = f"DynamoDB at {store.endpoint_url or 'AWS'}, table {store.table!r}"
    print(f"serving on http://127.0.0.1:{PORT}  ({where})", flush=True)


@app.after_server_stop
async def close_store(app: Sanic) -> None:  # type: ignore[type-arg]
    """Close the store's DynamoDB client."""
    await store.close()


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=PORT, single_process=True)
