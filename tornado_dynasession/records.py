"""What the store hands back and takes in, without DynamoDB: a session record, a user's session listing, why no
session was found, and the limits every value the store writes is checked against."""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_MAX_AGE_SECONDS",
    "MAX_ITEM_BYTES",
    "MAX_LABEL_CHARACTERS",
    "MAX_LIFETIME_SECONDS",
    "MAX_USER_ID_BYTES",
    "Absence",
    "Emptied",
    "SessionInfo",
    "SessionRecord",
    "check_expires_at",
    "check_label",
    "check_max_age",
    "check_user_id",
    "expires_at_for",
    "read_outcome",
]

DEFAULT_MAX_AGE_SECONDS = 300
"""The default session lifetime: 5 minutes, as in the Node store."""

MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB's item size limit, attribute names included."""

MAX_LIFETIME_SECONDS = 10 * 366 * 86400
"""The longest lifetime: an ``Expires`` further ahead is corrupt (most likely written in milliseconds)."""

MAX_LABEL_CHARACTERS = 512
"""The longest ``session.label`` (a device description such as a User-Agent fits)."""

MAX_USER_ID_BYTES = 1024
"""The longest user id, in UTF-8 bytes (DynamoDB allows index keys of up to 2048)."""


def check_max_age(max_age: float, what: str = "max_age") -> float:
    """Validate a lifetime in seconds: positive, finite and at most ten years."""
    if isinstance(max_age, bool) or not isinstance(max_age, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(max_age).__name__}")
    if not (0 < max_age <= MAX_LIFETIME_SECONDS):
        raise ValueError(f"{what} must be a number of seconds in (0, {MAX_LIFETIME_SECONDS}], got {max_age!r}")
    return max_age


def check_expires_at(expires_at: int, now: float, what: str = "expires_at") -> int:
    """Validate an expiry to write: whole epoch seconds, after ``now`` and at most ten years ahead."""
    if isinstance(expires_at, bool) or not isinstance(expires_at, int):
        raise TypeError(f"{what} must be whole epoch seconds (int), not {type(expires_at).__name__}")
    if not (now < expires_at <= now + MAX_LIFETIME_SECONDS + 1):
        raise ValueError(
            f"{what}={expires_at} is not in the next ten years of epoch seconds (now is {int(now)}; milliseconds?)"
        )
    return expires_at


def check_user_id(user_id: object, what: str = "user_id") -> str:
    """Validate a user id: a non-empty string of at most :data:`MAX_USER_ID_BYTES` UTF-8 bytes."""
    if not isinstance(user_id, str) or not user_id:
        raise TypeError(f"{what} must be a non-empty string (str(user.id), say), not {user_id!r:.60}")
    size = len(user_id.encode())
    if size > MAX_USER_ID_BYTES:
        raise ValueError(f"{what} is {size} bytes of UTF-8; at most {MAX_USER_ID_BYTES}")
    return user_id


def check_label(label: object) -> str | None:
    """Validate a session label: None, or a string of at most :data:`MAX_LABEL_CHARACTERS` characters."""
    if label is None:
        return None
    if not isinstance(label, str):
        raise TypeError(f"session.label must be a string or None, not {type(label).__name__}")
    if len(label) > MAX_LABEL_CHARACTERS:
        raise ValueError(f"session.label is {len(label)} characters; at most {MAX_LABEL_CHARACTERS}: shorten it")
    return label or None


def expires_at_for(max_age_seconds: float, now: float | None = None) -> int:
    """The integer epoch second at which a lifetime of ``max_age_seconds`` starting ``now`` ends (rounded up)."""
    return math.ceil((time.time() if now is None else now) + max_age_seconds)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A live session as loaded from the table.

    :param data: the decoded session.
    :param expires_at: the item's ``Expires``, integer epoch seconds.
    :param created_at: the item's ``Created``, integer epoch seconds, or None for items written without it.
    :param version: the item's ``Version`` (0 when the item has none).
    :param max_age: the session's own lifetime in seconds (``MaxAge``), when it was saved with one.
    :param user_id: the user the session belongs to (``session.user_id``), or None.
    :param label: the session's label for listings (``session.label``), or None.
    :param express_cookie: with an express layout, the ``cookie`` object express-session keeps in the session
        (hidden from ``data``, and written back in step with the expiry).
    """

    data: dict[str, Any]
    expires_at: int
    created_at: int | None = None
    version: int | None = None
    max_age: int | None = None
    user_id: str | None = None
    label: str | None = None
    express_cookie: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One of a user's live sessions, as :meth:`DynamoDBStore.list_sessions` lists them: never its data or its id.

    :param key: the stored hash key, an opaque handle for :meth:`DynamoDBStore.revoke` (with ``hash_ids``, a
        digest from which the session id cannot be recovered). ``store.key_for(session.id)`` tells the current
        session's.
    :param created_at: when the session was created (epoch seconds), or None for one stored without it.
    :param expires_at: when it expires unless used again (epoch seconds).
    :param label: its label (``session.label``), or None.
    """

    key: str
    created_at: int | None
    expires_at: int
    label: str | None


class Absence(enum.Enum):
    """Why :meth:`DynamoDBStore.lookup` found no live session."""

    MISSING = "missing"
    """No item under that key: never stored, destroyed, or deleted by TTL."""
    EXPIRED = "expired"
    """The item's ``Expires`` has passed (TTL deletes such items only lazily)."""
    CORRUPT = "corrupt"
    """The item is not in the expected layout, or its session does not decode; a warning is logged."""
    SUPERSEDED = "superseded"
    """The id was given up for a new one at login (:meth:`DynamoDBStore.supersede`) and has not yet expired."""
    LOGGED_OUT = "logged_out"
    """The session was ended by a logout (:meth:`DynamoDBStore.log_out`) a short while ago. The session policy
    treats it as missing. A refresh reports it as :attr:`MISSING` where the server returns no item with a failed
    condition (dynalite)."""


@dataclass(frozen=True, slots=True)
class Emptied:
    """What :meth:`DynamoDBStore.lookup` finds where a request emptied the session a short while ago
    (:meth:`DynamoDBStore.discard`): no session to load, and a load treats it as missing. A request that changed
    the session meanwhile writes its changes onto it instead (:meth:`DynamoDBStore.save` with ``previous`` this),
    as it would onto any newer version, so that a key another tab added is not lost to the emptying.

    Not an :class:`Absence`: a write needs the version the emptying left.

    :param version: the version the emptying left, which such a write must find.
    :param expires_at: when the marker expires (epoch seconds); a session emptied longer ago reads as missing.
    :param created_at: when the session was created (epoch seconds), kept so that a write onto it keeps the
        session's absolute lifetime; None for a session stored without it.
    """

    version: int
    expires_at: int
    created_at: int | None = None


def read_outcome(found: SessionRecord | Absence | Emptied | dict[str, Any] | bool | None) -> str:
    """How a read ended, for telemetry: ``hit``, ``miss`` (nothing stored, or not live), ``emptied``, or the
    :class:`Absence` (``expired``, ``corrupt``, ``superseded``, ``logged_out``) when the read knows it."""
    if isinstance(found, Emptied):
        return "emptied"
    if isinstance(found, Absence):
        return "miss" if found is Absence.MISSING else found.value
    return "miss" if found is None or found is False else "hit"
