"""express-session interop, the cookie side: its signed cookie value.

An Express app (express-session with a DynamoDB store) and a Tornado or Sanic app share sessions when both read the
same items (:data:`~tornado_dynasession.layouts.LAYOUTS`) and the same cookie (``cookie_format="express"``). This
module holds the cookie side: the ``cookie-signature`` package's format, ``s:<id>.<base64 HMAC-SHA256 of the id,
without padding>``, URL-encoded in the Cookie header as express's cookie serializer does. The item side (the
presets, and the cookie object express-session requires in every session it loads) is in
:mod:`tornado_dynasession.layouts`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Iterable

__all__ = ["EXPRESS_COOKIE_NAME", "sign", "unsign"]

EXPRESS_COOKIE_NAME = "connect.sid"
"""express-session's default cookie name."""

_ID = re.compile(r"[A-Za-z0-9_-]{16,128}")
"""Session ids we look up from an express cookie: express-session's own (uid-safe, 32 characters), ours (43), or
another generator's of that alphabet. Anything else is no session; an id is only ever adopted when it is found live
in the table."""


def _mac(secret: str | bytes, session_id: str) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, session_id.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode().rstrip("=")


def sign(session_id: str, secret: str | bytes) -> str:
    """The cookie value express-session sends for ``session_id``, URL-encoded as in its Set-Cookie header."""
    return urllib.parse.quote(f"s:{session_id}.{_mac(secret, session_id)}", safe="!~*'()")


def unsign(value: str, secrets: Iterable[str | bytes]) -> str | None:
    """The session id in an express-session cookie value (URL-encoded or not), or None when it is not one, or its
    signature matches none of ``secrets`` (compared in constant time). Pure computation."""
    text = urllib.parse.unquote(value) if "%" in value else value
    if not text.startswith("s:"):
        return None
    session_id, dot, signature = text[2:].rpartition(".")
    if not dot or not _ID.fullmatch(session_id):
        return None
    found = False
    for secret in secrets:  # every secret is tried, so the time taken does not tell which one matched
        found |= hmac.compare_digest(_mac(secret, session_id).encode(), signature.encode("utf-8", "replace"))
    return session_id if found else None
