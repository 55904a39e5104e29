"""Starlette and FastAPI (any ASGI app): :class:`SessionMiddleware` translates the session policy to ASGI messages.

Install with ``app.add_middleware(SessionMiddleware, store=store, secret="...")``; the session is
``request.session`` (``scope["session"]``), the same :class:`~tornado_dynasession.Session` as ``self.session`` in
Tornado. Pure ASGI: this module imports no framework. ``request.session`` is Starlette's, so
``pip install "tornado_dynasession[asgi]"`` brings Starlette.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from tornado.httputil import parse_cookie

from .adapters import glue
from .errors import SessionStoreError
from .policy import CookieSecret, Session, status_for_error
from .store import DynamoDBStore

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["SessionMiddleware", "get_session"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SessionMiddleware:
    """Sessions for an ASGI app, with the same rules as the Tornado mixin: ``app.add_middleware(SessionMiddleware,
    store=store, secret="...")`` in Starlette or FastAPI.

    :param app: the ASGI app it wraps (Starlette passes it).
    :param store: the session store.
    :param secret: the cookie signing secret, or a ``{key_version: secret}`` dict with ``key_version``. Use the same
        secret, cookie name and table as a Tornado, Sanic or aiohttp service to share its users' sessions.
    :param exclude_paths: path prefixes that need no session (``("/health", "/static/")``): their requests cost no
        store call and have no ``request.session``.
    :param options: the cookie and lifetime options of :class:`~tornado_dynasession.adapters.glue.SessionOptions`
        (``max_age``, ``touch_after``, ``absolute_max_age``, ``key_version``, ``cookie_name``, ``cookie_domain``,
        ``cookie_path``, ``cookie_secure``, ``cookie_samesite``, ``cookie_persistent``, ``cookie_format``).
        ``cookie_secure=None`` sets Secure when the scope's scheme is https, which behind a proxy needs the
        server's proxy headers support (uvicorn's ``--proxy-headers`` and ``--forwarded-allow-ips``).

    Hooks: the session loads before the app runs (zero store calls without a valid signed cookie, else one). The
    single write is made when the app sends ``http.response.start``, before it is passed on, so that the cookie goes
    out with the headers; a streaming response is saved when it starts, and changes made after that are not saved.
    Every response carries ``Vary: Cookie``, merged with any ``Vary`` the app sets. A failed load or save answers
    503 (store unreachable or throttling), 409 (locking conflict) or 500 instead of the app's response, as a short
    text body; the cause is logged. HTTP requests only: WebSocket and lifespan scopes pass through untouched.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: DynamoDBStore,
        secret: CookieSecret,
        exclude_paths: Iterable[str] = (),
        **options: Unpack[glue.SessionOptions],
    ) -> None:
        self.app = app
        self.policy = glue.build_policy(store, secret=secret, **options)
        self.exclude_paths = glue.path_prefixes(exclude_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or glue.excluded(scope["path"], self.exclude_paths):
            await self.app(scope, receive, send)
            return
        try:
            session = await glue.load_session(self.policy, _cookie(scope, self.policy.cookie.name))
        except SessionStoreError as exc:
            await _answer(send, status_for_error(exc))
            return
        scope["session"] = session
        await self.app(scope, receive, _SavingSend(self, session, scope.get("scheme") == "https", send))


def get_session(request: Any) -> Session:
    """The :class:`~tornado_dynasession.Session` of a Starlette ``Request`` (or any object with the ASGI ``scope``),
    typed as such: ``request.session`` is the same object, typed by Starlette as a plain dict."""
    session = request.scope.get("session")
    if not isinstance(session, Session):
        raise RuntimeError(
            f"no session on this request ({request.scope.get('path')}): add the middleware with "
            "app.add_middleware(tornado_dynasession.asgi.SessionMiddleware, store=..., secret=...), and leave the "
            "path out of its exclude_paths"
        )
    return session


class _SavingSend:
    """The ``send`` the app gets: saves the session before the response starts, or answers the save's error."""

    def __init__(self, middleware: SessionMiddleware, session: Session, https: bool, send: Send) -> None:
        self._policy = middleware.policy
        self._session = session
        self._https = https
        self._send = send
        self._failed = False

    async def __call__(self, message: Message) -> None:
        if self._failed:
            return  # the error response went out instead: the app's body goes nowhere
        if message["type"] == "http.response.start":
            outcome = await glue.save_session(self._policy, self._session, https=self._https)
            if outcome.error is not None:
                self._failed = True
                await _answer(self._send, outcome.status)
                return
            self._policy.headers_sent(self._session)
            headers = list(message.get("headers", ()))
            _vary_on_cookie(headers)
            if outcome.cookie is not None:
                headers.append((b"set-cookie", glue.set_cookie_header(outcome.cookie).encode("latin-1")))
            message = {**message, "headers": headers}
        await self._send(message)


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            found = parse_cookie(value.decode("latin-1")).get(name)
            if found is not None:
                return found
    return None


def _vary_on_cookie(headers: list[tuple[bytes, bytes]]) -> None:
    current = [value.decode("latin-1") for key, value in headers if key.lower() == b"vary"]
    vary = glue.merged_vary(", ".join(current) if current else None)
    if vary is not None:
        headers[:] = [(key, value) for key, value in headers if key.lower() != b"vary"]
        headers.append((b"vary", vary.encode("latin-1")))


async def _answer(send: Send, status: int) -> None:
    body = glue.status_text(status).encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    headers.append((b"vary", b"Cookie"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
