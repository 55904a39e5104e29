"""Tornado: :class:`SessionMixin` translates the session policy to RequestHandler hooks.

Nothing here decides anything about sessions; it only answers *when* (``prepare``, ``flush``, ``finish``) and *how*
(Tornado cookies, ``send_error``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tornado.iostream import StreamClosedError
from tornado.web import Application, HTTPError, RequestHandler

from ..errors import ConfigurationError, SessionStoreError
from ..policy import CookieInstruction, Session, SessionPolicy, status_for_error
from .glue import SessionOptions, build_policy, load_session, merged_vary, save_session

__all__ = ["SessionMixin", "policy_from_settings"]

logger = logging.getLogger("tornado_dynasession")

_POLICY_ATTRIBUTE = "_tornado_dynasession_policy"

if TYPE_CHECKING:
    _HandlerBase = RequestHandler
else:
    _HandlerBase = object


def policy_from_settings(settings: dict[str, Any]) -> SessionPolicy:
    """Build the session policy from Tornado Application settings; raises :class:`ConfigurationError` naming
    a missing or invalid setting."""
    store = settings.get("session_store")
    if store is None:
        raise ConfigurationError(
            "the session_store setting is missing: Application(..., session_store=DynamoDBStore('sessions'))"
        )
    secret = settings.get("cookie_secret")
    if not secret:
        raise ConfigurationError(
            "the cookie_secret setting is missing: Application(..., cookie_secret=<a long random string>), "
            "for example secrets.token_hex(32) kept in your secret store"
        )
    options = {name: settings[_SETTING[name]] for name in SessionOptions.__annotations__ if _SETTING[name] in settings}
    return build_policy(store, secret=secret, **options)


_SETTING = {name: name if name == "key_version" else f"session_{name}" for name in SessionOptions.__annotations__}
"""The Application setting of each adapter option: ``session_max_age`` for ``max_age``, ``key_version`` as is."""


def _policy_for(application: Application) -> SessionPolicy:
    policy: SessionPolicy | None = getattr(application, _POLICY_ATTRIBUTE, None)
    if policy is None:
        policy = policy_from_settings(application.settings)
        setattr(application, _POLICY_ATTRIBUTE, policy)
    return policy


class SessionMixin(_HandlerBase):
    """Sessions for a :class:`tornado.web.RequestHandler`: ``class Home(SessionMixin, RequestHandler)``.

    Application settings: ``session_store`` (a :class:`DynamoDBStore`, required), ``cookie_secret`` (required;
    a ``{version: secret}`` dict with ``key_version`` rotates keys), ``session_max_age`` (seconds, 300),
    ``session_touch_after`` (seconds, 0), ``session_absolute_max_age`` (seconds, None), ``session_locking``
    (False; True answers 409 to the later of two requests that changed the same key), and
    ``session_cookie_name`` ("session", or "connect.sid" with the express format), ``session_cookie_domain``,
    ``session_cookie_path`` ("/"), ``session_cookie_secure`` (None: Secure when the request came over HTTPS),
    ``session_cookie_samesite`` ("Lax"),
    ``session_cookie_persistent`` (True; False for a cookie that ends when the browser closes),
    ``session_cookie_format`` ("tornado"; "express" for express-session's signed cookie, to share sessions with an
    Express app).

    Hooks:

    - :meth:`prepare` (async) loads the session. A handler that overrides ``prepare`` must
      ``await super().prepare()`` first; ``self.session`` is usable from then on.
    - :meth:`finish` saves the session, then finishes: the single write completes before any byte of the response
      leaves. This covers returning from the handler, ``redirect()``, ``render()``, ``raise Finish``,
      ``send_error()``/``HTTPError`` and ``await self.finish()``. From the moment ``finish()`` returns, the
      handler behaves as with plain Tornado: a ``finish()``, ``redirect()`` or ``send_error()`` in ``prepare``
      stops the request (the HTTP method never runs), a later ``write()`` or ``finish()`` raises, and the
      returned future resolves once the response is sent.
    - :meth:`flush`: the first flush saves the session first, so the cookie goes out with it. Await it: if the
      save fails, the awaited flush raises the matching ``HTTPError``. After it, data changes are still saved
      at ``finish()`` (a second write), but the cookie can no longer change: ``regenerate()`` raises, and
      ``invalidate()`` deletes the record without clearing the cookie (the next request finds no session).

    Every response of the handler carries ``Vary: Cookie`` (merged with any ``Vary`` it sets), so that a shared
    cache never serves one user's page or cookie to another.

    When loading or saving fails, the client gets 503 (store unreachable or throttling), 409 (a locking
    conflict) or 500, through the application's ``write_error``, and the cause is logged. Never a hang.

    .. versionadded:: 0.1
    """

    _session: Session | None = None
    _session_finish_task: asyncio.Future[None] | None = None
    _session_flush_task: asyncio.Future[None] | None = None
    _session_flush_failure: SessionStoreError | None = None
    _session_saved: bool = False

    @property
    def session(self) -> Session:
        """The current request's :class:`Session`, loaded in :meth:`prepare`."""
        if self._session is None:
            raise RuntimeError(
                "self.session is not loaded: it is available once SessionMixin.prepare() has run. If your handler "
                "overrides prepare(), make it async and call `await super().prepare()` first."
            )
        return self._session

    @property
    def session_policy(self) -> SessionPolicy:
        """The application's :class:`SessionPolicy`, built from its settings at the first request."""
        return _policy_for(self.application)

    async def prepare(self) -> None:
        """Load the session: zero store calls without a valid signed cookie, else one GetItem."""
        policy = self.session_policy
        try:
            self._session = await load_session(policy, self.get_cookie(policy.cookie.name))
        except SessionStoreError as exc:
            raise HTTPError(status_for_error(exc)) from exc  # no log message: load_session logged the cause
        parent = super().prepare()
        if parent is not None:
            await parent

    def flush(self, include_footers: bool = False) -> asyncio.Future[None]:
        """Flush; the first flush of a response saves the session first so that its cookie goes out."""
        if not self._headers_written:
            vary = merged_vary(self._headers.get("Vary"))
            if vary is not None:
                self.set_header("Vary", vary)
        parent_flush = super().flush
        if self._session_flush_task is None and not self._session_saved and not self._headers_written:
            if self._session is not None:
                self._session_flush_task = asyncio.ensure_future(self._save_then(parent_flush, include_footers))
                return self._session_flush_task
        elif self._session_flush_task is not None and not self._session_flush_task.done():
            return asyncio.ensure_future(self._after_first_flush(parent_flush, include_footers))
        return parent_flush(include_footers)

    async def _save_then(self, parent_flush: Callable[[bool], Awaitable[None]], include_footers: bool) -> None:
        failure = await self._save_session()
        if failure is not None:
            self._session_saved = True
            self._session_flush_failure = failure
            raise HTTPError(status_for_error(failure)) from failure  # save_session logged the cause
        self.session_policy.headers_sent(self.session)
        await parent_flush(include_footers)

    async def _after_first_flush(self, parent_flush: Callable[[bool], Awaitable[None]], include_footers: bool) -> None:
        assert self._session_flush_task is not None
        await self._session_flush_task
        await parent_flush(include_footers)

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> asyncio.Future[None]:
        """Save the session, then finish the response; returns a future that resolves once it is sent.

        As with plain Tornado, the handler counts as finished as soon as this returns: a second call, or a
        ``write()``, raises, and a ``finish()`` in ``prepare`` stops the request. Only the bytes wait for the save.
        """
        if self._session is None or self._session_saved:
            return super().finish(chunk)
        if self._session_flush_task is None and not self.session_policy.has_work(self._session):
            self._session_saved = True  # a read-only request: nothing to save, so nothing to wait for
            return super().finish(chunk)
        if self._finished:
            raise RuntimeError("finish() called twice")
        if chunk is not None:
            self.write(chunk)
        # Tornado reads _finished to stop after prepare() and to refuse later writes; the task below ends the
        # response for real once the session is saved.
        self._finished = True
        self._session_finish_task = asyncio.ensure_future(self._save_then_finish())
        return self._session_finish_task

    async def _save_then_finish(self) -> None:
        failure: SessionStoreError | None = None
        if self._session_flush_task is not None:
            with contextlib.suppress(Exception):
                await self._session_flush_task
            failure = self._session_flush_failure
        if failure is None and not self._session_saved:
            failure = await self._save_session()
        self._session_saved = True
        self._finished = False  # ours to end now, through Tornado's own finish()
        if failure is not None:
            # An exception here would not reach _handle_request_exception: answer the error ourselves.
            self.send_error(status_for_error(failure), exc_info=(type(failure), failure, failure.__traceback__))
            return
        try:
            await super().finish()
        except StreamClosedError:
            logger.debug("client went away before the response was sent")

    async def _save_session(self) -> SessionStoreError | None:
        """Run the policy's save and apply its cookie; returns the store error instead of raising it."""
        session = self._session
        assert session is not None
        outcome = await save_session(self.session_policy, session, https=self.request.protocol == "https")
        if outcome.cookie is not None and not self._headers_written:
            self._apply_cookie(outcome.cookie)
        return outcome.error

    def _apply_cookie(self, cookie: CookieInstruction) -> None:
        options: dict[str, Any] = {"domain": cookie.domain, "path": cookie.path, "httponly": True}
        if cookie.secure:
            options["secure"] = True
        if cookie.samesite is not None:
            options["samesite"] = cookie.samesite
        if cookie.value is None:
            self.clear_cookie(cookie.name, **options)
        else:
            self.set_cookie(
                cookie.name, cookie.value, expires=cookie.expires_at, max_age=cookie.max_age_seconds, **options
            )
