"""The behavioural test app, once per framework, with the same routes, so one test suite drives every adapter.

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

Tornado, Sanic, FastAPI (``start_fastapi``, on uvicorn) and aiohttp.web (``start_aiohttp``) serve them; the last two
share one table of route actions (``ACTIONS``).

Tornado only (framework-specific ways to end a response): ``/redirect``, ``/render``, ``/finish``,
``/raise-finish``, ``/http-error``, ``/send-error``, each after setting ``via`` to the route name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import tornado.web
from starlette.requests import Request  # module level: FastAPI reads the handlers' annotations from here
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


# -- Starlette/FastAPI and aiohttp.web: one table of route actions, wired to each framework ----------------------

RouteArgs = Mapping[str, str]
Action = Callable[[Session, RouteArgs, DynamoDBStore], Awaitable[dict[str, Any] | str | None]]
"""What a route does to the session; None answers the session as JSON (``describe``), a str answers text."""


async def _read(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    return None


async def _counter(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    session["count"] = int(session.get("count", 0)) + 1


async def _set(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    session[args["key"]] = args["value"]


async def _append(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    session.setdefault("cart", []).append(args["item"])
    mark = args.get("mark", "0")
    if mark == "1":
        session.mark_modified()
    elif mark != "0":
        session.mark_modified(mark)


async def _login(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    session.regenerate()
    session["user"] = args["user"]


async def _logout(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    session.invalidate()


async def _max_age(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    session.max_age = float(args["seconds"])


async def _big(session: Session, args: RouteArgs, store: DynamoDBStore) -> str:
    session["blob"] = "x" * (int(args["kb"]) * 1024)
    return "stored"


async def _slow(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    await asyncio.sleep(float(args["seconds"]))
    session["count"] = int(session.get("count", 0)) + 1


async def _slow_read(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    await asyncio.sleep(float(args["seconds"]))


async def _slow_set(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    await asyncio.sleep(float(args["seconds"]))
    session[args["key"]] = args["value"]
    if args.get("whole") == "1":
        session.mark_modified()


async def _delete(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    del session[args["key"]]


async def _clear(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    session.clear()


async def _scratch(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    session["scratch"] = 1
    del session["scratch"]


async def _sign_in(session: Session, args: RouteArgs, store: DynamoDBStore) -> None:
    sign_in(session, args["user"], args.get("label"))


async def _my_sessions(session: Session, args: RouteArgs, store: DynamoDBStore) -> dict[str, Any]:
    return await my_sessions(session, store)


async def _sign_out_others(session: Session, args: RouteArgs, store: DynamoDBStore) -> dict[str, Any]:
    assert session.user_id is not None
    return {"ended": await store.revoke_user(session.user_id, keep=session.id)}


async def _sign_out_one(session: Session, args: RouteArgs, store: DynamoDBStore) -> dict[str, Any]:
    return {"ended": await store.revoke(args["key"], user_id=session.user_id)}


ACTIONS: dict[str, Action] = {
    "read": _read,
    "vary": _read,  # the app sets Vary: Accept-Encoding on this one
    "counter": _counter,
    "set": _set,
    "append": _append,
    "login": _login,
    "logout": _logout,
    "max-age": _max_age,
    "big": _big,
    "slow": _slow,
    "slow-read": _slow_read,
    "slow-set": _slow_set,
    "delete": _delete,
    "clear": _clear,
    "scratch": _scratch,
    "sign-in": _sign_in,
    "my-sessions": _my_sessions,
    "sign-out-others": _sign_out_others,
    "sign-out-one": _sign_out_one,
}
"""The routes the FastAPI and aiohttp apps serve through one handler each (``/stream`` and ``/health`` aside)."""


async def act(name: str, session: Session, args: RouteArgs, store: DynamoDBStore) -> tuple[str, str, dict[str, str]]:
    """Run route ``name``: its (body, content type, extra headers)."""
    result = await ACTIONS[name](session, args, store)
    headers = {"Vary": "Accept-Encoding"} if name == "vary" else {}
    if isinstance(result, str):
        return result, "text/plain", headers
    return json.dumps(result) if result is not None else describe(session), "application/json", headers


def _no_store(store: DynamoDBStore | None) -> DynamoDBStore:
    # FastAPI and aiohttp take the store at setup; a test that checks the missing-store error is Tornado's own.
    assert store is not None, "the FastAPI and aiohttp test apps need a store"
    return store


async def start_fastapi(store: DynamoDBStore | None, **options: Any) -> tuple[str, Stop]:
    """Serve the FastAPI test app (same routes as the Sanic app) with uvicorn on a free port, in this loop."""
    from fastapi import FastAPI, HTTPException, Response
    from fastapi.responses import PlainTextResponse, StreamingResponse

    from tornado_dynasession.asgi import SessionMiddleware, get_session

    store = _no_store(store)
    options.pop("raw_settings", None)
    app = FastAPI()
    app.add_middleware(SessionMiddleware, store=store, exclude_paths=("/health",), **options)

    @app.get("/health")
    async def health() -> Response:
        return PlainTextResponse("ok")

    @app.get("/stream")
    async def stream(request: Request) -> Response:
        session = request.session
        session["streamed"] = 1

        async def chunks() -> AsyncIterator[bytes]:
            yield b"first chunk\n"
            session["after_flush"] = 1
            yield b"second chunk\n"

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/{name}")
    async def route(name: str, request: Request) -> Response:
        if name not in ACTIONS:
            raise HTTPException(404)
        body, content_type, headers = await act(name, get_session(request), request.query_params, store)
        return Response(body, media_type=content_type, headers=headers)

    return await serve_asgi_app(app, proxy_headers=True)


async def serve_asgi_app(app: Any, *, proxy_headers: bool = False) -> tuple[str, Stop]:
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port, in this event loop; returns its base URL and a stop
    function. ``proxy_headers`` trusts X-Forwarded-Proto from the test client, as behind a load balancer."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        proxy_headers=proxy_headers,
        forwarded_allow_ips="127.0.0.1",
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # raises why it could not start
        await asyncio.sleep(0.01)

    async def stop() -> None:
        server.should_exit = True
        await serving

    return f"http://127.0.0.1:{port}", stop


async def start_aiohttp(store: DynamoDBStore | None, **options: Any) -> tuple[str, Stop]:
    """Serve the aiohttp.web test app (same routes as the Sanic app) on a free port, in this loop."""
    from aiohttp import web

    from tornado_dynasession.aiohttp_web import get_session, setup

    store = _no_store(store)
    options.pop("raw_settings", None)

    @web.middleware
    async def forwarded(request: web.Request, handler: Any) -> web.StreamResponse:
        # Trust X-Forwarded-Proto from the test client, as behind a load balancer (aiohttp-remotes does this).
        if request.headers.get("X-Forwarded-Proto") == "https":
            request = request.clone(scheme="https")
        return await handler(request)  # type: ignore[no-any-return]

    app = web.Application(middlewares=[forwarded])
    setup(app, store=store, exclude_paths=("/health",), **options)

    async def health(request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    async def stream(request: web.Request) -> web.StreamResponse:
        session = await get_session(request)
        session["streamed"] = 1
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(b"first chunk\n")
        session["after_flush"] = 1
        await response.write(b"second chunk\n")
        await response.write_eof()
        return response

    async def route(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ACTIONS:
            raise web.HTTPNotFound()
        body, content_type, headers = await act(name, await get_session(request), request.query, store)
        return web.Response(text=body, content_type=content_type, headers=headers)

    app.router.add_get("/health", health)
    app.router.add_get("/stream", stream)
    app.router.add_get("/{name}", route)
    return await serve_aiohttp_app(app)


async def serve_aiohttp_app(app: Any) -> tuple[str, Stop]:
    """Serve an aiohttp.web app on a free 127.0.0.1 port, in this event loop; returns its base URL and a stop
    function."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return f"http://127.0.0.1:{port}", runner.cleanup


_sanic_apps = 0


async def start_sanic(store: DynamoDBStore | None, **options: Any) -> tuple[str, Stop]:
    """Serve the Sanic test app (same routes, minus Tornado's own ways of ending a response) on a free port."""
    from sanic import Sanic
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
