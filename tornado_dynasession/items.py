"""The item mapper: a session to a DynamoDB item and back (names, keys, size, liveness), and the rules a stored
item must meet to be read as a session. One home for the store, which applies them on every read and write, and
for ``doctor``, which samples a table with them.

An item is read as a session when its ``Expires`` is a number of epoch seconds (fractional ones, as the Node
connect-dynamodb store writes, count by their whole second) no more than ten years ahead, and its ``Session`` is a
string or binary value. A *tombstone* (``Expires`` and ``Superseded``, ``LoggedOut`` or ``Emptied``, no ``Session``)
marks an id given up at login, a session ended by a logout, or one a request emptied: it keeps a late duplicate of
the write that created the session from landing (that write requires the id to be absent), and reads as no session.
An emptied session's tombstone also keeps its ``Version``, so that a request that changed the session meanwhile can
write its changes onto it.
Whether a well-formed item is live is a matter of time: ``Expires`` after now.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import math
from collections.abc import Mapping
from typing import Any

from .backends import AttributeNames, Item
from .codecs import Codec, KeyBoundCodec
from .errors import CodecError, SessionTooLargeError
from .layouts import Layout
from .records import (
    MAX_ITEM_BYTES,
    MAX_LIFETIME_SECONDS,
    Absence,
    Emptied,
    SessionInfo,
    SessionRecord,
    check_label,
    check_user_id,
)

__all__ = [
    "MAX_LIFETIME_SECONDS",
    "CorruptItem",
    "ItemFault",
    "ItemMapper",
    "expires_fault",
    "is_live_expiry",
    "is_tombstone",
    "item_fault",
    "session_fault",
]


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
    ItemFault.NO_SESSION: "without {session} (and not a tombstone)",
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
    """Whether the item is a tombstone: ``Superseded`` (a login), ``LoggedOut`` (a logout) or ``Emptied`` (a
    request deleted the session's last key), and no ``Session``."""
    return (names.superseded in item or names.logged_out in item or names.emptied in item) and names.session not in item


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
    (live or expired) or as a tombstone. The store applies the same rules with the expiry in between."""
    fault = expires_fault(item.get(names.expires), now)
    if fault is not None or is_tombstone(item, names):
        return fault
    return session_fault(item, names)


def digest(text: str) -> str:
    """The base64url SHA-256 of ``text``, without padding: how ids are stored with ``hash_ids``."""
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


class CorruptItem(Exception):
    """The item can never be served as a session; the message says why (it never quotes session data)."""


class ItemMapper:
    """A session to an item and back, for one table's naming.

    :param names: the attribute names.
    :param hash_ids: store SHA-256 digests of session and user ids rather than the ids.
    :param layout: the express-session store layout shared with, or None.
    :param codec: turns the session dict into the ``Session`` attribute and back.
    :param max_age: the lifetime in seconds written into express-session's cookie object when the session has
        none of its own.
    """

    def __init__(
        self, names: AttributeNames, *, hash_ids: bool, layout: Layout | None, codec: Codec, max_age: float
    ) -> None:
        self.names = names
        self.hash_ids = hash_ids
        self.layout = layout
        self.codec = codec
        self.max_age = max_age
        # A codec that binds what it stores to the item (EncryptedCodec) is handed the stored hash key.
        self._bound = codec if isinstance(codec, KeyBoundCodec) else None
        self._prefix = layout.key_prefix if layout is not None else ""
        self._constants: Item = dict(layout.constants) if layout is not None else {}
        self._constants_bytes = sum(len(name) + len(str(value)) for name, value in self._constants.items())

    # -- keys ------------------------------------------------------------------------------------------------

    def key_for(self, sid: str) -> str:
        """The hash key value stored for session id ``sid``: its base64url SHA-256, or ``sid`` with hash_ids=False."""
        if not isinstance(sid, str) or not sid:
            raise ValueError("a session id must be a non-empty string")
        return digest(sid) if self.hash_ids else self._prefix + sid

    def user_key_for(self, user_id: str) -> str:
        """The ``UserID`` stored for ``user_id``: its base64url SHA-256, or ``user_id`` with hash_ids=False."""
        check_user_id(user_id)
        return digest(user_id) if self.hash_ids else user_id

    # -- to an item ------------------------------------------------------------------------------------------

    def to_item(
        self,
        sid: str,
        data: Mapping[str, Any],
        *,
        expires_at: int,
        created_at: int | None = None,
        version: int | None = None,
        max_age: int | None = None,
        user_id: str | None = None,
        label: str | None = None,
        express_cookie: Mapping[str, Any] | None = None,
    ) -> Item:
        """The item for a session; :class:`SessionTooLargeError` when it would exceed DynamoDB's 400 KB, and
        :class:`CodecError` when the codec cannot encode the data."""
        names = self.names
        key = self.key_for(sid)
        if not isinstance(data, Mapping):
            raise TypeError(f"session data must be a dict, not {type(data).__name__}")
        if self.layout is not None:
            lifetime = max_age or self.max_age
            data = self.layout.with_cookie(data, express_cookie, expires_at=expires_at, max_age_seconds=lifetime)
        encoded = self._encode(key, data)
        item: Item = {names.hash_key: key, names.expires: expires_at, names.session: encoded, **self._constants}
        size = len(names.hash_key) + len(key.encode()) + len(names.expires) + len(str(expires_at))
        size += len(names.session) + self._constants_bytes
        if user_id is not None:
            user: dict[str, str | bytes] = {names.user: self.user_key_for(user_id)}
            if self.hash_ids:
                user[names.user_ref] = self._encode(key, {"id": user_id})
            checked_label = check_label(label)
            if checked_label is not None:
                user[names.label] = checked_label
            for name, value in user.items():
                size += len(name) + len(value if isinstance(value, bytes) else value.encode())
            item.update(user)
        for name, number in ((names.created, created_at), (names.version, version), (names.max_age, max_age)):
            if number is not None:
                item[name] = number
                size += len(name) + len(str(number))
        # A code point is at most 4 UTF-8 bytes: only encode to count when the session could be near the limit.
        if isinstance(encoded, bytes):
            size += len(encoded)
        elif size + 4 * len(encoded) > MAX_ITEM_BYTES:
            size += len(encoded.encode())
        else:
            size += len(encoded)
        if size > MAX_ITEM_BYTES:
            raise SessionTooLargeError(size, MAX_ITEM_BYTES)
        return item

    def tombstone(self, sid: str, until: int, *, logged_out: bool = False) -> Item:
        """The item that marks ``sid`` as given up at login, or with ``logged_out`` as ended by a logout, until
        ``until`` (epoch seconds)."""
        return self.tombstone_at(self.key_for(sid), until, logged_out=logged_out)

    def tombstone_at(self, key: str, until: int, *, logged_out: bool) -> Item:
        """:meth:`tombstone` by the stored hash key (a :class:`SessionInfo` key) rather than the session id."""
        names = self.names
        return {names.hash_key: key, names.expires: until, names.logged_out if logged_out else names.superseded: until}

    def emptied(self, sid: str, until: int, version: int, created_at: int | None) -> Item:
        """The item that marks ``sid`` as emptied by a request, at ``version``, until ``until`` (epoch seconds),
        keeping the session's creation time."""
        names = self.names
        item: Item = {names.hash_key: self.key_for(sid), names.expires: until, names.emptied: until}
        item[names.version] = version
        if created_at is not None:
            item[names.created] = created_at
        return item

    def _encode(self, key: str, data: Mapping[str, Any]) -> str | bytes:
        bound = self._bound
        return self.codec.encode(data) if bound is None else bound.encode_for(key, data)

    # -- from an item ----------------------------------------------------------------------------------------

    def to_record(self, item: Item, now: float) -> SessionRecord | Absence | Emptied:
        """The live session an item holds, or why it holds none; :class:`CorruptItem` for an item that can never
        be served (wrong attribute types, a session or user reference that does not decode)."""
        names = self.names
        stored_expiry = item.get(names.expires)
        fault = expires_fault(stored_expiry, now)
        if fault is not None:
            raise CorruptItem(f"an item {fault.describe(names)} ({names.expires}={stored_expiry!r:.40})")
        assert isinstance(stored_expiry, (int, float))
        if stored_expiry <= now:
            return Absence.EXPIRED
        if is_tombstone(item, names):
            if names.superseded in item:
                return Absence.SUPERSEDED
            if names.logged_out in item:
                return Absence.LOGGED_OUT
            version, created_at = item.get(names.version), item.get(names.created)
            if type(version) is not int:
                raise CorruptItem(f"an emptied session's {names.version} is not an integer number")
            return Emptied(version, math.floor(stored_expiry), created_at if type(created_at) is int else None)
        fault = session_fault(item, names)
        if fault is not None:
            raise CorruptItem(f"an item {fault.describe(names)}")
        raw = item[names.session]
        assert isinstance(raw, (str, bytes))
        try:
            data = self._decode(item, raw)
        except CodecError as exc:
            raise CorruptItem(str(exc)) from exc
        except Exception as exc:  # a third-party codec that breaks the protocol must not crash the request
            raise CorruptItem(f"{type(exc).__name__}: {exc}") from exc
        express_cookie = self.layout.without_cookie(data) if self.layout is not None else None
        version = item.get(names.version, 0)
        if type(version) is not int:
            raise CorruptItem(f"{names.version} is not an integer number")
        created_at, max_age, label = item.get(names.created), item.get(names.max_age), item.get(names.label)
        return SessionRecord(
            data=data,
            expires_at=math.floor(stored_expiry),  # fractional seconds, as the Node connect-dynamodb store writes
            created_at=created_at if type(created_at) is int else None,
            version=version,
            max_age=max_age if type(max_age) is int and max_age > 0 else None,
            user_id=self._user_id(item),
            label=label if isinstance(label, str) else None,
            express_cookie=express_cookie,
        )

    def _user_id(self, item: Item) -> str | None:
        names = self.names
        user_key = item.get(names.user)
        if not isinstance(user_key, str):
            return None
        if not self.hash_ids:
            return user_key
        ref = item.get(names.user_ref)
        try:
            decoded = self._decode(item, ref) if isinstance(ref, (str, bytes)) else None
            user_id = decoded.get("id") if decoded else None
        except Exception as exc:
            raise CorruptItem(f"{names.user_ref} does not decode: {type(exc).__name__}: {exc}") from exc
        if not isinstance(user_id, str) or digest(user_id) != user_key:
            raise CorruptItem(f"{names.user_ref} does not name the user of {names.user}")
        return user_id

    def _decode(self, item: Item, raw: str | bytes) -> dict[str, Any]:
        bound = self._bound
        key = item.get(self.names.hash_key)
        return self.codec.decode(raw) if bound is None or not isinstance(key, str) else bound.decode_for(key, raw)

    def to_info(self, item: Item, user_key: str, now: float) -> SessionInfo | None:
        """A user's live session as a listing shows it, from its key, expiry, creation time, label and user; None
        when it expired or now belongs to another user."""
        names = self.names
        expires, created, label = item.get(names.expires), item.get(names.created), item.get(names.label)
        if item.get(names.user) != user_key or not is_live_expiry(expires, now):
            return None
        assert isinstance(expires, (int, float))
        return SessionInfo(
            key=str(item[names.hash_key]),
            created_at=created if type(created) is int else None,
            expires_at=math.floor(expires),
            label=label if isinstance(label, str) else None,
        )

    def was_live(self, item: Item | None, now: float) -> bool:
        """Whether an item, as it was before a delete, was a live session (not a tombstone, not expired)."""
        return item is not None and self.names.session in item and is_live_expiry(item.get(self.names.expires), now)
