"""The behavioural test app, once per framework, with the same routes, so one test suite drives both adapters.

Routes (all GET, query arguments as shown); each answers JSON ``{"id": ..., "new": ..., "data": {...}}`` describing
the session after the handler ran, unless noted:

- ``/health``: no session at all (plain text "ok");
- ``/read``: reads only;
- ``/counter``: ``count += 1``;
- ``/set?key=K&value=V``: one assignment;
- ``/append?item=X[&mark=1|&mark=KEY]``: a nested change (``session["cart"].append``), with ``mark_modified()``
  if mark=1, or ``mark_modified(KEY)``;
- ``/login?user=U``: regenerate, then ``user = U``;
- ``/logout``: invalidate;
- ``/max-age?seconds=S``: ``session.max_age = S``;
- ``/big?kb=N``: stores N KiB of text (for the oversize error);
- ``/slow?seconds=S``: reads, sleeps S seconds, then ``count += 1`` (for races);
- ``/slow-read?seconds=S``: reads, sleeps S seconds, changes nothing (for races);
- ``/slow-set?key=K&value=V&seconds=S[&whole=1]``: reads, sleeps S seconds, then one assignment (for races); with
  whole=1 also ``mark_modified()``, replacing the whole session;
- ``/delete?key=K``: ``del session[K]``;
- ``/clear``: ``session.clear()``;
- ``/scratch``: sets ``scratch`` and deletes it again (a new visitor's session that ends up empty);
- ``/vary``: reads, and sets ``Vary: Accept-Encoding`` on the response;
- ``/stream``: ``streamed = 1``, flushes a first chunk, then ``after_flush = 1``, writes more.

With a store that has a user index:

- ``/sign-in?user=U[&label=L]``: regenerate, ``user = U``, ``session.user_id = U``, ``session.label = L``;
- ``/my-sessions``: JSON ``{"current": key of this session, "sessions": [{"key", "label", ...}]}``;
- ``/sign-out-others``: ``revoke_user(user_id, keep=session.id)``, answering ``{"ended": N}``;
- ``/sign-out-one?key=K``: ``revoke(K, user_id=session.user_id)``, answering ``{"ended": true|false}``.

Tornado only (framework-specific ways to end a response): ``/redirect``, ``/render``, ``/finish``,
``/raise-finish``, ``/http-error``, ``/send-error``, each after setting ``via`` to the route name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import tornado.web
from tornado.httpserver import HTTPServer

from tornado_dynasession import DynamoDBStore, Session, SessionMixin

from .support import free_port

Stop = Callable[[], Awaitable[None]]


def describe(session: Session) -> str:
    """The JSON every route answers."""
    return json.dumps({"id": session.id, "new": session.is_new, "data": dict(session)})


class _Base(SessionMixin, tornado.web.RequestHandler):
    def answer(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(describe(self.session))


class Health(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("ok")


class Read(_Base):
    def get(self) -> None:
        self.answer()


class Counter(_Base):
    def get(self) -> None:
        self.session["count"] = int(self.session.get("count", 0)) + 1
        self.answer()


class Set(_Base):
    def get(self) -> None:
        self.session[self.get_argument("key")] = self.get_argument("value")
        self.answer()


class Append(_Base):
    def get(self) -> None:
        if "cart" not in self.session:
            self.session["cart"] = []
        self.session["cart"].append(self.get_argument("item"))
        mark = self.get_argument("mark", "0")
        if mark == "1":
            self.session.mark_modified()
        elif mark != "0":
            self.session.mark_modified(mark)
        self.answer()


class Login(_Base):
    def get(self) -> None:
        self.session.regenerate()
        self.session["user"] = self.get_argument("user")
        self.answer()


class Logout(_Base):
    def get(self) -> None:
        self.session.invalidate()
        self.answer()


class MaxAge(_Base):
    def get(self) -> None:
        self.session.max_age = float(self.get_argument("seconds"))
        self.answer()


class Big(_Base):
    def get(self) -> None:
        self.session["blob"] = "x" * (int(self.get_argument("kb")) * 1024)
        self.write("stored")


class Slow(_Base):
    async def get(self) -> None:
        await asyncio.sleep(float(self.get_argument("seconds")))
        self.session["count"] = int(self.session.get("count", 0)) + 1
        self.answer()


class SlowSet(_Base):
    async def get(self) -> None:
        await asyncio.sleep(float(self.get_argument("seconds")))
        self.session[self.get_argument("key")] = self.get_argument("value")
        if self.get_argument("whole", "0") == "1":
            self.session.mark_modified()
        self.answer()


class SlowRead(_Base):
    async def get(self) -> None:
        await asyncio.sleep(float(self.get_argument("seconds")))
        self.answer()


class Delete(_Base):
    def get(self) -> None:
        del self.session[self.get_argument("key")]
        self.answer()


class Clear(_Base):
    def get(self) -> None:
        self.session.clear()
        self.answer()


class Scratch(_Base):
    def get(self) -> None:
        self.session["scratch"] = 1
        del self.session["scratch"]
        self.answer()


class Vary(_Base):
    def get(self) -> None:
        self.set_header("Vary", "Accept-Encoding")
        self.answer()


class Stream(_Base):
    async def get(self) -> None:
        self.session["streamed"] = 1
        self.write("first chunk\n")
        await self.flush()
        self.session["after_flush"] = 1
        self.write("second chunk\n")


class Redirect(_Base):
    def get(self) -> None:
        self.session["via"] = "redirect"
        self.redirect("/read")


class Render(_Base):
    def get(self) -> None:
        self.session["via"] = "render"
        self.render("page.html", via="render")


class ExplicitFinish(_Base):
    async def get(self) -> None:
        self.session["via"] = "finish"
        await self.finish("finished")


class RaiseFinish(_Base):
    def get(self) -> None:
        self.session["via"] = "raise-finish"
        raise tornado.web.Finish("raised")


class RaiseHTTPError(_Base):
    def get(self) -> None:
        self.session["via"] = "http-error"
        raise tornado.web.HTTPError(404)


class SendError(_Base):
    def get(self) -> None:
        self.session["via"] = "send-error"
        self.send_error(418)


class SignIn(_Base):
    def get(self) -> None:
        sign_in(self.session, self.get_argument("user"), self.get_argument("label", None))
        self.answer()


class MySessions(_Base):
    async def get(self) -> None:
        self.write(await my_sessions(self.session, self.settings["session_store"]))


class SignOutOthers(_Base):
    async def get(self) -> None:
        store = self.settings["session_store"]
        self.write({"ended": await store.revoke_user(self.session.user_id, keep=self.session.id)})


class SignOutOne(_Base):
    async def get(self) -> None:
        store = self.settings["session_store"]
        self.write({"ended": await store.revoke(self.get_argument("key"), user_id=self.session.user_id)})


def sign_in(session: Session, user: str, label: str | None) -> None:
    """What both apps' ``/sign-in`` does."""
    session.regenerate()
    session["user"] = user
    session.user_id = user
    session.label = label


