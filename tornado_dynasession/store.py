"""DynamoDBStore: one session is one DynamoDB item, read and written in one call each.

The store composes the pieces that each own one concern: :mod:`~tornado_dynasession.items` maps sessions to items
and back (names, keys, size, liveness), :mod:`~tornado_dynasession.layouts` holds the express-session presets,
:mod:`~tornado_dynasession.users` the user index, :mod:`~tornado_dynasession.records` what the store returns, and
:mod:`~tornado_dynasession.backends` the wire layer. What is left here: the options, the client's lifecycle, and
each call's condition.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import math
import os
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .backends import AttributeNames, Backend, ClientOptions, Condition, Item
from .backends.factory import TRANSPORT_NAMES, TransportName, open_transport, transport_for_client, transport_name
from .backends.transport import Transport
from .backends.wire import WireBackend
from .codecs import Codec, OrjsonCodec
from .errors import ConfigurationError, SessionConflictError
from .items import CorruptItem, ItemMapper
from .layouts import Layout, LayoutName, resolve_naming
from .records import (
    DEFAULT_MAX_AGE_SECONDS,
    MAX_LIFETIME_SECONDS,
    Absence,
    Emptied,
    SessionInfo,
    SessionRecord,
    check_expires_at,
    check_max_age,
    expires_at_for,
    read_outcome,
)
from .telemetry import StoreTelemetry, Telemetry, telemetry_for, traced
from .users import UserIndex

if TYPE_CHECKING:
    from aiodynamo.client import Client as AiodynamoClient
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["BACKEND_NAMES", "DynamoDBStore", "endpoint_from_env"]

logger = logging.getLogger("tornado_dynasession")

BACKEND_NAMES = TRANSPORT_NAMES
"""The backends ``DynamoDBStore(backend=...)`` accepts by name."""


def endpoint_from_env() -> str | None:
    """The ``DYNAMODB_ENDPOINT`` environment variable, or None when unset or empty."""
    return os.environ.get("DYNAMODB_ENDPOINT") or None


class DynamoDBStore:
    """An async DynamoDB session store: one item per session, sliding expiry, never serves an expired item.

    Either the store creates and closes its own client (``backend``, ``endpoint_url``, ``options``), or you pass
    one you own as ``client=``.

    :param table: the table name. The store never creates it: see ``python -m tornado_dynasession create-table``.
    :param client: an aiobotocore DynamoDB client, or an aiodynamo ``Client``, that the caller owns and closes.
    :param backend: ``"aiobotocore"`` (the default), ``"aiodynamo"`` (``pip install
        "tornado_dynasession[aiodynamo]"``) or ``"aiohttp"`` (signs its own requests over one keep-alive session,
        the least CPU per call); or a ready :class:`~tornado_dynasession.backends.Backend`, instead of ``client``.
        A name that disagrees with ``client`` is a ValueError.
    :param endpoint_url: where DynamoDB is; defaults to ``$DYNAMODB_ENDPOINT``, then AWS. On a loopback endpoint
        without AWS credentials in the environment, dummy credentials are used.
    :param options: the store's own client's region, timeouts, retries and pool size (:class:`ClientOptions`).
    :param names: the item's attribute names (:class:`AttributeNames`); the defaults are ``SessionID``,
        ``Expires``, ``Session``, ``Created``, ``Version``...
    :param layout: share the table with an express-session store: ``"express-dynamodb"`` (``{SessionID, Expires,
        Session}``), ``"connect-dynamodb"`` (``{id: "sess:<id>", expires, type, sess}``), or a :class:`Layout`.
        The preset supplies the hash key, expiry and session names and ``hash_ids=False``; ``names`` or
        ``hash_ids`` that contradict it are a ValueError. Pair it with ``cookie_format="express"`` in the adapter.
    :param hash_ids: store SHA-256 digests of session ids, so a leaked table holds no live tokens; True by default,
        False with a ``layout``.
    :param codec: turns the session dict into the ``Session`` attribute; :class:`OrjsonCodec` by default.
    :param max_age: the lifetime in seconds of :meth:`set` and :meth:`refresh` when they are given none; 300.
        (The session policy has its own, per session: the adapters' ``max_age`` option.)
    :param consistent_read: strongly consistent reads (a logout is never undone by a stale read).
    :param user_index: the name of the table's user index (``create-table --user-index``), for
        ``session.user_id``, :meth:`list_sessions`, :meth:`revoke` and :meth:`revoke_user`; None turns them off.
    :param telemetry: OpenTelemetry spans and metrics per call: True (the default) uses the global providers
        when opentelemetry-api is installed; a :class:`~tornado_dynasession.telemetry.Telemetry` names them; False
        turns them off.
    """

    def __init__(
        self,
        table: str,
        *,
        client: DynamoDBClient | AiodynamoClient | None = None,
        backend: Backend | TransportName | None = None,
        endpoint_url: str | None = None,
        options: ClientOptions | None = None,
        names: AttributeNames | None = None,
        layout: Layout | LayoutName | None = None,
        hash_ids: bool | None = None,
        codec: Codec | None = None,
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        consistent_read: bool = True,
        user_index: str | None = None,
        telemetry: Telemetry | bool = True,
    ) -> None:
        if not table:
            raise ValueError("table must be a table name")
        if options is not None and not isinstance(options, ClientOptions):
            raise TypeError(f"options must be a ClientOptions, not {type(options).__name__}")
        self.table = table
        self.layout, self.names, self.hash_ids = resolve_naming(layout, names, hash_ids)
        self.endpoint_url = endpoint_url or endpoint_from_env()
        self.options = options or ClientOptions()
        """The store's own client's options (a ``client=`` passed in keeps its own)."""
        self.codec: Codec = codec if codec is not None else OrjsonCodec()
        self.max_age = check_max_age(max_age)
        self.consistent_read = consistent_read
        self.user_index = user_index or None
        self.items = ItemMapper(
            self.names, hash_ids=self.hash_ids, layout=self.layout, codec=self.codec, max_age=max_age
        )
        """The item mapper: sessions to items and back."""
        attempts = self.options.max_attempts + 2
        self.users = UserIndex(
            table,
            user_index or None,
            self.items,
            consistent_read=consistent_read,
            batch_attempts=attempts,
            tombstone_seconds=None if self.layout is not None else self.logout_tombstone_seconds,
        )
        """The user index (:mod:`~tornado_dynasession.users`)."""
        self.telemetry: StoreTelemetry | None = telemetry_for(self, telemetry)
        """Where the store's spans and metrics go, or None when telemetry is off."""
        self._open_lock = asyncio.Lock()
        self._backend: Backend | None = None
        self._backend_pid = os.getpid()  # the process whose connection pool _backend holds
        self.backend_name: TransportName = transport_name(backend if isinstance(backend, str) else None, client)
        """The client the store speaks through: ``"aiobotocore"``, ``"aiodynamo"`` or ``"aiohttp"``."""
        if backend is not None and not isinstance(backend, str):
            self._backend = backend
        elif client is not None:
            self._backend = self._wire(transport_for_client(client, self.endpoint_url))

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the store's own client, if it has none yet. Called for you on first use.

        A client belongs to the process that created it: a store used in a fork of that process (a child of
        ``fork_processes``, a forked worker) raises :class:`ConfigurationError` at once. Create or open the store in
        each process, after the fork.
        """
        async with self._open_lock:
            if self._backend is None:
                self._backend_pid = os.getpid()
                transport = await open_transport(self.backend_name, self.options, endpoint_url=self.endpoint_url)
                self._backend = self._wire(transport)

    def _wire(self, transport: Transport) -> Backend:
        if self.telemetry is not None:
            transport = self.telemetry.metered(transport)
        return WireBackend(transport, self.table, self.names)

    async def close(self) -> None:
        """Close the client the store created; a caller-owned client is left open."""
        backend, self._backend = self._backend, None
        if backend is not None:
            await backend.close()

    async def __aenter__(self) -> DynamoDBStore:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _ready(self) -> Backend:
        if self._backend is None:
            await self.open()
        elif self._backend_pid != os.getpid():
            raise ConfigurationError(
                f"this DynamoDBStore's client was created in process {self._backend_pid} and is used in process "
                f"{os.getpid()}, a fork of it: a connection pool cannot be shared between processes. Create the "
                "store, or open it, in each process after the fork: after tornado.process.fork_processes(), or in "
                "Sanic's before_server_start listener"
            )
        assert self._backend is not None
        return self._backend

    # -- keys ------------------------------------------------------------------------------------------------

    def key_for(self, sid: str) -> str:
        """The hash key value stored for session id ``sid``: its base64url SHA-256, or ``sid`` with hash_ids=False."""
        return self.items.key_for(sid)

    def user_key_for(self, user_id: str) -> str:
        """The ``UserID`` stored for ``user_id``: its base64url SHA-256, or ``user_id`` with hash_ids=False."""
        return self.items.user_key_for(user_id)

    def require_user_index(self, what: str) -> str:
        """The user index name; a :class:`ConfigurationError` naming the option and the command when unset."""
        return self.users.require(what)

    @staticmethod
    def fingerprint(sid: str) -> str:
        """A short, non-reversible tag for logs: raw session ids never appear in log lines."""
        return hashlib.sha256(sid.encode()).hexdigest()[:12]

    # -- reads: one primitive, lookup; the others say what they return ----------------------------------------

    @traced("lookup", read_outcome)
    async def lookup(self, sid: str, *, refresh_to: int | None = None) -> SessionRecord | Absence | Emptied:
        """The live session, or why there is none (an :class:`Absence`, or :class:`Emptied` for a session a request
        emptied a short while ago), in one call.

        Without ``refresh_to``, one GetItem. With it, one conditional UpdateItem that moves ``Expires`` of a live
        session to ``refresh_to`` (epoch seconds) on the way, and never creates, resurrects or extends a missing,
        expired or malformed item. A refresh tells a missing item from an expired or corrupt one only where the
        server returns the item with a failed condition (DynamoDB, moto); elsewhere (dynalite) all three are
        :attr:`Absence.MISSING`.
        """
        key = self.key_for(sid)
        backend = await self._ready()
        if refresh_to is None:
            item = await backend.get(key, consistent_read=self.consistent_read)
            return Absence.MISSING if item is None else self._record(item, sid, time.time())
        now = time.time()
        refreshed, item = await backend.refresh(key, refresh_to, now=now, latest=int(now) + MAX_LIFETIME_SECONDS + 1)
        if item is None:
            return Absence.MISSING
        found = self._record(item, sid, time.time())  # the item as it was before the call
        if not refreshed:
            if isinstance(found, SessionRecord):
                return self._corrupt(sid, "the item failed the live-session condition (attribute types)")
            return found
        if isinstance(found, SessionRecord):
            return dataclasses.replace(found, expires_at=refresh_to)
        if found is Absence.CORRUPT:
            # Only what DynamoDB cannot check (a Session that does not decode) gets here: put the expiry back, so
            # that a corrupt item is never extended. One more call, on this path only.
            before = item[self.names.expires]
            if isinstance(before, (int, float)):
                await backend.update_expires(key, math.ceil(before), Condition(live_after=now))
        return found

    @traced("load", read_outcome)
    async def load(self, sid: str) -> SessionRecord | None:
        """One GetItem: the live session's record, or None (:meth:`lookup` says why)."""
        return _live(await self.lookup(sid))

    @traced("get", read_outcome)
    async def get(self, sid: str) -> dict[str, Any] | None:
        """One GetItem: the live session's data alone, or None."""
        found = _live(await self.lookup(sid))
        return None if found is None else found.data

    @traced("refresh", read_outcome)
    async def refresh(
        self, sid: str, max_age: float | None = None, *, expires_at: int | None = None
    ) -> SessionRecord | None:
        """One conditional UpdateItem that slides a live session's ``Expires`` to now + ``max_age`` seconds (the
        store's by default), or to ``expires_at``: the session's record as it then is, or None when none is live.

        DynamoDB bills one write unit per started KB of the item, and nothing for the item it returns."""
        now = time.time()
        if expires_at is None:
            expires_at = expires_at_for(self.max_age if max_age is None else check_max_age(max_age), now)
        return _live(await self.lookup(sid, refresh_to=check_expires_at(expires_at, now)))

    @traced("touch", read_outcome)
    async def touch(self, sid: str, max_age: float | None = None, *, expires_at: int | None = None) -> bool:
        """:meth:`refresh`, answering only whether a live session's ``Expires`` moved."""
        return await self.refresh(sid, max_age, expires_at=expires_at) is not None

    def _record(self, item: Item, sid: str, now: float) -> SessionRecord | Absence | Emptied:
        try:
            return self.items.to_record(item, now)
        except CorruptItem as exc:
            return self._corrupt(sid, str(exc))

    def _corrupt(self, sid: str, why: str) -> Absence:
        logger.warning(
            "session %s in table %r is corrupt and treated as absent: %s", self.fingerprint(sid), self.table, why
        )
        return Absence.CORRUPT

    # -- writes: set overwrites blindly, save is the policy's conditional write --------------------------------

    @traced("set", lambda _: "written")
    async def set(self, sid: str, data: Mapping[str, Any], max_age: float | None = None) -> None:
        """One unconditional PutItem of the whole session, expiring ``max_age`` seconds from now: for scripts and
        tests that seed a session. It overwrites whatever the id holds, writes no version, creation time or user,
        and is never what the session policy calls (that is :meth:`save`).

        Raises :class:`SessionTooLargeError` before any network call when the item would exceed 400 KB, and
        :class:`CodecError` naming the type the codec cannot encode; nothing is written then.
        """
        lifetime = self.max_age if max_age is None else check_max_age(max_age)
        await (await self._ready()).put(self.items.to_item(sid, data, expires_at=expires_at_for(lifetime)), None)

    @traced("save", lambda saved: "condition_failed" if saved is None else "written")
    async def save(
        self,
        sid: str,
        data: Mapping[str, Any],
        *,
        expires_at: int,
        created_at: int | None = None,
        max_age: int | None = None,
        previous: SessionRecord | Emptied | None = None,
        user_id: str | None = None,
        label: str | None = None,
    ) -> SessionRecord | None:
        """One conditional PutItem: the write the session policy makes for a new or modified session.

        With ``previous`` None the id must be new (a taken id raises :class:`SessionConflictError`); with a
        :class:`SessionRecord` the stored session must still be live and at ``previous.version``; with
        :class:`Emptied` it must still be that emptied session. The session gets the next version. Returns the new
        record, or None when the condition failed (another request wrote or ended the session; nothing is written).
        ``created_at``, ``max_age``, ``user_id`` and ``label`` are stored when given (a user needs ``user_index``).
        """
        if user_id is not None:
            self.require_user_index("session.user_id")
        label = label if user_id else None
        express_cookie = previous.express_cookie if isinstance(previous, SessionRecord) else None
        version = 1 if previous is None else (previous.version or 0) + 1
        item = self.items.to_item(
            sid,
            data,
            expires_at=expires_at,
            created_at=created_at,
            version=version,
            max_age=max_age,
            user_id=user_id,
            label=label,
            express_cookie=express_cookie,
        )
        if not await self._put(item, self._unchanged_since(previous)):
            if previous is None:
                raise SessionConflictError(
                    f"session id {self.fingerprint(sid)} is already taken; nothing was written. Use a new id."
                )
            return None
        return SessionRecord(dict(data), expires_at, created_at, version, max_age, user_id, label, express_cookie)

    @staticmethod
    def _unchanged_since(previous: SessionRecord | Emptied | None) -> Condition:
        """The condition of a write that must find the id as ``previous`` left it: absent, the live session at
        its version, or the emptied session at its version."""
        if previous is None:
            return Condition(absent=True)
        if isinstance(previous, Emptied):
            return Condition(version=previous.version)
        return Condition(live_after=time.time(), version=previous.version or 0)

    async def _put(self, item: Item, condition: Condition | None) -> bool:
        """One PutItem, conditional when ``condition`` is given; whether it landed. When a *retried* write failed
        its condition, its first attempt may have landed and lost its answer, which is not a conflict: a GetItem
        tells, on that path only."""
        backend = await self._ready()
        written = await backend.put(item, condition)
        if written is None:
            written = await backend.get(str(item[self.names.hash_key]), consistent_read=True) == item
        return written

    @traced("destroy", lambda _: "deleted")
    async def destroy(self, sid: str) -> None:
        """One DeleteItem; destroying a missing session is not an error."""
        await (await self._ready()).delete(self.key_for(sid))

    @traced("discard", lambda ended: "written" if ended else "condition_failed")
    async def discard(self, sid: str, *, previous: SessionRecord) -> bool:
        """End a session a request emptied, on condition that it still holds ``previous`` (the session as the
        request read it): one PutItem of a tombstone that reads as no session (:class:`Emptied`) but that a request
        which changed the session meanwhile writes its changes onto (a DeleteItem with a ``layout``). The tombstone
        keeps the session's creation time, and expires after :attr:`logout_tombstone_seconds`. False when another
        request wrote or ended the session meanwhile (nothing is written then)."""
        tombstone = self.items.emptied(sid, self._tombstone_until(), (previous.version or 0) + 1, previous.created_at)
        return await self._end(sid, tombstone, self._unchanged_since(previous))

    @traced("log_out", lambda ended: "written" if ended else "condition_failed")
    async def log_out(self, sid: str, *, previous: SessionRecord | Emptied | None = None) -> bool:
        """End the session ``sid`` for good: one PutItem that replaces it by a tombstone expiring after
        :attr:`logout_tombstone_seconds`. With ``previous`` (the session as the caller read it), only if the id
        still holds that version: a logout that lost its answer and lands late never ends the writes that came
        after it. True when the session was ended; False when ``previous`` did not match (nothing is written).

        The session policy calls it at logout (:meth:`Session.invalidate`). Like a DeleteItem, the id stops loading
        at once and reads as no session (:attr:`Absence.LOGGED_OUT`); unlike one, a late duplicate of the write
        that created the session (a retried PutItem whose first attempt was still under way in the network)
        finds the id taken and fails, so the logged-out session never comes back. With a ``layout``, the id is
        deleted instead: the Node stores would read a tombstone as a session.
        """
        condition = None if previous is None else self._unchanged_since(previous)
        return await self._end(sid, self.items.tombstone(sid, self._tombstone_until(), logged_out=True), condition)

    async def _end(self, sid: str, tombstone: Item, condition: Condition | None) -> bool:
        """Replace the session by ``tombstone`` (delete it, with a ``layout``), if ``condition`` holds."""
        if self.layout is None:
            return await self._put(tombstone, condition)
        backend = await self._ready()
        key = self.key_for(sid)
        deleted = await backend.delete(key, condition)
        if deleted is None:  # a retry failed its condition: the first attempt may have landed
            deleted = await backend.get(key, consistent_read=True) is None
        return deleted

    def _tombstone_until(self) -> int:
        """When a tombstone written now expires (epoch seconds): after :attr:`logout_tombstone_seconds`."""
        return math.ceil(time.time() + self.logout_tombstone_seconds)

    @property
    def logout_tombstone_seconds(self) -> int:
        """How long a logout's tombstone stays, in seconds: twice the longest time a write may still be retried
        (:attr:`ClientOptions.longest_call_seconds`). With ``client=``, the options given to the store (the defaults
        unless given) must match the client's own for this to hold."""
        return math.ceil(2 * self.options.longest_call_seconds)

    @traced("supersede", lambda written: "written" if written else "condition_failed")
    async def supersede(self, sid: str, *, until: int, previous: SessionRecord | Emptied | None = None) -> bool:
        """One conditional PutItem that replaces the live session ``sid`` by a tombstone expiring at ``until``
        (epoch seconds; the old session's own expiry); with ``previous`` (the session as the caller read it), only
        if the id still holds that version. False when ``sid`` was not live, or not at that version (nothing is
        written then).

        The session policy calls it for the old id after a login. Like a DeleteItem, the old id stops loading at
        once; unlike one, a request that still carries the old cookie can tell a login from a logout. With a
        ``layout``, the old id is deleted instead: the Node stores would fail on a tombstone.
        """
        condition = Condition(live_after=time.time()) if previous is None else self._unchanged_since(previous)
        return await self._end(sid, self.items.tombstone(sid, until), condition)

    # -- a user's sessions (users.py) ------------------------------------------------------------------------

    @traced("list_sessions", lambda _: "listed")
    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """The live sessions of ``user_id`` (``session.user_id``), most recently used first; never their data or ids.
        Needs ``user_index``. One Query per page of the index, one BatchGetItem per 100 sessions; on DynamoDB the
        index is eventually consistent, so a session created a moment ago may be missing for a moment."""
        return await self.users.list_sessions(await self._ready(), user_id)

    @traced("revoke", lambda ended: "revoked" if ended else "miss")
    async def revoke(self, key: str, *, user_id: str | None = None) -> bool:
        """End one session by its handle (:attr:`SessionInfo.key`) with one PutItem of a logout's tombstone (so that
        a late, retried create cannot bring it back; a DeleteItem with a ``layout``); True when a live session
        ended. With ``user_id``, only a session of that user is ended: pass the signed-in user's id when the key
        comes from a request, so that nobody can end another user's session by its key."""
        return await self.users.revoke(await self._ready(), key, user_id)

    @traced("revoke_user", lambda ended: "revoked" if ended else "miss")
    async def revoke_user(self, user_id: str, *, keep: str | None = None) -> int:
        """End every session of ``user_id`` except the session id ``keep`` ("sign out everywhere else"); how many
        live sessions it ended. Needs ``user_index``. A session created less than about a second before may not be
        in the (eventually consistent) index yet, and survive: a second call a moment later ends it. Like
        :meth:`revoke` and :meth:`log_out`, it leaves a tombstone for each session it ends (with a ``layout``, it
        deletes them)."""
        return await self.users.revoke_user(await self._ready(), user_id, keep)


def _live(found: SessionRecord | Absence | Emptied) -> SessionRecord | None:
    return found if isinstance(found, SessionRecord) else None
