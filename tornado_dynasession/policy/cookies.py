"""The session cookie: its options, what a response does with it, and its two signed formats.

``"tornado"``: Tornado's signed value (format v2, HMAC-SHA256), carrying the session's lifetime besides its id. It
imports ``tornado.web`` for that format alone (``create_signed_value`` and ``decode_signed_value`` need no
handler), so that every adapter reads and writes the same cookie. ``"express"``: express-session's
``s:<id>.<signature>`` (:mod:`tornado_dynasession.express`), carrying the id alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tornado.web import create_signed_value, decode_signed_value

from .. import express
from ..errors import ConfigurationError
from ..express import EXPRESS_COOKIE_NAME

__all__ = [
    "CookieClaims",
    "CookieInstruction",
    "CookieOptions",
    "CookieSecret",
    "cookie_instruction",
    "read_cookie",
    "sign_cookie",
    "vary_on_cookie",
]

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
"""The shape of :func:`new_session_id`: 32 random bytes, base64url without padding."""


def vary_on_cookie(vary: str | None) -> str | None:
    """The ``Vary`` header a session response must carry, given the one the application set (None: none): the
    application's, with ``Cookie`` added. None when it already covers ``Cookie`` (or is ``*``).

    A response that depends on the session depends on the Cookie request header: without ``Vary: Cookie`` a
    shared cache could hand one user's page, or Set-Cookie, to another.
    """
    if not vary or not vary.strip():
        return "Cookie"
    fields = {field.strip().lower() for field in vary.split(",")}
    if "cookie" in fields or "*" in fields:
        return None
    return f"{vary}, Cookie"


@dataclass(frozen=True, slots=True)
class CookieOptions:
    """The session cookie's attributes. HttpOnly is always set.

    :param name: the cookie name.
    :param domain: the Domain attribute, or None for a host-only cookie.
    :param path: the Path attribute.
    :param secure: True/False to force the Secure attribute; None (the default) sets it when the request came
        over HTTPS.
    :param samesite: "Lax" (default), "Strict", "None" (which requires Secure) or None to omit it.
    :param persistent: True (default) sends Expires and Max-Age, so the browser keeps the cookie across restarts
        for the session's lifetime; False sends neither, so the cookie ends when the browser closes (the stored
        session still expires by its ``max_age``).
    :param format: ``"tornado"`` (default): Tornado's signed value, carrying the session's lifetime as well as its
        id. ``"express"``: express-session's ``s:<id>.<signature>`` (signed with the same secret as the Express
        app, in ``connect.sid`` unless ``name`` says otherwise), to share sessions with an Express app; it carries
        only the id, so each read slides the expiry, and with ``persistent`` re-sends the cookie after a GetItem
        that checks the session is still live.
    """

    name: str = ""
    """The cookie name; empty (the default) for ``session``, or ``connect.sid`` with ``format="express"``."""
    domain: str | None = None
    path: str = "/"
    secure: bool | None = None
    samesite: Literal["Lax", "Strict", "None"] | None = "Lax"
    persistent: bool = True
    format: Literal["tornado", "express"] = "tornado"

    def __post_init__(self) -> None:
        if self.format not in ("tornado", "express"):
            raise ConfigurationError(f'session cookie format must be "tornado" or "express", not {self.format!r}')
        if not self.name:
            object.__setattr__(self, "name", EXPRESS_COOKIE_NAME if self.format == "express" else "session")
        if not self.name or not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", self.name):
            raise ConfigurationError(f"session cookie name {self.name!r} is not a valid cookie name")
        if self.samesite not in ("Lax", "Strict", "None", None):
            raise ConfigurationError(
                f'session cookie samesite must be "Lax", "Strict", "None" or None, not {self.samesite!r}'
            )
        if self.samesite == "None" and self.secure is False:
            raise ConfigurationError('session cookie samesite="None" requires Secure: leave secure=None or set True')


@dataclass(frozen=True, slots=True)
class CookieInstruction:
    """What the adapter must do with the session cookie on this response.

    ``value`` is None for a cookie to clear. ``max_age_seconds`` and ``expires_at`` (epoch seconds) give its
    lifetime in the browser: one session lifetime past the stored session's expiry (at most its absolute end), so
    that slides between two sends of the cookie never leave the browser without it. Both are None for a browser
    session cookie (``CookieOptions(persistent=False)``): send neither Expires nor Max-Age.
    """

    name: str
    value: str | None
    max_age_seconds: int | None
    expires_at: int | None
    domain: str | None
    path: str
    secure: bool
    samesite: str | None
    httponly: bool = True


@dataclass(frozen=True, slots=True)
class CookieClaims:
    """What a verified session cookie says, besides the id: the session's lifetime as it was when the cookie was
    sent, so that the policy knows before any store call whether the expiry is due to move.

    :param session_id: the session id.
    :param expires_at: the stored session's ``Expires`` when the cookie was sent (epoch seconds); None for a
        cookie that carries only the id.
    :param max_age: the session's own lifetime in seconds (``session.max_age``); None for the default.
    :param absolute_end: when the absolute lifetime ends (epoch seconds); None when there is none.
    """

    session_id: str
    expires_at: int | None = None
    max_age: int | None = None
    absolute_end: int | None = None

    def payload(self) -> str:
        """The signed text: the id alone, or ``id|expires_at|max_age|absolute_end`` (empty fields for None)."""
        if self.expires_at is None:
            return self.session_id
        return "|".join((self.session_id, str(self.expires_at), _field(self.max_age), _field(self.absolute_end)))

    @classmethod
    def parse(cls, payload: str) -> CookieClaims | None:
        """The claims in a signed payload, or None when it is not one this policy wrote."""
        session_id, *fields = payload.split("|")
        if not _SESSION_ID.fullmatch(session_id):
            return None
        if not fields:
            return cls(session_id)
        if len(fields) != 3 or not fields[0].isdigit() or not all(f == "" or f.isdigit() for f in fields[1:]):
            return None
        expires_at, max_age, absolute_end = (int(f) if f else None for f in fields)
        return cls(session_id, expires_at, max_age or None, absolute_end)


def _field(value: int | None) -> str:
    return "" if value is None else str(value)


CookieSecret = str | bytes | Mapping[int, str] | Mapping[int, bytes]


def sign_cookie(options: CookieOptions, secret: CookieSecret, key_version: int | None, claims: CookieClaims) -> str:
    """The cookie value for ``claims`` in ``options.format``: Tornado's signed value v2 (HMAC-SHA256) of
    :meth:`CookieClaims.payload`, or express-session's signature of the id alone."""
    if options.format == "express":
        signing = secret[key_version or 0] if isinstance(secret, Mapping) else secret
        return express.sign(claims.session_id, signing)
    tornado_secret: Any = secret
    return create_signed_value(
        tornado_secret, options.name, claims.payload(), version=2, key_version=key_version
    ).decode()