async def my_sessions(session: Session, store: DynamoDBStore) -> dict[str, Any]:
    """What both apps' ``/my-sessions`` answers."""
    assert session.user_id is not None and session.id is not None
    listed = await store.list_sessions(session.user_id)
    return {"current": store.key_for(session.id), "sessions": [dataclasses.asdict(info) for info in listed]}


ROUTES: list[tuple[str, type[tornado.web.RequestHandler]]] = [
    (r"/health", Health),
    (r"/read", Read),
    (r"/counter", Counter),
    (r"/set", Set),
    (r"/append", Append),
    (r"/login", Login),
    (r"/logout", Logout),
    (r"/max-age", MaxAge),
    (r"/big", Big),
    (r"/slow", Slow),
    (r"/slow-read", SlowRead),
    (r"/slow-set", SlowSet),
    (r"/delete", Delete),
    (r"/clear", Clear),
    (r"/scratch", Scratch),
    (r"/vary", Vary),
    (r"/stream", Stream),
    (r"/redirect", Redirect),
    (r"/render", Render),
    (r"/finish", ExplicitFinish),
    (r"/raise-finish", RaiseFinish),
    (r"/http-error", RaiseHTTPError),
    (r"/send-error", SendError),
    (r"/sign-in", SignIn),
    (r"/my-sessions", MySessions),
    (r"/sign-out-others", SignOutOthers),
    (r"/sign-out-one", SignOutOne),
]

TEMPLATES = Path(__file__).parent / "templates"


async def start_tornado(store: DynamoDBStore | None, **options: Any) -> tuple[str, Stop]:
    """Serve the Tornado test app on a free port; ``options`` are the adapter options in their Sanic spelling
    (secret, max_age, touch_after, absolute_max_age, key_version, cookie_*), translated to Tornado settings."""
    settings: dict[str, Any] = {"template_path": str(TEMPLATES)}
    if store is not None:
        settings["session_store"] = store
    for key, value in options.items():
        if key == "secret":
            settings["cookie_secret"] = value
        elif key == "key_version":
            settings["key_version"] = value
        elif key == "raw_settings":
            settings.update(value)
        else:
            settings[f"session_{key}"] = value
    app = tornado.web.Application(ROUTES, **settings)
    port = free_port()
    server = HTTPServer(app, xheaders=True)
    server.listen(port, address="127.0.0.1")

    async def stop() -> None:
        server.stop()
        await server.close_all_connections()

    return f"http://127.0.0.1:{port}", stop


_sanic_apps = 0


