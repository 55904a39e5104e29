"""The session policy: what a request loads, its single write, and its cookie, whatever the framework.

``session`` holds the per-request :class:`Session`, ``cookies`` the cookie and its two signed formats,
``policy`` the :class:`SessionPolicy` that the adapters call.
"""

from .cookies import CookieClaims, CookieInstruction, CookieOptions, CookieSecret, vary_on_cookie
from .policy import MERGE_ATTEMPTS, SUPERSEDED_GRACE_SECONDS, SessionPolicy, status_for_error
from .session import Session, new_session_id

__all__ = [
    "MERGE_ATTEMPTS",
    "SUPERSEDED_GRACE_SECONDS",
    "CookieClaims",
    "CookieInstruction",
    "CookieOptions",
    "CookieSecret",
    "Session",
    "SessionPolicy",
    "new_session_id",
    "status_for_error",
    "vary_on_cookie",
]
