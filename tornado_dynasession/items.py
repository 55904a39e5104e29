"""The rules a stored item must meet to be read as a session: one home for the store, which applies them on every
read, and for ``doctor``, which samples a table with them.

An item is read as a session when its ``Expires`` is a number of epoch seconds (fractional ones, as the Node
connect-dynamodb store writes, count by their whole second) no more than ten years ahead, and its ``Session`` is a
string or binary value. A *tombstone* (``Expires`` and ``Superseded``, no ``Session``) marks an id given up at login.
Whether a well-formed item is live is a matter of time: ``Expires`` after now.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping

from .backends import AttributeNames

__all__ = [
    "MAX_LIFETIME_SECONDS",
    "ItemFault",
    "expires_fault",
    "is_live_expiry",
    "is_tombstone",
    "item_fault",
    "session_fault",
]

MAX_LIFETIME_SECONDS = 10 * 366 * 86400
"""An ``Expires`` further ahead than this is corrupt (most likely written in milliseconds) and is never served."""


class ItemFault(enum.Enum):
    """Why an item can never be served as a session, whatever the time: the store reads it as corrupt."""

    NO_EXPIRES = "no_expires"
    """``Expires`` is missing or not a number."""
    NEGATIVE_EXPIRES = "negative_expires"
    """``Expires`` is a negative number."""
    EXPIRES_IN_MILLISECONDS = "expires_in_milliseconds"
    """``Expires`` is more than ten years ahead, and would be plausible divided by 1000."""
    EXPIRES_TOO_FAR = "expires_too_far"
    """``Expires`` is more than ten years ahead, even read as milliseconds."""
    NO_SESSION = "no_session"
    """No ``Session`` attribute, and not a tombstone."""
    SESSION_TYPE = "session_type"
    """``Session`` is neither a string (S) nor binary (B)."""

    def describe(self, names: AttributeNames) -> str:
        """The fault as it reads after "an item": ``with Expires in milliseconds``."""
        return _DESCRIPTIONS[self].format(expires=names.expires, session=names.session)


_DESCRIPTIONS = {
    ItemFault.NO_EXPIRES: "without {expires} as a number of epoch seconds",
    ItemFault.NEGATIVE_EXPIRES: "with a negative {expires}",
    ItemFault.EXPIRES_IN_MILLISECONDS: "with {expires} in milliseconds",
    ItemFault.EXPIRES_TOO_FAR: "with {expires} more than ten years ahead",
    ItemFault.NO_SESSION: "without {session} (and not a login tombstone)",
    ItemFault.SESSION_TYPE: "with {session} neither a string nor binary",
}


def _latest(now: float) -> float:
    return now + MAX_LIFETIME_SECONDS + 1  # + 1: writers round Expires up to a whole second


def expires_fault(stored: object, now: float) -> ItemFault | None:
    """What is wrong with a stored ``Expires`` (as the backends hand it over: int, float, or anything else), or
    None when it is a plausible number of epoch seconds; an expired one is fine here."""
    if isinstance(stored, bool) or not isinstance(stored, (int, float)):
        return ItemFault.NO_EXPIRES
    if stored < 0:
        return ItemFault.NEGATIVE_EXPIRES
    if math.floor(stored) > _latest(now):
        return ItemFault.EXPIRES_IN_MILLISECONDS if stored / 1000 <= _latest(now) else ItemFault.EXPIRES_TOO_FAR
    return None


def is_tombstone(item: Mapping[str, object], names: AttributeNames) -> bool:
    """Whether the item is a login tombstone: ``Superseded`` and no ``Session``."""
    return names.superseded in item and names.session not in item


def session_fault(item: Mapping[str, object], names: AttributeNames) -> ItemFault | None:
    """What is wrong with the item's ``Session`` attribute, or None when it is a string or binary value (whether
    it decodes is the codec's matter). A tombstone has no ``Session``: ask :func:`is_tombstone` first."""
    raw = item.get(names.session)
    if isinstance(raw, (str, bytes)):
        return None
    return ItemFault.NO_SESSION if raw is None else ItemFault.SESSION_TYPE


def is_live_expiry(stored: object, now: float) -> bool:
    """Whether a stored ``Expires`` makes its item live at ``now``: a number after now, at most ten years ahead."""
    if isinstance(stored, bool) or not isinstance(stored, (int, float)):
        return False
    return now < stored <= _latest(now)


def item_fault(item: Mapping[str, object], names: AttributeNames, now: float) -> ItemFault | None:
    """What makes the store read an item as corrupt whatever the time, or None when it reads it as a session
    (live or expired) or as a login tombstone. The store applies the same rules with the expiry in between."""
    fault = expires_fault(item.get(names.expires), now)
    if fault is not None or is_tombstone(item, names):
        return fault
    return session_fault(item, names)
