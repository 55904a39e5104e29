"""The session and its policy, importable from their former path; they live in :mod:`tornado_dynasession.policy`."""

from .policy import (
    MERGE_ATTEMPTS,
    SUPERSEDED_GRACE_SECONDS,
    CookieClaims,
    CookieInstruction,
    CookieOptions,
    CookieSecret,
    Session,
    SessionPolicy,
    new_session_id,
    status_for_error,
    vary_on_cookie,
)

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