async def start_sanic(store: DynamoDBStore | None, **options: Any) -> tuple[str, Stop]:
    """Serve the Sanic test app (same routes, minus Tornado's own ways of ending a response) on a free port."""
    from sanic import Request, Sanic
    from sanic.response import HTTPResponse, text
    from sanic.response import json as json_response

    from tornado_dynasession.sanic import Sessions

    global _sanic_apps
    _sanic_apps += 1
    app = Sanic(f"sessions_test_{_sanic_apps}")
    app.config.PROXIES_COUNT = 1  # trust X-Forwarded-Proto from the test client, as behind a load balancer
    app.config.ACCESS_LOG = False
    app.config.TOUCHUP = False  # touchup rewrites shared classes and breaks a second app in one process
    app.config.MOTD = False
    options.pop("raw_settings", None)
    Sessions(app, store=store, **options)  # type: ignore[arg-type]

    def answer(request: Request) -> HTTPResponse:
        session = request.ctx.session
        return json_response({"id": session.id, "new": session.is_new, "data": dict(session)})

    @app.get("/health", ctx_sessions=False)
    async def health(request: Request) -> HTTPResponse:
        return text("ok")

    @app.get("/read")
    async def read(request: Request) -> HTTPResponse:
        return answer(request)

    @app.get("/counter")
    async def counter(request: Request) -> HTTPResponse:
        request.ctx.session["count"] = int(request.ctx.session.get("count", 0)) + 1
        return answer(request)

    @app.get("/set")
    async def set_value(request: Request) -> HTTPResponse:
        request.ctx.session[request.args.get("key")] = request.args.get("value")
        return answer(request)

    @app.get("/append")
    async def append(request: Request) -> HTTPResponse:
        session = request.ctx.session
        if "cart" not in session:
            session["cart"] = []
        session["cart"].append(request.args.get("item"))
        mark = request.args.get("mark", "0")
        if mark == "1":
            session.mark_modified()
        elif mark != "0":
            session.mark_modified(mark)
        return answer(request)

    @app.get("/login")
    async def login(request: Request) -> HTTPResponse:
        request.ctx.session.regenerate()
        request.ctx.session["user"] = request.args.get("user")
        return answer(request)

    @app.get("/logout")
    async def logout(request: Request) -> HTTPResponse:
        request.ctx.session.invalidate()
        return answer(request)

    @app.get("/max-age")
    async def max_age(request: Request) -> HTTPResponse:
        request.ctx.session.max_age = float(request.args.get("seconds"))
        return answer(request)

    @app.get("/big")
    async def big(request: Request) -> HTTPResponse:
        request.ctx.session["blob"] = "x" * (int(request.args.get("kb")) * 1024)
        return text("stored")

    @app.get("/slow")
    async def slow(request: Request) -> HTTPResponse:
        await asyncio.sleep(float(request.args.get("seconds")))
        request.ctx.session["count"] = int(request.ctx.session.get("count", 0)) + 1
        return answer(request)

    @app.get("/slow-set")
    async def slow_set(request: Request) -> HTTPResponse:
        await asyncio.sleep(float(request.args.get("seconds")))
        request.ctx.session[request.args.get("key")] = request.args.get("value")
        if request.args.get("whole") == "1":
            request.ctx.session.mark_modified()
        return answer(request)

    @app.get("/slow-read")
    async def slow_read(request: Request) -> HTTPResponse:
        await asyncio.sleep(float(request.args.get("seconds")))
        return answer(request)

    @app.get("/delete")
    async def delete(request: Request) -> HTTPResponse:
        del request.ctx.session[request.args.get("key")]
        return answer(request)

    @app.get("/clear")
    async def clear(request: Request) -> HTTPResponse:
        request.ctx.session.clear()
        return answer(request)

    @app.get("/scratch")
    async def scratch(request: Request) -> HTTPResponse:
        request.ctx.session["scratch"] = 1
        del request.ctx.session["scratch"]
        return answer(request)

    @app.get("/vary")
    async def vary(request: Request) -> HTTPResponse:
        response = answer(request)
        response.headers["Vary"] = "Accept-Encoding"
        return response

    @app.get("/stream")
    async def stream(request: Request) -> None:
        request.ctx.session["streamed"] = 1
        response = await request.respond(content_type="text/plain")
        await response.send("first chunk\n")
        request.ctx.session["after_flush"] = 1
        await response.send("second chunk\n")
        await response.eof()

    @app.get("/sign-in")
    async def sign_in_route(request: Request) -> HTTPResponse:
        sign_in(request.ctx.session, request.args.get("user"), request.args.get("label"))
        return answer(request)

    @app.get("/my-sessions")
    async def my_sessions_route(request: Request) -> HTTPResponse:
        return json_response(await my_sessions(request.ctx.session, app.ctx.sessions.policy.store))

    @app.get("/sign-out-others")
    async def sign_out_others(request: Request) -> HTTPResponse:
        session = request.ctx.session
        return json_response(
            {"ended": await app.ctx.sessions.policy.store.revoke_user(session.user_id, keep=session.id)}
        )

    @app.get("/sign-out-one")
    async def sign_out_one(request: Request) -> HTTPResponse:
        store = app.ctx.sessions.policy.store
        key = request.args.get("key")
        return json_response({"ended": await store.revoke(key, user_id=request.ctx.session.user_id)})

    return await serve_sanic_app(app)


async def serve_sanic_app(app: Any) -> tuple[str, Stop]:
    """Serve a Sanic app on a free 127.0.0.1 port, in this event loop; returns its base URL and a stop function."""
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    await server.start_serving()

    async def stop() -> None:
        await server.before_stop()
        await server.close()
        await server.after_stop()

    return f"http://127.0.0.1:{port}", stop
