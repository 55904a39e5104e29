"""Sanic: :class:`Sessions` translates the session policy to Sanic's request/response middleware.

Install with ``Sessions(app, store=store, secret="...")``; the session is ``request.ctx.session``, the same
:class:`~tornado_dynasession.Session` as ``self.session`` in Tornado.
Needs ``pip install "tornado_dynasession[sanic]"``.
"""

from __future__ import annotations

import inspect
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sanic.exceptions import SanicException

from ..errors import SessionStoreError
from ..policy import CookieInstruction, CookieSecret, status_for_error
from ..store import DynamoDBStore
from .glue import SessionOptions, build_policy, load_session, merged_vary, save_session

if TYPE_CHECKING:
    from sanic import Request, Sanic
    from sanic.response import BaseHTTPResponse
    from typing_extensions import Unpack

__all__ = ["Sessions"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

LOAD_PRIORITY = 1_000_000
"""The session loads before any request middleware of a lower priority (Sanic runs the highest first)."""

SAVE_PRIORITY = 1_000_000
"""The session saves after every response middleware of a lower priority (Sanic runs the lowest first), so that
a change they make to ``request.ctx.session`` is stored."""


class Sessions:
    """Sessions for a Sanic app, with the same rules as the Tornado mixin.

    :param app: the Sanic app; middleware is registered on it at once.
    :param store: the session store.
    :param secret: the cookie signing secret, or a ``{key_version: secret}`` dict with ``key_version``. Use the same
        secret, cookie name and table as a Tornado service to share its users' sessions.
    :param options: the cookie and lifetime options of :class:`~tornado_dynasession.adapters.glue.SessionOptions`
        (``max_age``, ``touch_after``, ``absolute_max_age``, ``key_version``, ``cookie_name``, ``cookie_domain``,
        ``cookie_path``, ``cookie_secure``, ``cookie_samesite``, ``cookie_persistent``, ``cookie_format``).
        ``cookie_secure=None`` sets Secure when ``request.scheme`` is https, which behind a proxy needs Sanic's
        ``PROXIES_COUNT`` or ``FORWARDED_SECRET``.

    Routes that need no session (health checks, static files) opt out with ``ctx_sessions=False``, as in
    ``@app.get("/health", ctx_sessions=False)``: they cost no store call and have no ``request.ctx.session``.

    Hooks: a request middleware loads the session (zero store calls without a valid signed cookie, else one
    GetItem) before the app's own request middleware run (priority :data:`LOAD_PRIORITY`); a response middleware
    makes the single write and sets or clears the cookie after the app's own response middleware had their say
    (priority :data:`SAVE_PRIORITY`), before the response goes out. Every response of a session-enabled route
    carries ``Vary: Cookie``, merged with any ``Vary`` the app sets. A failed load or save answers 503 (store
    unreachable or throttling), 409 (locking conflict) or 500 through the app's error handler. Streaming
    (``await request.respond()``): the session is saved and its cookie sent when the response starts, because
    ``respond()`` runs the response middleware; changes made after that are not saved.
    """

    def __init__(
        self,
        app: Sanic[Any, Any],
        *,
        store: DynamoDBStore,
        secret: CookieSecret,
        **options: Unpack[SessionOptions],
    ) -> None:
        self.policy = build_policy(store, secret=secret, **options)
        app.ctx.sessions = self
        app.on_request(self._load, priority=LOAD_PRIORITY)
        app.on_response(self._save, priority=SAVE_PRIORITY)  # type: ignore[no-untyped-call]

    @staticmethod
    def _enabled(request: Request) -> bool:
        # No route (404), or a route declared with ctx_sessions=False: no session, no store call.
        route = request.route
        return route is not None and getattr(route.ctx, "sessions", True) is not False

    async def _load(self, request: Request) -> None:
        if not self._enabled(request):
            return
        try:
            request.ctx.session = await load_session(self.policy, request.cookies.get(self.policy.cookie.name))
        except SessionStoreError as exc:
            # quiet: the line above says it all; Sanic would log a traceback per request all through an outage.
            raise SanicException(status_code=status_for_error(exc), quiet=True) from exc

    async def _save(self, request: Request, response: BaseHTTPResponse) -> BaseHTTPResponse | None:
        if not self._enabled(request):
            return None
        _vary_on_cookie(response)
        session = getattr(request.ctx, "session", None)
        if session is None:
            return None
        outcome = await save_session(self.policy, session, https=request.scheme == "https")
        if outcome.error is not None:
            error = SanicException(status_code=outcome.status, quiet=True)
            error.__cause__ = outcome.error
            answer = request.app.error_handler.response(request, error)  # type: ignore[no-untyped-call]
            error_response: BaseHTTPResponse = await answer if inspect.isawaitable(answer) else answer
            _vary_on_cookie(error_response)
            return error_response
        self.policy.headers_sent(session)
        if outcome.cookie is not None:
            _apply_cookie(response, outcome.cookie)
        return None


def _browser_expiry(expires_at: int | None) -> datetime | None:
    return None if expires_at is None else datetime.fromtimestamp(expires_at, timezone.utc)


def _vary_on_cookie(response: BaseHTTPResponse) -> None:
    vary = merged_vary(response.headers.get("vary"))
    if vary is not None:
        response.headers["vary"] = vary


def _apply_cookie(response: BaseHTTPResponse, cookie: CookieInstruction) -> None:
    cleared = cookie.value is None
    response.add_cookie(
        cookie.name,
        "" if cleared else cookie.value,  # type: ignore[arg-type]
        path=cookie.path,
        domain=cookie.domain,
        secure=cookie.secure,
        max_age=0 if cleared else cookie.max_age_seconds,
        expires=_EPOCH if cleared else _browser_expiry(cookie.expires_at),
        httponly=True,
        samesite=cookie.samesite,  # type: ignore[arg-type]
    )
