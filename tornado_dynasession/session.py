"""The Session mapping and the per-request policy, which no framework adapter's rules leak into.

It imports ``tornado.web`` for one thing only, the signed-cookie format (``create_signed_value`` and
``decode_signed_value`` work without a handler), so that every adapter reads and writes the same cookie. The
adapters (``tornado_dynasession.adapters``, ``asgi``, ``aiohttp_web``) only translate this policy to their hooks.
Per request:

- **load** (:meth:`SessionPolicy.load`), at most one call: no cookie, or one that fails signature verification,
  costs none. The signed cookie carries the session's lifetime as it was when the cookie was sent, so the policy
  knows before any call whether the expiry is due to move: if it is (always with ``touch_after=0``), one
  conditional UpdateItem slides ``Expires`` and returns the session; if not, one GetItem.
- **save** (:meth:`SessionPolicy.save`), decided at the end of the request, makes at most one write:

  ===========================  ===============================================  ==================
  state                        DynamoDB                                         cookie
  ===========================  ===============================================  ==================
  modified or regenerated      one conditional PutItem (+ a conditional PutItem set
                               of the old id's tombstone after a regenerate)
  existing, unmodified         nothing (the load already slid the expiry; a     renewed once per
                               GetItem checks it is still live before the       lifetime (or per
                               cookie is renewed)                               slide: touch_after)
  new, unmodified              nothing                                          nothing
  emptied (no keys left)       one DeleteItem (nothing for a new session)       cleared (if any)
  invalidated                  one DeleteItem                                   cleared
  ===========================  ===============================================  ==================

Writes to an existing session are conditional on it still being live, so a logout racing another request never
brings the session back. A request whose session vanished while it ran (a logout, an expiry, or a login that gave
the session a new id) leaves the browser's cookie alone: the request that ended the session already set the cookie
the browser should keep. A request that arrives with a cookie whose id a login has just replaced (a *superseded*
id, see :meth:`DynamoDBStore.supersede`) gets an empty session that it may read but not store, and its response
neither clears nor replaces the cookie, so that it cannot log the user out.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tornado.web import create_signed_value, decode_signed_value

from . import express, telemetry
from .errors import (
    ConfigurationError,
    SessionConflictError,
    SessionStoreError,
    StoreUnavailableError,
)
from .express import EXPRESS_COOKIE_NAME
from .records import (
    DEFAULT_MAX_AGE_SECONDS,
    MAX_LIFETIME_SECONDS,
    Absence,
    SessionRecord,
    check_label,
    check_max_age,
    check_user_id,
)
from .store import DynamoDBStore

logger = logging.getLogger("tornado_dynasession")

__all__ = [
    "CookieInstruction",
    "CookieOptions",
    "Session",
    "SessionPolicy",
    "new_session_id",
    "status_for_error",
    "vary_on_cookie",
]

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
"""The shape of :func:`new_session_id`: 32 random bytes, base64url without padding."""


MERGE_ATTEMPTS = 3
"""How many times a save is written when other requests keep writing the same session meanwhile; then 409."""

_ABSENT = object()

SUPERSEDED_GRACE_SECONDS = 60
"""How long the id that a login replaced stays recognisable (as a tombstone, at most until its own expiry): long
enough for every request that was already on its way with the old cookie to arrive."""


def new_session_id() -> str:
    """A fresh session id: 256 random bits from :mod:`secrets`, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def status_for_error(exc: SessionStoreError) -> int:
    """The HTTP status an adapter answers when loading or saving failed with ``exc``.

    503 for an unreachable or throttling store (retry later), 409 for an optimistic-locking conflict, 500 for
    anything else (an oversize session, an encode failure, a misconfigured table).
    """
    if isinstance(exc, StoreUnavailableError):
        return 503
    if isinstance(exc, SessionConflictError):
        return 409
    return 500


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
        # Ids to end once this session is saved: (id, None) to destroy, (id, expires_at) to supersede.
        self._retired: list[tuple[str, int | None]] = []
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
            self._retired.append((self._id, self._record.expires_at))
        self._id = new_session_id()
        self._record = None
        self._superseded = False  # a login on a superseded cookie stores its new session like any other
        self._modified = True

    def invalidate(self) -> None:
        """Destroy the stored session and clear the cookie, at the end of the request. Call it at logout.

        The mapping is emptied and the session becomes new: data set afterwards starts a fresh session with a new
        id (for a "you are logged out" message, say).
        """
        if self._id is not None and self._record is not None:
            self._retired.append((self._id, None))
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

    async def _retire_old_ids(self, end: Callable[[str, int | None], Awaitable[None]]) -> None:
        """End the ids this session gave up (``end(id, superseded_until)``), each forgotten once it is ended: a
        failure leaves the rest for the next attempt."""
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
        cookie that carries only the id (written by an earlier version).
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


