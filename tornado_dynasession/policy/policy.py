""":class:`SessionPolicy`: per request, at most one store call to load and one write to save, and the cookie.

The adapters translate it to their framework's hooks. Writes to an existing session are conditional on it still
being live, so a logout racing another request never brings the session back; a request whose session ended while
it ran, or whose cookie names an id a login replaced, leaves the browser's cookie alone. docs/architecture.md
follows one request through it, with the calls each outcome costs.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from tornado.web import get_signature_key_version

from .. import telemetry
from ..errors import ConfigurationError, SessionConflictError, SessionStoreError, StoreUnavailableError
from ..records import DEFAULT_MAX_AGE_SECONDS, MAX_LIFETIME_SECONDS, Absence, Emptied, SessionRecord, check_max_age
from ..store import DynamoDBStore
from .cookies import (
    CookieClaims,
    CookieInstruction,
    CookieOptions,
    CookieSecret,
    cookie_instruction,
    read_cookie,
    sign_cookie,
)
from .session import Session
from .tombstones import end_old_id

logger = logging.getLogger("tornado_dynasession")

__all__ = ["MERGE_ATTEMPTS", "SUPERSEDED_GRACE_SECONDS", "SessionPolicy", "status_for_error"]

MERGE_ATTEMPTS = 3
"""How many times a save is written when other requests keep writing the same session meanwhile; then 409."""
SUPERSEDED_GRACE_SECONDS = 60
"""How long the id that a login replaced stays recognisable (as a tombstone, at most until its own expiry): long
enough for every request that was already on its way with the old cookie to arrive."""


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
        return sign_cookie(self.cookie, self._secret, self.key_version, claims)

    def session_id_from_cookie(self, value: str | None) -> str | None:
        """The session id in a signed cookie value, or None for a missing, forged, garbled or foreign one.

        Pure computation: no store call.
        """
        claims = self.read_cookie(value)
        return None if claims is None else claims.session_id

    def read_cookie(self, value: str | None) -> CookieClaims | None:
        """What a signed cookie value says (:class:`CookieClaims`), or None for a missing, forged, garbled or
        foreign one. Pure computation: no store call."""
        return read_cookie(self.cookie, self._secret, value, max_age_days=self._signature_max_age_days)

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
                    # Ended between the two calls (a login, a logout, an emptying): whoever ended it set the cookie
                    # the browser keeps, so it is left alone, and this request's changes are not stored.
                    return self.new_session(superseded=True)
                record = dataclasses.replace(record, expires_at=wanted)
            cookie_due = self._cookie_due(claims, self._claims(session_id, record), now)
            cookie_due = cookie_due or (cookie_value is not None and self._old_key(cookie_value))
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

    def _old_key(self, cookie_value: str) -> bool:
        """Whether the cookie was signed with a key version other than ``key_version``: it is re-signed at the next
        slide, so that the old version can be dropped once the longest session lifetime has passed."""
        if self.key_version is None or self.cookie.format == "express":
            return False
        return get_signature_key_version(cookie_value) != self.key_version

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
            # Nothing left to keep: an empty session is not stored (a stored one is replaced by a tombstone).
            await self._discard_emptied(session)
        if session._drop_if_superseded():
            return None  # the cookie names an id a login just replaced: this request must not log the user out
        if session._needs_write():
            return await self._put(session, now, https)
        cookie: CookieInstruction | None = None
        if session._take_cookie_renewal():
            cookie = await self._renew_cookie(session, now, https)
        elif session._take_stale_cookie():
            cookie = cookie_instruction(self.cookie, None, 0, now, https)
        await self._retire_old_ids(session)
        return cookie

    async def _put(self, session: Session, now: float, https: bool) -> CookieInstruction | None:
        cookie_due = session._cookie_due_with_write()
        session_id = session._ensure_id()
        saved, onto_emptied = await self._write(session, session_id, now)
        # Onto a session another request emptied meanwhile: the browser may hold a newer cookie by now (a login from
        # another tab, a new session), which a re-sent one must never replace. A new lifetime is stored all the same.
        cookie_due = cookie_due and not onto_emptied
        # Whoever ended the session meanwhile set the cookie the browser keeps: leave it alone then.
        session._stored(saved)
        # The old record goes only once the new one is written: a failure in between loses nothing.
        await self._retire_old_ids(session)
        if saved is None or not cookie_due or not session._cookie_can_change():
            return None
        return self._session_cookie(session_id, saved, now, https)

    async def _write(self, session: Session, session_id: str, now: float) -> tuple[SessionRecord | None, bool]:
        """The conditional PutItem of the session; when another request wrote it meanwhile, this request's changed
        keys are merged onto the newer version and written again (a GetItem and a PutItem per round, on that path
        only). None when the session ended meanwhile: it is never brought back. Also whether the write went onto
        a session another request emptied meanwhile."""
        previous: SessionRecord | Emptied | None = session.record
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
            merged = self._merge(session, session_id, await self.store.lookup(session_id))
            if merged is None:
                return None, False
            previous, data = merged
        else:
            raise self._too_many_writers(session_id)
        if data is not session:
            dict.clear(session)
            dict.update(session, data)
        return saved, isinstance(previous, Emptied)

    async def _discard_emptied(self, session: Session) -> None:
        """The request deleted the session's last key: the stored session is replaced by an emptied tombstone,
        conditional on the version it loaded. When another request wrote it meanwhile, this request's changes are
        merged onto that version, as any write's are; whatever is left (a key added meanwhile) is then written by
        :meth:`_put`. The cookie is left alone (see :meth:`Session._discarded`)."""
        session_id, previous = session.id, session.record
        if session_id is None or previous is None:
            session.invalidate()  # never stored, or a new id: nothing to delete
            return
        for _ in range(MERGE_ATTEMPTS):
            if await self.store.discard(session_id, previous=previous):
                session._discarded()
                return
            fresh = await self.store.lookup(session_id)
            if isinstance(fresh, Emptied):
                session._discarded()  # emptied meanwhile by another request, as this one would have
                return
            merged = self._merge(session, session_id, fresh)
            if merged is None:
                session._stored(None)  # ended meanwhile: forgotten, and its cookie left alone
                return
            newer, data = merged
            assert isinstance(newer, SessionRecord)
            previous = newer
            session._reloaded(previous)
            dict.clear(session)
            dict.update(session, data)
            if data or session.user_id is not None:
                return
        raise self._too_many_writers(session_id)

    def _merge(
        self, session: Session, session_id: str, fresh: SessionRecord | Absence | Emptied
    ) -> tuple[SessionRecord | Emptied, dict[str, Any]] | None:
        """This request's changes merged onto ``fresh``, the version another request stored meanwhile; None when
        the session ended meanwhile.

        A session another request emptied counts as a version with no data, onto which only the keys this request
        changed are written, so that a key added meanwhile is kept. A request that replaces the session whole
        (``clear()``, or ``mark_modified()`` without a key) is dropped there instead, as after a logout: an app that
        signs users out by emptying the session must not see a parallel request put the old data back. Nothing is
        written when this request's changes leave the emptied session empty.
        """
        if isinstance(fresh, Emptied):
            if session._replaces_whole():
                logger.info("session change not stored: it replaced the whole session, which was emptied meanwhile")
                return None
            onto = SessionRecord({}, fresh.expires_at, fresh.created_at, fresh.version)
        elif isinstance(fresh, SessionRecord):
            onto = fresh
        else:
            return None
        try:
            data = session._merged_onto(onto, locking=self.locking, fingerprint=self.store.fingerprint(session_id))
        except SessionConflictError:
            telemetry.note_conflict(self.store)
            raise
        if isinstance(fresh, Emptied) and not data and session.user_id is None:
            return None
        telemetry.note_decision(self.store, "merged")
        return fresh, data

    def _too_many_writers(self, session_id: str) -> SessionConflictError:
        telemetry.note_conflict(self.store)
        return SessionConflictError(
            f"session {self.store.fingerprint(session_id)} was written by other requests {MERGE_ATTEMPTS} times "
            "while this request saved it; nothing of this request was stored. Retry the request."
        )

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
        return cookie_instruction(self.cookie, self.sign(claims), browser_expiry, now, https)

    async def _retire_old_ids(self, session: Session) -> None:
        await session._retire_old_ids(self._end_old_id)

    async def _end_old_id(self, old_id: str, record: SessionRecord, at_login: bool) -> None:
        until = min(record.expires_at, math.ceil(time.time() + SUPERSEDED_GRACE_SECONDS)) if at_login else None
        await end_old_id(self.store, old_id, record, until=until, attempts=MERGE_ATTEMPTS)

    def headers_sent(self, session: Session) -> None:
        """Tell the policy the response headers have left: the cookie can no longer change."""
        session._headers_sent()
