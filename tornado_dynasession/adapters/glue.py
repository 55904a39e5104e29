"""What every framework adapter does the same way, written once.

- :func:`build_policy`: the :class:`~tornado_dynasession.SessionPolicy` from an adapter's options
  (:class:`SessionOptions`), with any invalid option reported as a :class:`ConfigurationError`.
- :func:`load_session`: the load, with a failure logged once.
- :func:`save_session`: the single write; a failure of any kind, a bug included, comes back as a
  :class:`SaveOutcome` carrying the status to answer (503, 409 or 500), logged with its cause and never the session id.
- :func:`merged_vary` and :func:`set_cookie_header`: the headers a session response carries, for adapters whose
  framework has no cookie API of its own.
- :func:`path_prefixes` and :func:`excluded`: the path-prefix opt-out.

Adapters only translate these to their framework's hooks; the session rules themselves live in the policy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Literal, TypedDict

from ..errors import ConfigurationError, SessionStoreError
from ..policy import CookieInstruction, CookieOptions, CookieSecret, Session, SessionPolicy, status_for_error
from ..policy import vary_on_cookie as merged_vary
from ..store import DynamoDBStore

__all__ = [
    "SaveOutcome",
    "SessionOptions",
    "build_policy",
    "excluded",
    "load_session",
    "merged_vary",
    "path_prefixes",
    "save_session",
    "set_cookie_header",
    "status_text",
]

logger = logging.getLogger("tornado_dynasession")


class SessionOptions(TypedDict, total=False):
    """The options every adapter takes besides ``store`` and ``secret`` (all optional).

    - ``key_version``: with a ``{key_version: secret}`` dict secret, the version to sign with.
    - ``max_age``: the session lifetime in seconds, from the last request; 300.
    - ``touch_after``: skip the expiry touch when it would move the expiry by less than this many seconds; 0.
    - ``absolute_max_age``: end every session this many seconds after its creation; None for no limit.
    - ``cookie_name``: ``session``, or ``connect.sid`` with the express format.
    - ``cookie_domain``, ``cookie_path`` ("/"): the cookie's Domain and Path.
    - ``cookie_secure``: None (default) sets Secure when the request came over HTTPS.
    - ``cookie_samesite``: "Lax" (default), "Strict", "None" or None.
    - ``cookie_persistent``: True (default) sends Expires and Max-Age; False makes a cookie that ends when the
      browser closes (the stored session still expires by ``max_age``).
    - ``cookie_format``: "tornado" (default), or "express" for express-session's signed cookie, to share sessions
      with an Express app (see :class:`~tornado_dynasession.CookieOptions`).
    - ``locking``: False (default) lets the later of two requests that changed the same key win for that key; True
      answers the later one 409 instead.
    """

    key_version: int | None
    max_age: float
    touch_after: float
    absolute_max_age: float | None
    cookie_name: str | None
    cookie_domain: str | None
    cookie_path: str
    cookie_secure: bool | None
    cookie_samesite: Literal["Lax", "Strict", "None"] | None
    cookie_persistent: bool
    cookie_format: Literal["tornado", "express"]
    locking: bool


def build_policy(store: DynamoDBStore, *, secret: CookieSecret, **options: object) -> SessionPolicy:
    """The session policy for an adapter's options (:class:`SessionOptions`); raises :class:`ConfigurationError`
    naming a missing or invalid option."""
    known = SessionOptions.__annotations__
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigurationError(f"unknown session option(s) {', '.join(unknown)}; the options are {', '.join(known)}")
    cookie_name = options.pop("cookie_name", None)
    cookie = {name.removeprefix("cookie_"): options.pop(name) for name in list(options) if name.startswith("cookie_")}
    try:
        return SessionPolicy(
            store,
            secret=secret,
            cookie=CookieOptions(name=cookie_name or "", **cookie),  # type: ignore[arg-type]
            **options,  # type: ignore[arg-type]
        )
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"invalid session option: {exc}") from exc


async def load_session(policy: SessionPolicy, cookie_value: str | None) -> Session:
    """The request's session (:meth:`SessionPolicy.load`); a store failure is logged, then raised."""
    try:
        return await policy.load(cookie_value)
    except SessionStoreError as exc:
        logger.error("session load failed, answering %d: %s", status_for_error(exc), exc)
        raise


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    """What :func:`save_session` did: the cookie to apply (None: leave it alone), or the error to answer."""

    cookie: CookieInstruction | None = None
    error: SessionStoreError | None = None

    @property
    def status(self) -> int:
        """The status to answer instead of the response: 503, 409 or 500; 200 when the save succeeded."""
        return 200 if self.error is None else status_for_error(self.error)


async def save_session(policy: SessionPolicy, session: Session, *, https: bool) -> SaveOutcome:
    """Make the session's single write (:meth:`SessionPolicy.save`), never raising.

    A store failure comes back as its error (503, 409 or 500). Any other exception is a bug, in the application
    (a codec, say) or here; it comes back as a 500 error with the exception chained as its cause, and its traceback
    is logged. The log names no session id, and the response an adapter builds from the outcome carries none.
    """
    try:
        return SaveOutcome(cookie=await policy.save(session, https=https))
    except SessionStoreError as exc:
        logger.error("session save failed, answering %d: %s", status_for_error(exc), exc)
        return SaveOutcome(error=exc)
    except Exception as exc:  # a bug must still produce a response, never a hung or half-sent one
        logger.exception("session save failed unexpectedly, answering 500")
        error = SessionStoreError(f"session save failed: {type(exc).__name__}")
        error.__cause__ = exc
        return SaveOutcome(error=error)


def status_text(status: int) -> str:
    """The body of an error response an adapter writes itself: ``"503 Service Unavailable"``."""
    return f"{status} {HTTPStatus(status).phrase}"


def set_cookie_header(cookie: CookieInstruction) -> str:
    """The ``Set-Cookie`` header value that sets (or, with ``cookie.value`` None, clears) the session cookie."""
    cleared = cookie.value is None
    parts = [f"{cookie.name}={'' if cleared else cookie.value}", f"Path={cookie.path}"]
    if cookie.domain:
        parts.append(f"Domain={cookie.domain}")
    if cleared:
        parts += ["Max-Age=0", "Expires=Thu, 01 Jan 1970 00:00:00 GMT"]
    else:
        if cookie.max_age_seconds is not None:
            parts.append(f"Max-Age={cookie.max_age_seconds}")
        if cookie.expires_at is not None:
            parts.append(f"Expires={formatdate(cookie.expires_at, usegmt=True)}")
    if cookie.secure:
        parts.append("Secure")
    if cookie.httponly:
        parts.append("HttpOnly")
    if cookie.samesite is not None:
        parts.append(f"SameSite={cookie.samesite}")
    return "; ".join(parts)


def path_prefixes(exclude_paths: str | Iterable[str]) -> tuple[str, ...]:
    """An adapter's ``exclude_paths`` option as a tuple of prefixes (one string is one prefix)."""
    return (exclude_paths,) if isinstance(exclude_paths, str) else tuple(exclude_paths)


def excluded(path: str, prefixes: tuple[str, ...]) -> bool:
    """Whether a request for ``path`` opted out of sessions: it starts with one of ``prefixes``."""
    return path.startswith(prefixes)
