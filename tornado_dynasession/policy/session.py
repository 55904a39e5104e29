"""The current request's :class:`Session`: a ``dict`` plus the per-request state the policy asks it about."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..errors import ConfigurationError, SessionConflictError
from ..records import DEFAULT_MAX_AGE_SECONDS, SessionRecord, check_label, check_max_age, check_user_id
from ..store import DynamoDBStore

logger = logging.getLogger("tornado_dynasession")

__all__ = ["Session", "new_session_id"]

_ABSENT = object()


def new_session_id() -> str:
    """A fresh session id: 256 random bits from :mod:`secrets`, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


class Session(dict[str, Any]):
    """The current request's session: a ``dict`` plus a little state.

    Assigning, deleting, ``update()``, ``pop()``, ``popitem()`` and ``setdefault()`` mark it modified, and record
    which top-level keys this request changed: when another request wrote the same session meanwhile, only those
    keys are applied onto its newer version, so parallel requests that change different keys both land.
    ``clear()`` changes the whole session. A change inside a nested value (``session["cart"].append(x)``) is not
    seen: call ``mark_modified("cart")`` after it.
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        session_id: str | None = None,
        record: SessionRecord | None = None,
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        stale_cookie: bool = False,
        superseded: bool = False,
        cookie_due: bool = False,
        base: Mapping[str, Any] | None = None,
        store: DynamoDBStore | None = None,
    ) -> None:
        super().__init__(data or {})
        self._id = session_id
        self._record = record
        self._store = store
        self._user_id = None if record is None else record.user_id
        self._label = None if record is None else record.label
        self._user_changed = False
        self._max_age = max_age
        self._modified = False
        self._changed_keys: set[str] = set()  # top-level keys this request set or deleted
        self._whole = False  # the request replaced the whole session (clear(), or mark_modified() without a key)
        self._base = base  # with locking: the data as loaded, to tell a key changed by another request meanwhile
        self._max_age_changed = False
        # Ids to end once this session is saved: (id, its record, True at a login / False at a logout).
        self._retired: list[tuple[str, SessionRecord, bool]] = []
        self._stale_cookie = stale_cookie
        self._superseded = superseded
        # The load slid Expires and the cookie's lifetime needs renewing: re-send it, if the session is still live.
        self._cookie_due = cookie_due
        self._cookie_sent = False

    # -- state ------------------------------------------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The session id, or None until the session has one (a new session gets it when first saved)."""
        return self._id

    @property
    def is_new(self) -> bool:
        """True when the session is not (yet) stored: a new visitor, or after :meth:`invalidate`."""
        return self._record is None

    @property
    def modified(self) -> bool:
        """True when the data changed (or :meth:`mark_modified` / :meth:`regenerate` was called)."""
        return self._modified

    @property
    def max_age(self) -> float:
        """This session's lifetime in seconds, measured from the last request (sliding expiration).

        Settable: ``session.max_age = 30 * 86400`` for a "remember me" session. The new lifetime is stored with
        the session and applies to every later request too.
        """
        return self._max_age

    @max_age.setter
    def max_age(self, seconds: float) -> None:
        self._max_age = check_max_age(seconds, "session.max_age")
        self._max_age_changed = True

    @property
    def user_id(self) -> str | None:
        """The user this session belongs to, or None; settable (at login: ``session.user_id = str(user.id)``).

        Setting it puts the session in the store's user index, so that :meth:`DynamoDBStore.list_sessions` lists
        it and :meth:`DynamoDBStore.revoke_user` can end it ("sign out everywhere"); None takes it out. It is
        stored with the session (with ``hash_ids``, the index holds only its SHA-256 digest) and survives
        :meth:`regenerate`. Needs ``DynamoDBStore(user_index=...)``: without it, setting it is a
        :class:`ConfigurationError`.
        """
        return self._user_id

    @user_id.setter
    def user_id(self, user_id: str | None) -> None:
        if user_id is not None:
            check_user_id(user_id, "session.user_id")
            self._require_user_index("session.user_id")
        if user_id != self._user_id:
            self._user_id = user_id
            self._user_changed = self._modified = True

    @property
    def label(self) -> str | None:
        """A short description of this session for the user's list of sessions ("Firefox on Linux"), or None;
        settable, stored beside :attr:`user_id` (at most 512 characters)."""
        return self._label

    @label.setter
    def label(self, label: str | None) -> None:
        label = check_label(label)
        if label is not None:
            self._require_user_index("session.label")
        if label != self._label:
            self._label = label
            self._user_changed = self._modified = True

    def _require_user_index(self, what: str) -> None:
        if self._store is None:
            raise ConfigurationError(f"{what} needs a session made by a SessionPolicy, whose store has a user index")
        self._store.require_user_index(what)

    @property
    def record(self) -> SessionRecord | None:
        """The stored record this session was loaded from (or last saved as), or None."""
        return self._record

    # -- explicit actions -------------------------------------------------------------------------------------

    def mark_modified(self, key: str | None = None) -> None:
        """Mark the session changed, for nested changes: ``mark_modified("cart")`` after
        ``session["cart"].append(x)``. Without a key, the whole session counts as changed: a concurrent request's
        changes to other keys are then overwritten (or, with locking, a conflict)."""
        self._modified = True
        if key is None:
            self._whole = True
        else:
            self._changed_keys.add(key)

    def regenerate(self) -> None:
        """Give the session a new id, keeping its data; the old record is destroyed when the session is saved.

        Call it at login, so that an id fixed by an attacker before login is worthless after it.
        """
        if self._cookie_sent:
            raise RuntimeError(
                "session.regenerate() after the response headers were flushed: the new cookie can no longer be "
                "sent. Call regenerate() before the first flush()."
            )
        if self._id is not None and self._record is not None:
            self._retired.append((self._id, self._record, True))
        self._id = new_session_id()
        self._record = None
        self._superseded = False  # a login on a superseded cookie stores its new session like any other
        self._modified = True

    def invalidate(self) -> None:
        """End the stored session and clear the cookie, at the end of the request. Call it at logout.

        The stored session is replaced by a short-lived tombstone (:meth:`DynamoDBStore.log_out`), which reads as
        no session: nothing, not even a late retry of the write that created it, can bring it back. With a shared
        ``layout`` the item is deleted instead.

        The mapping is emptied and the session becomes new: data set afterwards starts a fresh session with a new
        id (for a "you are logged out" message, say).
        """
        if self._id is not None and self._record is not None:
            self._retired.append((self._id, self._record, False))
        self._stale_cookie = self._stale_cookie or self._id is not None
        self._id = None
        self._record = None
        self._user_id = self._label = None
        dict.clear(self)
        self._saved()

    # -- dict mutators mark the session modified ----------------------------------------------------------------

    def _changed(self, key: str) -> None:
        self._modified = True
        self._changed_keys.add(key)

    def _saved(self) -> None:
        """The stored session now matches this one: nothing is pending."""
        self._modified = False
        self._changed_keys.clear()
        self._whole = False
        self._user_changed = False

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed(key)

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed(key)

    def clear(self) -> None:
        """Remove all items (marks the whole session modified)."""
        if self:
            self._modified = True
            self._whole = True
        super().clear()

    def pop(self, key: str, *default: Any) -> Any:
        """Remove ``key`` and return its value (marks it modified when it was present)."""
        if key in self:
            self._changed(key)
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        """Remove and return an item (marks its key modified)."""
        item = super().popitem()
        self._changed(item[0])
        return item

    def setdefault(self, key: str, default: Any = None) -> Any:
        """``dict.setdefault`` (marks ``key`` modified when it was missing)."""
        if key not in self:
            self._changed(key)
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        """``dict.update`` (marks each key it sets modified)."""
        changes = dict(*args, **kwargs)
        super().update(changes)
        self._modified = True
        self._changed_keys.update(changes)

    def __ior__(self, other: Any) -> Session:  # type: ignore[override,misc]
        self.update(other)
        return self

    # -- the session policy's bookkeeping (the state above is read and changed only through these) -------------

    def _has_work(self) -> bool:
        """Whether the end of the request has anything to store, or a cookie to set, renew or clear."""
        return bool(
            self._modified
            or self._max_age_changed
            or self._cookie_due
            or self._retired
            or (self._stale_cookie and not self._cookie_sent)
        )

    def _needs_write(self) -> bool:
        """Whether the item must be written: changed data, or a new lifetime (stored as ``MaxAge``)."""
        return self._modified or self._max_age_changed

    def _drop_if_superseded(self) -> bool:
        """True when the cookie names an id a login replaced meanwhile: nothing of this request is stored."""
        if self._superseded and self._modified:
            logger.info("session change not stored: the request's cookie was superseded by a login meanwhile")
            self._saved()
        return self._superseded

    def _cookie_due_with_write(self) -> bool:
        """Whether the write must send the cookie: a new session or a new id, a new lifetime, or a renewal due
        since the load. Not otherwise: a cookie re-sent by a write racing a login could arrive after the login's
        and send the browser back to the id the login replaced."""
        return self._record is None or self._max_age_changed or self._cookie_due

    def _discarded(self) -> None:
        """The stored session was emptied (by this request, or by another meanwhile): it becomes new, and the cookie
        is left alone. A parallel request of the same browser may still write a key it added onto the emptied
        session, under that id; clearing the cookie here could arrive after that request's answer. A later
        request that finds the session empty clears the cookie then, in the call it makes anyway."""
        stale = self._stale_cookie
        self._record = None  # ended already: nothing left to retire
        self.invalidate()
        self._stale_cookie = stale
        self._max_age_changed = False  # an empty session is not stored, whatever lifetime it was given

    def _replaces_whole(self) -> bool:
        """Whether the request replaced the session whole (``clear()``, or ``mark_modified()`` without a key)."""
        return self._whole

    def _ensure_id(self) -> str:
        """The session id, given now to a new session that is about to be stored."""
        if self._id is None:
            self._id = new_session_id()
        return self._id

    def _stored(self, record: SessionRecord | None) -> None:
        """The write is done: ``record`` is what the table holds, or None when the session ended meanwhile."""
        self._saved()
        self._max_age_changed = self._cookie_due = False
        self._reloaded(record)

    def _reloaded(self, record: SessionRecord | None) -> None:
        """``record`` is what the table holds now; None when the session was destroyed (a logout), expired, or
        superseded (a login) while this request ran: it is forgotten, never brought back, and its cookie left
        alone (whoever ended the session set the one the browser keeps)."""
        self._record = record
        if record is None:
            self._id = None

    async def _retire_old_ids(self, end: Callable[[str, SessionRecord, bool], Awaitable[None]]) -> None:
        """End the ids this session gave up (``end(id, record as read, at_login)``), each forgotten once it is
        ended: a failure leaves the rest for the next attempt."""
        while self._retired:
            await end(*self._retired[0])
            self._retired.pop(0)

    def _headers_sent(self) -> None:
        self._cookie_sent = True

    def _cookie_can_change(self) -> bool:
        return not self._cookie_sent

    def _take_cookie_renewal(self) -> bool:
        """Whether the cookie is due to be re-sent and still can be (once per request)."""
        due, self._cookie_due = self._cookie_due, False
        return due and not self._cookie_sent and self._record is not None and self._id is not None

    def _take_stale_cookie(self) -> bool:
        """Whether the browser's cookie names no session any more and must be cleared (once per request)."""
        stale = self._record is None and self._stale_cookie and not self._cookie_sent
        self._stale_cookie = self._stale_cookie and not stale
        return stale

    def _merged_onto(self, fresh: SessionRecord, *, locking: bool, fingerprint: str) -> dict[str, Any]:
        """This request's changes applied onto ``fresh``, the version another request wrote meanwhile; the user
        follows ``fresh`` unless this request set it. With ``locking``, a key both changed is a conflict."""
        if not self._user_changed:  # another request may have signed the session in (or out) meanwhile
            self._user_id, self._label = fresh.user_id, fresh.label
        if self._whole:
            if locking:
                raise SessionConflictError(
                    f"session {fingerprint} was changed by another request while this one replaced it whole "
                    "(clear(), or mark_modified() without a key); nothing was written. Retry."
                )
            return dict(self)
        merged = dict(fresh.data)
        base = self._base or {}
        for key in self._changed_keys:
            if locking and fresh.data.get(key, _ABSENT) != base.get(key, _ABSENT):
                raise SessionConflictError(
                    f"session key {key!r} was changed by another request while this one changed it too; nothing "
                    "was written. Retry the request."
                )
            if key in self:
                merged[key] = self[key]
            else:
                merged.pop(key, None)
        return merged

    def __repr__(self) -> str:
        state = "new" if self.is_new else "stored"
        return f"<Session {state}{' modified' if self._modified else ''} {dict.__repr__(self)}>"