def read_cookie(
    options: CookieOptions, secret: CookieSecret, value: str | None, *, max_age_days: float
) -> CookieClaims | None:
    """What a signed cookie value says, or None for a missing, forged, garbled or foreign one; a value signed with
    any of the listed secrets verifies. ``max_age_days`` bounds the age of a Tornado signature. No store call."""
    if not value or len(value) > 512:
        return None
    if options.format == "express":
        secrets = secret.values() if isinstance(secret, Mapping) else (secret,)
        session_id = express.unsign(value, secrets)
        return None if session_id is None else CookieClaims(session_id)
    tornado_secret: Any = secret  # a str, bytes, or the policy's dict of versions
    try:
        decoded = decode_signed_value(tornado_secret, options.name, value, max_age_days=max_age_days, min_version=2)
    except Exception:  # garbage of any kind means "no session", never a 500
        return None
    if decoded is None:
        return None
    try:
        payload = decoded.decode("ascii")
    except UnicodeDecodeError:
        return None
    return CookieClaims.parse(payload)


def cookie_instruction(
    options: CookieOptions, value: str | None, expires_at: int, now: float, https: bool
) -> CookieInstruction:
    """Set ``value`` until ``expires_at`` (epoch seconds), or clear the cookie when ``value`` is None."""
    secure = options.secure if options.secure is not None else (https or options.samesite == "None")
    browser_session = value is not None and not options.persistent
    return CookieInstruction(
        name=options.name,
        value=value,
        max_age_seconds=None if browser_session else max(1, int(expires_at - now)) if value is not None else 0,
        expires_at=None if browser_session else expires_at if value is not None else 0,
        domain=options.domain,
        path=options.path,
        secure=secure,
        samesite=options.samesite,
    )