class SessionPolicy:
    """Everything a framework adapter needs, decided once: load, the single write, the cookie, id rotation.

    :param store: the session store.
    :param secret: the cookie signing secret, or a ``{key_version: secret}`` dict (Tornado's rotation scheme).
    :param key_version: with a dict ``secret``: the version to sign with; cookies signed with any listed version
        verify.
    :param max_age: the default session lifetime in seconds, from the last request (sliding expiration).
    :param touch_after: read with a GetItem, without moving the expiry, when the move would be less than this many
        seconds since the cookie was last sent; 0 slides the expiry on every request. Either way a read is one
        call: a strongly consistent GetItem costs a read unit per started 4 KB, a slide a write unit per started
        KB, and a write unit costs five read units.
    :param absolute_max_age: end every session this many seconds after its creation, whatever the activity; None
        for no absolute limit.
    :param cookie: the cookie's attributes.
    :param locking: how two requests that changed the same key of one session are settled: by default the later
        write wins for that key; with ``locking=True`` the later request gets :class:`SessionConflictError` (409).
        Changes to different keys are merged either way.
    """

    def __init__(
        self,
        store: DynamoDBStore,
        *,
        secret: CookieSecret,
        key_version: int | None = None,
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        touch_after: float = 0,
        absolute_max_age: float | None = None,
        cookie: CookieOptions | None = None,
        locking: bool = False,
    ) -> None:
        if not isinstance(store, DynamoDBStore):
            raise ConfigurationError(f"the session store must be a DynamoDBStore, not {type(store).__name__}")
        if not secret:
            raise ConfigurationError("the cookie secret is empty: use a long random string, e.g. secrets.token_hex(32)")
        if isinstance(secret, Mapping):
            if key_version is None or key_version not in secret:
                raise ConfigurationError(
                    f"cookie_secret is a dict of versions {sorted(secret)}: set key_version to the one to sign with"
                )
            self._secret: str | bytes | dict[int, str] | dict[int, bytes] = dict(secret)  # type: ignore[assignment]
        else:
            self._secret = secret
        self.store = store
        self.key_version = key_version
        self.max_age = check_max_age(max_age, "session max_age")
        if isinstance(touch_after, bool) or not isinstance(touch_after, (int, float)) or touch_after < 0:
            raise ConfigurationError(f"session touch_after must be a number of seconds >= 0, not {touch_after!r}")
        self.touch_after = touch_after
        self.absolute_max_age = (
            None if absolute_max_age is None else check_max_age(absolute_max_age, "session absolute_max_age")
        )
        self.cookie = cookie or CookieOptions()
        self.locking = locking
        # What ends a session is the stored item's Expires, whatever lifetime session.max_age gave it (up to the
        # ten-year maximum): the signature's own age limit must never end one first.
        self._signature_max_age_days = MAX_LIFETIME_SECONDS / 86400 + 1

    # -- the cookie ---------------------------------------------------------------------------------------------

    def sign(self, session_id: str | CookieClaims) -> str:
        """The cookie value for a session id, or for the id and its lifetime (:class:`CookieClaims`): Tornado's
        signed-value format v2 (HMAC-SHA256), or with ``CookieOptions(format="express")`` express-session's (the
        id alone)."""
        claims = session_id if isinstance(session_id, CookieClaims) else CookieClaims(session_id)
        if self.cookie.format == "express":
            secret = self._secret if not isinstance(self._secret, dict) else self._secret[self.key_version or 0]
            return express.sign(claims.session_id, secret)
        return create_signed_value(
            self._secret, self.cookie.name, claims.payload(), version=2, key_version=self.key_version
        ).decode()

    def session_id_from_cookie(self, value: str | None) -> str | None:
        """The session id in a signed cookie value, or None for a missing, forged, garbled or foreign one.

        Pure computation: no store call.
        """
        claims = self.read_cookie(value)
        return None if claims is None else claims.session_id

    def read_cookie(self, value: str | None) -> CookieClaims | None:
        """What a signed cookie value says (:class:`CookieClaims`), or None for a missing, forged, garbled or
        foreign one. Pure computation: no store call."""
        if not value or len(value) > 512:
            return None
        if self.cookie.format == "express":
            secrets = self._secret.values() if isinstance(self._secret, dict) else (self._secret,)
            session_id = express.unsign(value, secrets)
            return None if session_id is None else CookieClaims(session_id)
        try:
            decoded = decode_signed_value(
                self._secret, self.cookie.name, value, max_age_days=self._signature_max_age_days, min_version=2
            )
        except Exception:  # garbage of any kind means "no session", never a 500
            return None
        if decoded is None:
            return None
        try:
            payload = decoded.decode("ascii")
        except UnicodeDecodeError:
            return None
        return CookieClaims.parse(payload)

    def _cookie(self, value: str | None, expires_at: int, now: float, https: bool) -> CookieInstruction:
        options = self.cookie
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

    # -- load ---------------------------------------------------------------------------------------------------

    def new_session(self, *, stale_cookie: bool = False, superseded: bool = False) -> Session:
        """An empty, new session (no store call)."""
        return Session(max_age=self.max_age, stale_cookie=stale_cookie, superseded=superseded, store=self.store)

    async def load(self, cookie_value: str | None) -> Session:
        """The session for a request carrying ``cookie_value``, in at most one store call.

        - No cookie, or one that fails signature verification: zero calls, a new session.
        - A valid cookie whose expiry is due to move (always with ``touch_after=0``): one conditional
          UpdateItem that slides ``Expires`` and returns the session (:meth:`DynamoDBStore.lookup` with
          ``refresh_to``). The cookie tells the session's lifetime, so the new expiry is known before the call.
        - A valid cookie whose touch is not yet due: one GetItem.

        A missing, expired or corrupt stored session gives a new session, and its cookie is cleared at the end of
        the request; a superseded one (the id a login replaced) gives a new session that is not stored unless it
        is regenerated, and the cookie is left alone. Raises :class:`SessionStoreError` (for example
        :class:`StoreUnavailableError`) when the store fails.
        """
        claims = self.read_cookie(cookie_value)
        if claims is None:
            return self.new_session()
        now = time.time()
        absolute_end = claims.absolute_end if self.absolute_max_age is not None else None
        if absolute_end is not None and absolute_end <= now:
            return self.new_session(stale_cookie=True)
        target = math.ceil(now + (claims.max_age or self.max_age))
        if absolute_end is not None:
            target = min(target, absolute_end)
        due = claims.expires_at is None or target - claims.expires_at >= self.touch_after
        if due and absolute_end is not None and claims.expires_at == target == absolute_end:
            due = False  # pinned at the absolute end: there is nothing left to slide
        session_id = claims.session_id
        if not due:
            telemetry.note_decision(self.store, "touch_skipped")
        found = await self.store.lookup(session_id, refresh_to=target if due else None)
        if found is Absence.SUPERSEDED:
            return self.new_session(superseded=True)
        if not isinstance(found, SessionRecord) or self._absolute_end(found) <= now:
            return self.new_session(stale_cookie=True)
        record = found
        cookie_due = False
        if due:
            wanted = self._expires_at(now, record.max_age or self.max_age, record.created_at)
            if wanted != record.expires_at:
                # The cookie's lifetime was out of date (a cookie from before it carried one, or session.max_age
                # changed meanwhile): a second call, once, puts the expiry where the stored lifetime says.
                if not await self.store.touch(session_id, expires_at=wanted):
                    return self.new_session(stale_cookie=True)
                record = dataclasses.replace(record, expires_at=wanted)
            cookie_due = self._cookie_due(claims, self._claims(session_id, record), now)
        return Session(
            record.data,
            session_id=session_id,
            record=record,
            max_age=record.max_age if record.max_age is not None else self.max_age,
            cookie_due=cookie_due,
            # With locking, a conflict on a key is told from the data as loaded; nested values may change in place.
            base=copy.deepcopy(record.data) if self.locking else None,
            store=self.store,
        )

    def _cookie_due(self, sent: CookieClaims, current: CookieClaims, now: float) -> bool:
        """Whether a request that slid the expiry must re-send the cookie.

        Not on every slide: a re-send at the end of a request may replace a newer cookie (a login that finished
        meanwhile), so it is verified with a GetItem first, and kept rare. The browser keeps the cookie one
        lifetime past the expiry it was sent with, so with ``touch_after=0`` it needs renewing once per lifetime;
        with ``touch_after`` the cookie must tell each slide, or every later request would slide again; and it
        must tell a lifetime that changed.
        """
        if self.cookie.format == "express":  # the cookie tells no lifetime: renew it at each slide, if it has one
            return self.cookie.persistent
        return (
            self.touch_after > 0
            or sent.expires_at is None
            or now >= sent.expires_at
            or (sent.max_age, sent.absolute_end) != (current.max_age, current.absolute_end)
        )

    def _absolute_end(self, record: SessionRecord) -> float:
        if self.absolute_max_age is None or record.created_at is None:
            return math.inf
        return record.created_at + self.absolute_max_age

    def _claims(self, session_id: str, record: SessionRecord) -> CookieClaims:
        absolute_end = self._absolute_end(record)
        return CookieClaims(
            session_id,
            expires_at=record.expires_at,
            max_age=record.max_age,
            absolute_end=None if absolute_end == math.inf else int(absolute_end),
        )

    def _expires_at(self, now: float, max_age: float, created_at: int | None) -> int:
        expires_at = math.ceil(now + max_age)
        if self.absolute_max_age is not None and created_at is not None:
            expires_at = min(expires_at, int(created_at + self.absolute_max_age))
        return expires_at

    # -- save ---------------------------------------------------------------------------------------------------

    def has_work(self, session: Session) -> bool:
        """Whether :meth:`save` has anything to do for ``session``: a write, a cookie to set, renew or clear.

        False for the common read-only request (its one call was the load): an adapter may then end the response
        at once, without awaiting :meth:`save`.
        """
        return session._has_work()

    async def save(self, session: Session, *, https: bool) -> CookieInstruction | None:
        """Make the session's single write, and say what to do with the cookie (None: leave it alone).

        Call it once at the end of the request, before any byte of the response leaves; an adapter that flushes
        early calls it at the first flush and again at the end (a second write happens only if the session
        changed in between; the cookie can then no longer change). Raises :class:`SessionStoreError` when the
        store fails; the session is then unchanged in the store (a failed PutItem writes nothing).
        """
        if not self.has_work(session):
            return None
        now = time.time()
        if session.modified and not session and session.user_id is None:
            # Nothing left to keep: an empty session is not stored (a stored one is destroyed, its cookie cleared).
            session.invalidate()
        if session._drop_if_superseded():
            return None  # the cookie names an id a login just replaced: this request must not log the user out
        if session._needs_write():
            return await self._put(session, now, https)
        cookie: CookieInstruction | None = None
        if session._take_cookie_renewal():
            cookie = await self._renew_cookie(session, now, https)
        elif session._take_stale_cookie():
            cookie = self._cookie(None, 0, now, https)
        await self._retire_old_ids(session)
        return cookie

    async def _put(self, session: Session, now: float, https: bool) -> CookieInstruction | None:
        session_id = session._ensure_id()
        saved = await self._write(session, session_id, now)
        # Whoever ended the session meanwhile set the cookie the browser keeps: leave it alone then.
        session._stored(saved)
        # The old record goes only once the new one is written: a failure in between loses nothing.
        await self._retire_old_ids(session)
        if saved is None or not session._cookie_can_change():
            return None
        return self._session_cookie(session_id, saved, now, https)

    async def _write(self, session: Session, session_id: str, now: float) -> SessionRecord | None:
        """The conditional PutItem of the session; when another request wrote it meanwhile, this request's changed
        keys are merged onto the newer version and written again (a GetItem and a PutItem per round, on that path
        only). None when the session ended meanwhile: it is never brought back."""
        previous = session.record
        data: Mapping[str, Any] = session
        # A shared layout stores the lifetime always: express-session renews a session by its cookie's maxAge.
        shared = self.store.layout is not None
        own_max_age = None if session.max_age == self.max_age and not shared else math.ceil(session.max_age)
        for _ in range(MERGE_ATTEMPTS):
            created_at = previous.created_at if previous is not None and previous.created_at else int(now)
            saved = await self.store.save(
                session_id,
                data,
                expires_at=self._expires_at(now, session.max_age, created_at),
                created_at=created_at,
                max_age=own_max_age,
                previous=previous,
                user_id=session.user_id,
                label=session.label,
            )
            if saved is not None or previous is None:
                break
            fresh = await self.store.lookup(session_id)
            if not isinstance(fresh, SessionRecord):
                return None
            try:
                data = session._merged_onto(fresh, locking=self.locking, fingerprint=self.store.fingerprint(session_id))
            except SessionConflictError:
                telemetry.note_conflict(self.store)
                raise
            previous = fresh
            telemetry.note_decision(self.store, "merged")
        else:
            telemetry.note_conflict(self.store)
            raise SessionConflictError(
                f"session {self.store.fingerprint(session_id)} was written by other requests {MERGE_ATTEMPTS} times "
                "while this request saved it; nothing of this request was stored. Retry the request."
            )
        if data is not session:
            dict.clear(session)
            dict.update(session, data)
        return saved

    async def _renew_cookie(self, session: Session, now: float, https: bool) -> CookieInstruction | None:
        # One GetItem: a login may have superseded the session since the load, and re-sending the old id's cookie
        # would then log the user out.
        session_id = session.id
        assert session_id is not None  # a renewal is due only for a stored session
        current = await self.store.lookup(session_id)
        session._reloaded(current if isinstance(current, SessionRecord) else None)
        return self._session_cookie(session_id, current, now, https) if isinstance(current, SessionRecord) else None

    def _session_cookie(self, session_id: str, record: SessionRecord, now: float, https: bool) -> CookieInstruction:
        claims = self._claims(session_id, record)
        browser_expiry = record.expires_at + math.ceil(record.max_age or self.max_age)
        if claims.absolute_end is not None:
            browser_expiry = min(browser_expiry, claims.absolute_end)
        browser_expiry = min(browser_expiry, math.ceil(now + MAX_LIFETIME_SECONDS))
        return self._cookie(self.sign(claims), browser_expiry, now, https)

    async def _retire_old_ids(self, session: Session) -> None:
        await session._retire_old_ids(self._end_old_id)

    async def _end_old_id(self, old_id: str, superseded_until: int | None) -> None:
        if superseded_until is None:
            await self.store.destroy(old_id)
        else:
            until = min(superseded_until, math.ceil(time.time() + SUPERSEDED_GRACE_SECONDS))
            await self.store.supersede(old_id, until=until)

    def headers_sent(self, session: Session) -> None:
        """Tell the policy the response headers have left: the cookie can no longer change."""
        session._headers_sent()
