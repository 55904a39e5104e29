"""aiohttp.web: :func:`setup` translates the session policy to an aiohttp.web middleware.

Install with ``setup(app, store=store, secret="...")``; a handler gets the session with
``session = await get_session(request)``, as with aiohttp-session (or ``request[SESSION_KEY]``); it is the same
:class:`~tornado_dynasession.Session` as ``self.session`` in Tornado. Named for ``aiohttp.web``, the server: the
``backend="aiohttp"`` transport of the store is another thing. Needs ``pip install "tornado_dynasession[aiohttp-web]"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .adapters import glue
from .errors import SessionStoreError
from .policy import CookieSecret, Session, SessionPolicy, status_for_error
from .store import DynamoDBStore

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler
    from multidict import CIMultiDict
    from typing_extensions import Unpack

__all__ = ["SESSION_KEY", "get_session", "setup"]


def _request_key(name: str) -> Any:
    # aiohttp's typed request key where it has one (3.14 and later, which warns about plain strings), else the name.
    request_key = getattr(web, "RequestKey", None)
    return name if request_key is None else request_key(name, object)


SESSION_KEY = _request_key("tornado_dynasession.session")
"""Where the session sits on the request: ``request[SESSION_KEY]``, or ``await get_session(request)``."""

_SAVE_KEY = _request_key("tornado_dynasession.save")


def setup(
    app: web.Application,
    *,
    store: DynamoDBStore,
    secret: CookieSecret,
    exclude_paths: Iterable[str] = (),
    **options: Unpack[glue.SessionOptions],
) -> SessionPolicy:
    """Give every request of ``app`` a session, with the same rules as the Tornado mixin; returns the policy.

    :param app: the aiohttp.web application, before it starts; a middleware is appended to ``app.middlewares``,
        so that the app's own middleware listed before it (one that trusts ``X-Forwarded-Proto``, say) run first.
    :param store: the session store.
    :param secret: the cookie signing secret, or a ``{key_version: secret}`` dict with ``key_version``. Use the same
        secret, cookie name and table as a Tornado, Sanic or ASGI service to share its users' sessions.
    :param exclude_paths: path prefixes that need no session (``("/health", "/static/")``): their requests, and
        requests that match no route, cost no store call and have no session.
    :param options: the cookie and lifetime options of :class:`~tornado_dynasession.adapters.glue.SessionOptions`
        (``max_age``, ``touch_after``, ``absolute_max_age``, ``key_version``, ``cookie_name``, ``cookie_domain``,
        ``cookie_path``, ``cookie_secure``, ``cookie_samesite``, ``cookie_persistent``, ``cookie_format``).
        ``cookie_secure=None`` sets Secure when ``request.secure``; behind a proxy, clone the request with the
        forwarded scheme first (aiohttp-remotes does).

    Hooks: the middleware loads the session before the handler runs (zero store calls without a valid signed
    cookie, else one). It makes the single write when the handler has returned its response or raised an
    ``HTTPException`` (a redirect, a 404), before the response is sent, and sets or clears the cookie on it. A
    ``StreamResponse`` the handler prepares itself is saved as it is prepared (the ``on_response_prepare`` signal),
    so that its cookie goes out with the headers; changes made after that are not saved. Every response carries
    ``Vary: Cookie``, merged with any ``Vary`` the app sets. A failed load or save raises the matching
    ``HTTPException`` (503 for an unreachable or throttling store, 409 for a locking conflict, 500 otherwise) through
    the app's middleware, and the cause is logged. Another exception from the handler leaves the session unsaved.
    """
    policy = glue.build_policy(store, secret=secret, **options)
    prefixes = glue.path_prefixes(exclude_paths)

    @web.middleware
    async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.match_info.http_exception is not None or glue.excluded(request.path, prefixes):
            return await handler(request)
        try:
            session = await glue.load_session(policy, request.cookies.get(policy.cookie.name))
        except SessionStoreError as exc:
            raise _http_error(status_for_error(exc)) from exc
        saver = _Saver(policy, session, https=request.secure)
        request[SESSION_KEY] = session
        request[_SAVE_KEY] = saver
        try:
            response = await handler(request)
        except _SaveFailed as failure:
            raise _http_error(failure.status) from failure.__cause__
        except web.HTTPException as exc:
            if not saver.done:
                await saver.save(exc.headers)
            raise
        except BaseException:
            saver.done = True  # aiohttp answers 500 outside the middleware chain: no session to save onto it
            raise
        if not saver.done:  # a StreamResponse the handler prepared was saved then (aiohttp 3.9 un-prepares it at EOF)
            await saver.save(response.headers)
        return response

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        saver = request.get(_SAVE_KEY)
        if isinstance(saver, _Saver) and not saver.done:
            await saver.save(response.headers, streaming=True)

    app.middlewares.append(sessions)
    app.on_response_prepare.append(on_prepare)
    return policy


async def get_session(request: web.Request) -> Session:
    """The request's :class:`~tornado_dynasession.Session`, loaded by the middleware :func:`setup` installs."""
    session = request.get(SESSION_KEY)
    if not isinstance(session, Session):
        raise RuntimeError(
            f"no session on this request ({request.path}): call tornado_dynasession.aiohttp_web.setup(app, ...) "
            "before the app starts, and leave the path out of its exclude_paths"
        )
    return session


class _SaveFailed(Exception):
    """Raised out of ``response.prepare()`` when a streamed response's save failed; the middleware answers it."""

    def __init__(self, outcome: glue.SaveOutcome) -> None:
        super().__init__(glue.status_text(outcome.status))
        self.status = outcome.status
        self.__cause__ = outcome.error


class _Saver:
    """Saves one request's session, once, onto the headers of the response that carries it."""

    def __init__(self, policy: SessionPolicy, session: Session, *, https: bool) -> None:
        self._policy = policy
        self._session = session
        self._https = https
        self.done = False

    async def save(self, headers: CIMultiDict[str], *, streaming: bool = False) -> None:
        self.done = True
        outcome = await glue.save_session(self._policy, self._session, https=self._https)
        if outcome.error is not None:
            if streaming:
                raise _SaveFailed(outcome)
            raise _http_error(outcome.status) from outcome.error
        self._policy.headers_sent(self._session)
        vary = glue.merged_vary(",".join(headers.getall("Vary", ())) or None)
        if vary is not None:
            headers["Vary"] = vary
        if outcome.cookie is not None:
            headers.add("Set-Cookie", glue.set_cookie_header(outcome.cookie))


def _http_error(status: int) -> web.HTTPException:
    error = {503: web.HTTPServiceUnavailable, 409: web.HTTPConflict}.get(status, web.HTTPInternalServerError)
    return error(text=glue.status_text(status), headers={"Vary": "Cookie"})
