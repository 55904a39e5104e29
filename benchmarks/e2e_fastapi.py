"""The FastAPI app of the end-to-end cases, served by uvicorn in this process: the ASGI adapter's cost per request
against a FastAPI route without sessions (its floor).

Routes, as in ``examples/tornado_app.py``: ``/health`` (no session), ``/session`` (reads the session),
``/counter`` (``count += 1``), ``/login?user=NAME`` (regenerate, ``user = NAME``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from starlette.requests import Request  # module level: FastAPI reads the handlers' annotations from here
from tornado.netutil import bind_sockets

from tornado_dynasession import DynamoDBStore
from tornado_dynasession.asgi import SessionMiddleware, get_session

__all__ = ["RequestCounter", "make_app", "serve"]


def make_app(store: DynamoDBStore, *, cookie_secret: str, touch_after: float = 0, max_age: float = 300) -> FastAPI:
    """The benchmark's FastAPI app on ``store``."""
    app = FastAPI()
    app.add_middleware(
        SessionMiddleware,
        store=store,
        secret=cookie_secret,
        touch_after=touch_after,
        max_age=max_age,
        exclude_paths=("/health",),
    )

    @app.get("/health", response_class=PlainTextResponse)
    async def health() -> str:
        return "ok"

    @app.get("/session")
    async def show_session(request: Request) -> Response:
        session = get_session(request)
        state = {"new": session.is_new, "data": dict(session), "max_age_seconds": session.max_age}
        return Response(json.dumps(state), media_type="application/json")

    @app.get("/counter", response_class=PlainTextResponse)
    async def counter(request: Request) -> str:
        request.session["count"] = int(request.session.get("count", 0)) + 1
        return f"visits: {request.session['count']}"

    @app.get("/login", response_class=PlainTextResponse)
    async def login(request: Request, user: str = "alice") -> str:
        session = get_session(request)
        session.regenerate()
        session["user"] = user[:64]
        return "logged in"

    return app


class RequestCounter:
    """An ASGI wrapper that counts the responses the app started, and those not 2xx."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests = 0
        self.non_2xx = 0

    def reset(self) -> None:
        """Start counting afresh."""
        self.requests = self.non_2xx = 0

    async def __call__(self, scope: Any, receive: Any, send: Callable[[Any], Awaitable[None]]) -> None:
        async def counting_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.requests += 1
                if not 200 <= message["status"] < 300:
                    self.non_2xx += 1
            await send(message)

        await self.app(scope, receive, counting_send)


async def serve(app: FastAPI) -> tuple[str, RequestCounter, Callable[[], Awaitable[None]]]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in this event loop: its base URL, its request counter and
    a stop function."""
    import uvicorn

    counter = RequestCounter(app)
    sockets = bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    config = uvicorn.Config(counter, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=sockets))
    while not server.started:
        if serving.done():
            serving.result()  # raises why it could not start
        await asyncio.sleep(0.01)

    async def stop() -> None:
        server.should_exit = True
        await serving

    return f"http://127.0.0.1:{port}", counter, stop
