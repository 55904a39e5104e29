"""DynamoDBStore: one session is one DynamoDB item; this module owns its layout, expiry rules and write conditions.

Item layout (attribute names configurable)::

    {<hash_key>: {"S": key}, "Expires": {"N": "<epoch seconds>"}, "Session": {"S": "<JSON text>"}}

plus, when the session policy writes it, ``Created`` (N, epoch seconds) for the absolute lifetime, ``MaxAge`` (N) for
a session's own lifetime, and ``Version`` (N), which every policy write increments and is conditional on (an item
without one, such as the Node store writes, is at version 0). ``key`` is the base64url SHA-256 of the session id
unless ``hash_ids=False``.

An id given up at login (:meth:`DynamoDBStore.supersede`) is kept for a short while as a *tombstone*,
``{<hash_key>, Expires, Superseded}`` with no ``Session``, both numbers the tombstone's own expiry in epoch seconds.
It is never served, touched or written over, and it tells a late request that still carries the old cookie to leave
the browser's new cookie alone.

A session that belongs to a user (``session.user_id``, with ``user_index`` configured) also holds ``UserID`` (S: the
base64url SHA-256 of the user id, or the id itself with ``hash_ids=False``), ``UserRef`` (the user id itself, through
the codec, so it reads back; only with ``hash_ids``) and optionally ``Label`` (S). The user index is a sparse global
secondary index on ``UserID`` that projects keys only: it is written when a session enters or leaves it (created,
regenerated, destroyed, its user changed), never by a touch, and the listing reads each session's expiry from the
table.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import enum
import hashlib
import logging
import math
import os
import sys
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, cast

from .backends import AttributeNames, Backend, Condition, Item
from .codec import Codec, KeyBoundCodec, OrjsonCodec
from .errors import (
    CodecError,
    ConfigurationError,
    SessionConflictError,
    SessionStoreError,
    SessionTooLargeError,
    StoreUnavailableError,
)
from .express import express_cookie_object
from .telemetry import StoreTelemetry, Telemetry, telemetry_for, traced

if TYPE_CHECKING:
    from aiodynamo.client import Client as AiodynamoClient
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = [
    "DEFAULT_MAX_AGE_SECONDS",
    "LAYOUTS",
    "MAX_ITEM_BYTES",
    "Absence",
    "DynamoDBStore",
    "Layout",
    "SessionInfo",
    "SessionRecord",
    "endpoint_from_env",
]

logger = logging.getLogger("tornado_dynasession")

DEFAULT_MAX_AGE_SECONDS = 300
"""The default session lifetime: 5 minutes, as in the Node store."""

MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB's item size limit, attribute names included."""

MAX_LIFETIME_SECONDS = 10 * 366 * 86400
"""An ``Expires`` further ahead than this is corrupt (most likely written in milliseconds) and is never served."""


MAX_LABEL_CHARACTERS = 512
"""The longest ``session.label`` (a device description such as a User-Agent fits)."""

MAX_USER_ID_BYTES = 1024
"""The longest user id, in UTF-8 bytes (DynamoDB allows index keys of up to 2048)."""

_BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
_REVOKE_CONCURRENCY = 16


def endpoint_from_env() -> str | None:
    """The ``DYNAMODB_ENDPOINT`` environment variable, or None when unset or empty."""
    return os.environ.get("DYNAMODB_ENDPOINT") or None


def _is_loopback(endpoint_url: str | None) -> bool:
    if not endpoint_url:
        return False
    host = endpoint_url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


def client_kwargs(endpoint_url: str | None, region_name: str | None) -> dict[str, Any]:
    """``create_client`` arguments: on a loopback endpoint, a default region and, without AWS credentials in the
    environment, dummy ones (local servers check none)."""
    kwargs: dict[str, Any] = {"endpoint_url": endpoint_url, "region_name": region_name}
    if _is_loopback(endpoint_url):
        kwargs["region_name"] = (
            region_name or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
        )
        if not os.environ.get("AWS_ACCESS_KEY_ID") and not os.environ.get("AWS_PROFILE"):
            kwargs.update(aws_access_key_id="local", aws_secret_access_key="local")
    return kwargs


BACKEND_NAMES = ("aiobotocore", "aiodynamo")
"""The backends ``DynamoDBStore(backend=...)`` accepts by name."""


def _require_aiodynamo() -> None:
    try:
        from .backends import aiodynamo  # noqa: F401
    except ImportError as exc:
        install = 'pip install "tornado_dynasession[aiodynamo]"'
        raise ConfigurationError(f'backend="aiodynamo" needs the aiodynamo package: {install} ({exc})') from exc


def _is_aiodynamo_client(client: object) -> TypeGuard[AiodynamoClient]:
    # Whoever built an aiodynamo client has imported aiodynamo; nobody else pays for the import.
    module = sys.modules.get("aiodynamo.client")
    return module is not None and isinstance(client, module.Client)


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


def _digest(text: str) -> str:
    """The base64url SHA-256 of ``text``, without padding: how ids are stored with ``hash_ids``."""
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


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
class Layout:
    """How another store lays out its items, so that both read and write the same sessions (``layout=``).

    :param name: the preset's name.
    :param hash_key: the hash key attribute; it holds the session id itself (with ``key_prefix``), never a digest.
    :param expires: the expiry attribute (N, epoch seconds).
    :param session: the session attribute (S, JSON text).
    :param key_prefix: put before the session id in the hash key (connect-dynamodb's ``sess:``).
    :param constants: attributes written as they are on every item (connect-dynamodb's ``type``).
    :param express_cookie: the JSON holds express-session's ``cookie`` object: hidden from the session's data,
        and kept in step with the expiry on every write (:func:`~tornado_dynasession.express.express_cookie_object`).
    """

    name: str
    hash_key: str
    expires: str
    session: str
    key_prefix: str = ""
    constants: tuple[tuple[str, str], ...] = ()
    express_cookie: bool = True


LAYOUTS = {
    layout.name: layout
    for layout in (
        # github.com/MRobertEvers/dynamodb-session-store, the express-session store our item layout comes from
        Layout("express-dynamodb", hash_key="SessionID", expires="Expires", session="Session"),
        # npm connect-dynamodb 3.x, the most used express-session DynamoDB store
        Layout(
            "connect-dynamodb",
            hash_key="id",
            expires="expires",
            session="sess",
            key_prefix="sess:",
            constants=(("type", "connect-session"),),
        ),
    )
}
"""The layouts ``DynamoDBStore(layout=...)`` accepts by name."""

_EXPRESS_COOKIE_KEY = "cookie"


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
    """No item under that key: never stored, destroyed (a logout), or deleted by TTL."""
    EXPIRED = "expired"
    """The item's ``Expires`` has passed (TTL deletes such items only lazily)."""
    CORRUPT = "corrupt"
    """The item is not in the expected layout, or its session does not decode; a warning is logged."""
    SUPERSEDED = "superseded"
    """The id was given up for a new one at login (:meth:`DynamoDBStore.supersede`) and has not yet expired."""


class DynamoDBStore:
    """An async DynamoDB session store: one item per session, sliding expiry, never serves an expired item.

    The DynamoDB client is aiobotocore by default. The aiodynamo backend costs about a third of the client CPU
    per call; install it with ``pip install "tornado_dynasession[aiodynamo]"`` and select it either by name,
    ``DynamoDBStore("sessions", backend="aiodynamo")`` (the store then creates and closes its own client, with
    the same endpoint, region, credentials, timeout and retry settings as the default path), or by passing an
    aiodynamo ``Client`` you own as ``client=`` (its ``throttle_config`` and HTTP timeouts are then yours to set;
    :class:`~tornado_dynasession.backends.aiodynamo.BoundedRetry` bounds its retries).

    :param table: the table name. The store never creates it: see ``python -m tornado_dynasession create-table``.
    :param hash_key: the table's hash key attribute (type S).
    :param client: an aiobotocore DynamoDB client, or an aiodynamo ``Client``, that the caller owns and closes.
        Without it the store creates
        its own on first use (or on ``async with``/``await store.open()``) and closes it in :meth:`close`.
    :param endpoint_url: where DynamoDB is; defaults to ``$DYNAMODB_ENDPOINT``, then AWS. On a loopback endpoint
        without AWS credentials in the environment, dummy credentials are used.
    :param region_name: the AWS region; defaults to the AWS configuration, or ``us-east-1`` on a loopback endpoint.
    :param codec: turns the session dict into the ``Session`` attribute; :class:`OrjsonCodec` by default.
    :param max_age: the default lifetime in seconds (floats accepted); 300.
    :param consistent_read: strongly consistent GetItem (a logout is never undone by a stale read).
    :param hash_ids: store SHA-256 digests of session ids, so a leaked table holds no live tokens.
    :param locking: how the session policy settles two requests that changed the same key of one session: by
        default the later write wins for that key; with ``locking=True`` the later request gets
        :class:`SessionConflictError` (409). Changes to different keys are merged either way.
    :param connect_timeout: seconds to wait for a connection, per attempt.
    :param read_timeout: seconds to wait for a response, per attempt.
    :param max_attempts: total attempts per call (botocore standard retry mode, with backoff).
    :param max_pool_connections: the client's connection pool size.
    :param user_index: the name of the table's user index (a global secondary index on ``UserID``, created by
        ``python -m tornado_dynasession create-table --table NAME --user-index``), for ``session.user_id``,
        :meth:`list_sessions`, :meth:`revoke` and :meth:`revoke_user`; None (the default) turns those off.
    :param layout: share the table with an express-session store: ``"express-dynamodb"`` (the store this layout
        comes from: ``{SessionID, Expires, Session}``) or ``"connect-dynamodb"`` (``{id: "sess:<id>", expires,
        type, sess}``), or a :class:`Layout`. It sets ``hash_key``, ``expires_attribute``, ``session_attribute``
        and ``hash_ids=False`` (the Node stores key items by the session id itself), and keeps express-session's
        ``cookie`` object in each session. Pair it with ``cookie_format="express"`` in the adapter.
    :param backend: which client the store creates, ``"aiobotocore"`` (the default) or ``"aiodynamo"``; or a
        ready :class:`~tornado_dynasession.backends.Backend`, instead of ``client``. A name that disagrees with
        ``client`` is a ValueError; ``"aiodynamo"`` without aiodynamo installed is a :class:`ConfigurationError`.
    :param telemetry: OpenTelemetry spans and metrics for each call (:mod:`tornado_dynasession.telemetry`): True
        (the default) sends them to the global providers when opentelemetry-api is installed, and is off otherwise;
        a :class:`~tornado_dynasession.telemetry.Telemetry` names the providers; False turns them off.
    """

    def __init__(
        self,
        table: str,
        *,
        hash_key: str = "SessionID",
        client: DynamoDBClient | AiodynamoClient | None = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        codec: Codec | None = None,
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        consistent_read: bool = True,
        hash_ids: bool = True,
        locking: bool = False,
        connect_timeout: float = 2.0,
        read_timeout: float = 3.0,
        max_attempts: int = 3,
        max_pool_connections: int = 64,
        expires_attribute: str = "Expires",
        session_attribute: str = "Session",
        created_attribute: str = "Created",
        version_attribute: str = "Version",
        user_index: str | None = None,
        layout: Layout | Literal["express-dynamodb", "connect-dynamodb"] | None = None,
        backend: Backend | Literal["aiobotocore", "aiodynamo"] | None = None,
        telemetry: Telemetry | bool = True,
    ) -> None:
        if not table:
            raise ValueError("table must be a table name")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.table = table
        if isinstance(layout, str):
            if layout not in LAYOUTS:
                raise ValueError(f"layout must be one of {', '.join(map(repr, LAYOUTS))} or a Layout, got {layout!r}")
            layout = LAYOUTS[layout]
        self.layout = layout
        """The express-session store layout this store shares its table with, or None."""
        if layout is not None:
            hash_key, expires_attribute, session_attribute = layout.hash_key, layout.expires, layout.session
            hash_ids = False
        self._key_prefix = layout.key_prefix if layout is not None else ""
        self._constants: Item = dict(layout.constants) if layout is not None else {}
        self._express_cookie = layout is not None and layout.express_cookie
        self.names = AttributeNames(
            hash_key=hash_key,
            expires=expires_attribute,
            session=session_attribute,
            created=created_attribute,
            version=version_attribute,
        )
        self.endpoint_url = endpoint_url or endpoint_from_env()
        self.region_name = region_name
        self.codec: Codec = codec if codec is not None else OrjsonCodec()
        # A codec that binds what it stores to the item (EncryptedCodec) is handed the stored hash key.
        self._bound_codec = self.codec if isinstance(self.codec, KeyBoundCodec) else None
        self.telemetry: StoreTelemetry | None = telemetry_for(self, telemetry)
        """Where the store's spans and metrics go, or None when telemetry is off."""
        self.max_age = check_max_age(max_age)
        self.consistent_read = consistent_read
        self.hash_ids = hash_ids
        self.locking = locking
        self.user_index = user_index or None
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self.max_pool_connections = max_pool_connections
        self._exit_stack: AsyncExitStack | None = None
        self._open_lock = asyncio.Lock()
        self._backend: Backend | None = None
        self._backend_pid = os.getpid()  # the process whose connection pool _backend holds
        self.backend_name = "aiobotocore"
        """The client the store creates for itself in :meth:`open`: ``"aiobotocore"`` or ``"aiodynamo"``."""
        if isinstance(backend, str):
            if backend not in BACKEND_NAMES:
                raise ValueError(f"backend must be one of {', '.join(map(repr, BACKEND_NAMES))}, got {backend!r}")
            if client is not None and (backend == "aiodynamo") != _is_aiodynamo_client(client):
                raise ValueError(f"backend={backend!r} does not match the client passed: {type(client).__name__}")
            if backend == "aiodynamo":
                _require_aiodynamo()
            self.backend_name = backend
        elif backend is not None:
            self._backend = backend
        if self._backend is None and client is not None:
            if _is_aiodynamo_client(client):
                from .backends.aiodynamo import AiodynamoBackend

                self.backend_name = "aiodynamo"
                self._backend = AiodynamoBackend(client, table, self.names, endpoint_url=self.endpoint_url)
            else:
                from .backends.aiobotocore import AiobotocoreBackend

                self._backend = AiobotocoreBackend(
                    cast("DynamoDBClient", client), table, self.names, endpoint_url=self.endpoint_url
                )

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the store's own client, if it has none yet. Called for you on first use.

        A client belongs to the process that created it: a store used in a fork of that process (a child of
        ``fork_processes``, a forked worker) raises :class:`ConfigurationError` at once. Create or open the store in
        each process, after the fork.
        """
        async with self._open_lock:
            if self._backend is not None:
                return
            self._backend_pid = os.getpid()
            if self.backend_name == "aiodynamo":
                from .backends.aiodynamo import create_backend

                self._backend = create_backend(
                    self.table,
                    self.names,
                    connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout,
                    max_attempts=self.max_attempts,
                    max_pool_connections=self.max_pool_connections,
                    **client_kwargs(self.endpoint_url, self.region_name),
                )
                return
            from .backends.aiobotocore import AiobotocoreBackend, client_config, shared_session

            config = client_config(
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
                max_attempts=self.max_attempts,
                max_pool_connections=self.max_pool_connections,
            )
            stack = AsyncExitStack()
            try:
                client = await stack.enter_async_context(
                    shared_session().create_client(
                        "dynamodb", config=config, **client_kwargs(self.endpoint_url, self.region_name)
                    )
                )
            except Exception as exc:
                await stack.aclose()
                from .backends.aiobotocore import map_client_error

                raise map_client_error(
                    exc,
                    operation="client setup",
                    table=self.table,
                    hash_key=self.names.hash_key,
                    endpoint=self.endpoint_url,
                ) from exc
            self._exit_stack = stack
            self._backend = AiobotocoreBackend(
                client, self.table, self.names, endpoint_url=self.endpoint_url, close=stack.aclose
            )

    async def close(self) -> None:
        """Close the client the store created; a caller-owned client is left open."""
        backend, self._backend = self._backend, None
        if backend is not None:
            await backend.close()
        self._exit_stack = None

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
        return self._backend if self.telemetry is None else self.telemetry.metered(self._backend)

    # -- keys ------------------------------------------------------------------------------------------------

    def key_for(self, sid: str) -> str:
        """The hash key value stored for session id ``sid``: its base64url SHA-256, or ``sid`` with hash_ids=False."""
        if not isinstance(sid, str) or not sid:
            raise ValueError("a session id must be a non-empty string")
        return _digest(sid) if self.hash_ids else self._key_prefix + sid

    def user_key_for(self, user_id: str) -> str:
        """The ``UserID`` stored for ``user_id``: its base64url SHA-256, or ``user_id`` with hash_ids=False."""
        check_user_id(user_id)
        return _digest(user_id) if self.hash_ids else user_id

    def require_user_index(self, what: str) -> str:
        """The user index name; a :class:`ConfigurationError` naming the option and the command when unset."""
        if self.user_index is None:
            raise ConfigurationError(
                f'{what} needs the table\'s user index: pass DynamoDBStore({self.table!r}, user_index="UserIndex"), '
                f"after creating it with: python -m tornado_dynasession create-table --table {self.table} --user-index"
            )
        return self.user_index

    @staticmethod
    def fingerprint(sid: str) -> str:
        """A short, non-reversible tag for logs: raw session ids never appear in log lines."""
        return hashlib.sha256(sid.encode()).hexdigest()[:12]

    # -- reads -----------------------------------------------------------------------------------------------

    @traced("load")
    async def load(self, sid: str) -> SessionRecord | None:
        """One GetItem: the live session with its expiry, creation time and version, or None.

        None covers a missing item, an expired one (``Expires <= now``, whatever TTL has not yet deleted), a
        corrupt one (wrong attribute types, a ``Session`` that does not decode to a dict), which is logged, and a
        superseded id's tombstone. :meth:`lookup` says which.
        """
        found = await self.lookup(sid)
        return found if isinstance(found, SessionRecord) else None

    @traced("lookup")
    async def lookup(self, sid: str, *, refresh_to: int | None = None) -> SessionRecord | Absence:
        """The live session, or why there is none (an :class:`Absence`), in one call.

        Without ``refresh_to``, one GetItem, like :meth:`load`. With it, one conditional UpdateItem, like
        :meth:`refresh`, that moves ``Expires`` of a live session to ``refresh_to`` (epoch seconds) on the way.
        A refresh tells a missing item from an expired or corrupt one only where the server returns the item
        with a failed condition (DynamoDB, moto); elsewhere (dynalite) all three are :attr:`Absence.MISSING`.
        """
        key = self.key_for(sid)
        backend = await self._ready()
        if refresh_to is None:
            item = await backend.get(key, consistent_read=self.consistent_read)
            return Absence.MISSING if item is None else self._record_from_item(item, sid)
        now = time.time()
        refreshed, item = await backend.refresh(key, refresh_to, now=now, latest=int(now) + MAX_LIFETIME_SECONDS + 1)
        if item is None:
            return Absence.MISSING
        found = self._record_from_item(item, sid)  # the item as it was before the call
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

    @traced("refresh")
    async def refresh(
        self, sid: str, max_age: float | None = None, *, expires_at: int | None = None
    ) -> SessionRecord | None:
        """One conditional UpdateItem that slides ``Expires`` to now + ``max_age`` seconds (the store's
        ``max_age`` by default), or to ``expires_at``, and returns the live session as it then is; None when
        there is no live session (missing, expired, corrupt or superseded).

        The condition is checked by DynamoDB in the same call: the item must be live (``Expires`` after now and
        at most ten years ahead) with a ``Session`` of type S or B, so a refresh never creates, resurrects or
        extends a missing, expired or malformed item. DynamoDB bills one write unit per started KB of the item,
        and nothing for the item it returns. The session policy makes this call for every request that reads a
        session whose touch is due: the read and the touch in one.
        """
        now = time.time()
        if expires_at is None:
            expires_at = expires_at_for(self.max_age if max_age is None else check_max_age(max_age), now)
        found = await self.lookup(sid, refresh_to=check_expires_at(expires_at, now))
        return found if isinstance(found, SessionRecord) else None

    def _record_from_item(self, item: Item, sid: str) -> SessionRecord | Absence:
        names = self.names
        stored_expiry = item.get(names.expires)
        if type(stored_expiry) is int:
            expires_at = stored_expiry
        elif type(stored_expiry) is float:  # fractional seconds, as the Node connect-dynamodb store writes them
            expires_at = math.floor(stored_expiry)
        else:
            return self._corrupt(sid, f"{names.expires} is missing or not a number: {stored_expiry!r:.40}")
        if expires_at < 0:
            return self._corrupt(sid, f"{names.expires}={stored_expiry} is negative")
        now = time.time()
        if stored_expiry <= now:
            return Absence.EXPIRED
        if expires_at > now + MAX_LIFETIME_SECONDS + 1:  # + 1: writers round Expires up to a whole second
            return self._corrupt(sid, f"{names.expires}={stored_expiry} is implausibly far ahead (milliseconds?)")
        if names.superseded in item and names.session not in item:
            return Absence.SUPERSEDED
        raw = item.get(names.session)
        if not isinstance(raw, (str, bytes)):
            return self._corrupt(sid, f"{names.session} is missing or neither a string nor binary")
        try:
            data = self._decode(item, raw)
        except CodecError as exc:
            return self._corrupt(sid, str(exc))
        except Exception as exc:  # a third-party codec that breaks the protocol must not crash the request
            return self._corrupt(sid, f"{type(exc).__name__}: {exc}")
        express_cookie = data.pop(_EXPRESS_COOKIE_KEY, None) if self._express_cookie else None
        created_at = item.get(names.created)
        version = item.get(names.version, 0)
        if type(version) is not int:
            return self._corrupt(sid, f"{names.version} is not an integer number")
        max_age = item.get(names.max_age)
        user_id: str | None = None
        user_key = item.get(names.user)
        if isinstance(user_key, str) and self.hash_ids:
            ref = item.get(names.user_ref)
            try:
                decoded = self._decode(item, ref) if isinstance(ref, (str, bytes)) else None
                user_id = decoded.get("id") if decoded else None
            except Exception as exc:
                return self._corrupt(sid, f"{names.user_ref} does not decode: {type(exc).__name__}: {exc}")
            if not isinstance(user_id, str) or _digest(user_id) != user_key:
                return self._corrupt(sid, f"{names.user_ref} does not name the user of {names.user}")
        elif isinstance(user_key, str):
            user_id = user_key
        label = item.get(names.label)
        return SessionRecord(
            data=data,
            expires_at=expires_at,
            created_at=created_at if type(created_at) is int else None,
            version=version,
            max_age=max_age if type(max_age) is int and max_age > 0 else None,
            user_id=user_id,
            label=label if isinstance(label, str) else None,
            express_cookie=express_cookie if isinstance(express_cookie, dict) else None,
        )

    def _decode(self, item: Item, raw: str | bytes) -> dict[str, Any]:
        bound = self._bound_codec
        key = item.get(self.names.hash_key)
        return self.codec.decode(raw) if bound is None or not isinstance(key, str) else bound.decode_for(key, raw)

    def _corrupt(self, sid: str, why: str) -> Absence:
        logger.warning(
            "session %s in table %r is corrupt and treated as absent: %s", self.fingerprint(sid), self.table, why
        )
        return Absence.CORRUPT

    @traced("get")
    async def get(self, sid: str) -> dict[str, Any] | None:
        """One GetItem: the live session's data, or None (missing, expired or corrupt)."""
        record = await self.load(sid)
        return None if record is None else record.data

    # -- writes ----------------------------------------------------------------------------------------------

    def _item(
        self,
        sid: str,
        data: Mapping[str, Any],
        expires_at: int,
        created_at: int | None,
        version: int | None,
        max_age: int | None = None,
        user_id: str | None = None,
        label: str | None = None,
        express_cookie: Mapping[str, Any] | None = None,
    ) -> Item:
        names = self.names
        key = self.key_for(sid)
        if not isinstance(data, Mapping):
            raise TypeError(f"session data must be a dict, not {type(data).__name__}")
        if self._express_cookie:
            if _EXPRESS_COOKIE_KEY in data:
                raise ValueError(
                    f'session["{_EXPRESS_COOKIE_KEY}"] is express-session\'s own key in the {self.names.session} '
                    "JSON of this layout: store the value under another key"
                )
            lifetime = max_age or self.max_age
            cookie = express_cookie_object(express_cookie, expires_at=expires_at, max_age_seconds=lifetime)
            data = {**data, _EXPRESS_COOKIE_KEY: cookie}
        bound = self._bound_codec
        encoded = self.codec.encode(data) if bound is None else bound.encode_for(key, data)
        item: Item = {names.hash_key: key, names.expires: expires_at, names.session: encoded, **self._constants}
        size = len(names.hash_key) + len(key.encode()) + len(names.expires) + len(str(expires_at))
        size += len(names.session) + sum(len(name) + len(str(value)) for name, value in self._constants.items())
        if user_id is not None:
            self.require_user_index("session.user_id")
            user: dict[str, str | bytes] = {names.user: self.user_key_for(user_id)}
            if self.hash_ids:
                ref = {"id": user_id}
                user[names.user_ref] = self.codec.encode(ref) if bound is None else bound.encode_for(key, ref)
            checked_label = check_label(label)
            if checked_label is not None:
                user[names.label] = checked_label
            for name, value in user.items():
                size += len(name) + len(value if isinstance(value, bytes) else value.encode())
            item.update(user)
        if created_at is not None:
            item[names.created] = created_at
            size += len(names.created) + len(str(created_at))
        if version is not None:
            item[names.version] = version
            size += len(names.version) + len(str(version))
        if max_age is not None:
            item[names.max_age] = max_age
            size += len(names.max_age) + len(str(max_age))
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

    @traced("set")
    async def set(self, sid: str, data: Mapping[str, Any], max_age: float | None = None) -> None:
        """One unconditional PutItem of the whole session, expiring ``max_age`` seconds from now.

        Raises :class:`SessionTooLargeError` before any network call when the item would exceed 400 KB, and
        :class:`CodecError` naming the type the codec cannot encode; nothing is written then.
        """
        lifetime = self.max_age if max_age is None else check_max_age(max_age)
        item = self._item(sid, data, expires_at_for(lifetime), None, None)
        await (await self._ready()).put(item, None)

    @traced("save")
    async def save(
        self,
        sid: str,
        data: Mapping[str, Any],
        *,
        expires_at: int,
        created_at: int | None = None,
        max_age: int | None = None,
        previous: SessionRecord | None = None,
        user_id: str | None = None,
        label: str | None = None,
    ) -> SessionRecord | None:
        """One conditional PutItem: the write the session policy makes for a new or modified session.

        With ``previous`` None the id must be new (the write never overwrites; a taken id raises
        :class:`SessionConflictError`). Otherwise the stored session must still be live and at
        ``previous.version`` (an item without a ``Version`` is at 0), and the new item gets the next version.
        Returns the new record, or None when the condition failed: another request wrote the session since
        ``previous`` was read, or ended it (a logout, an expiry, a login). Nothing is written then; read the
        session again to tell which (the session policy merges this request's changes onto a newer version, and
        never brings back an ended session). ``created_at`` (epoch seconds) and ``max_age`` (the session's own
        lifetime, whole seconds) are stored as ``Created`` and ``MaxAge`` when given; ``user_id`` and ``label`` put
        the session in the user index (a :class:`ConfigurationError` without ``user_index``).
        """
        version = 1 if previous is None else (previous.version or 0) + 1
        item = self._item(
            sid,
            data,
            expires_at,
            created_at,
            version,
            max_age,
            user_id,
            label if user_id else None,
            None if previous is None else previous.express_cookie,
        )
        if previous is None:
            condition = Condition(absent=True)
        else:
            condition = Condition(live_after=time.time(), version=previous.version or 0)
        backend = await self._ready()
        written = await backend.put(item, condition)
        if written is None:
            written = await self._landed(backend, item)
        if not written:
            if previous is None:
                raise SessionConflictError(
                    f"session id {self.fingerprint(sid)} is already taken; nothing was written. Use a new id."
                )
            return None
        return SessionRecord(
            data=dict(data),
            expires_at=expires_at,
            created_at=created_at,
            version=version,
            max_age=max_age,
            user_id=user_id,
            label=label if user_id else None,
            express_cookie=None if previous is None else previous.express_cookie,
        )

    async def _landed(self, backend: Backend, item: Item) -> bool:
        """Whether ``item`` is what the table holds, after a *retried* write failed its condition: its first attempt
        may have landed and lost its answer, and that is not a conflict. A GetItem, on that rare path only."""
        stored = await backend.get(str(item[self.names.hash_key]), consistent_read=True)
        return stored == item

    @traced("touch")
    async def touch(self, sid: str, max_age: float | None = None, *, expires_at: int | None = None) -> bool:
        """One conditional UpdateItem moving ``Expires`` to now + ``max_age`` seconds (or to ``expires_at``): the
        same call as :meth:`refresh`, answering only whether the session was live.

        Only a live session is touched: a missing, expired, destroyed, superseded or corrupt one is left as it
        is, nothing is created, and the result is False. True means ``Expires`` moved.
        """
        return await self.refresh(sid, max_age, expires_at=expires_at) is not None

    @traced("destroy")
    async def destroy(self, sid: str) -> None:
        """One DeleteItem; destroying a missing session is not an error."""
        await (await self._ready()).delete(self.key_for(sid))

    @traced("supersede")
    async def supersede(self, sid: str, *, until: int) -> bool:
        """One conditional PutItem that replaces the live session ``sid`` by a tombstone expiring at ``until``
        (epoch seconds; the old session's own expiry).

        The session policy calls it for the old id after :meth:`~tornado_dynasession.Session.regenerate` (a
        login). Like a DeleteItem, the old id stops loading at once; unlike one, a request that still carries the
        old cookie can tell a login from a logout, and leaves the browser's new cookie alone. A tombstone holds
        no session data and is never served, touched or written over. False when ``sid`` was not live (then
        nothing is written: a session destroyed meanwhile stays plainly destroyed). With a ``layout`` shared with a
        Node store, which would fail on a tombstone, the old id is deleted instead.
        """
        if self.layout is not None:
            # The Node stores read every item that has not expired as a session, and fail on one without it (a
            # 500 in the Express app): with a shared layout, the old id is deleted, as the Node stores do.
            await self.destroy(sid)
            return True
        names = self.names
        item: Item = {names.hash_key: self.key_for(sid), names.expires: until, names.superseded: until}
        backend = await self._ready()
        written = await backend.put(item, Condition(live_after=time.time()))
        if written is None:
            written = await self._landed(backend, item)
        return written

    # -- a user's sessions -------------------------------------------------------------------------------------

    @traced("list_sessions")
    async def list_sessions(self, user_id: str) -> list[SessionInfo]:
        """The live sessions of ``user_id`` (``session.user_id``), most recently used first.

        Queries the user index for the sessions' keys (one Query per page), then reads their expiry, creation
        time and label from the table (one BatchGetItem per 100 sessions, strongly consistent with
        ``consistent_read``). Expired sessions, and sessions moved to another user since the index was read, are
        left out. Never returns session data or session ids. On DynamoDB the index is eventually consistent: a
        session created a moment ago may be missing for a moment. Needs ``user_index``.
        """
        index = self.require_user_index("list_sessions()")
        user_key = self.user_key_for(user_id)
        backend = await self._ready()
        keys = await self._user_keys(backend, index, user_key)
        names = self.names
        attributes = (names.hash_key, names.expires, names.created, names.label, names.user)
        items: list[Item] = []
        for start in range(0, len(keys), _BATCH_GET_KEYS):
            pending = keys[start : start + _BATCH_GET_KEYS]
            for attempt in range(self.max_attempts + 2):
                found, pending = await backend.get_batch(pending, attributes, consistent_read=self.consistent_read)
                items.extend(found)
                if not pending:
                    break
                await asyncio.sleep(0.05 * 2**attempt)  # the server is throttling this batch: back off, ask again
            if pending:
                raise StoreUnavailableError(
                    f"DynamoDB kept {len(pending)} of the user's sessions unprocessed in BatchGetItem on table "
                    f"{self.table!r}: the table is throttled. Retry later."
                )
        now = time.time()
        sessions = []
        for item in items:
            expires, created, label = item.get(names.expires), item.get(names.created), item.get(names.label)
            if item.get(names.user) != user_key or not self._live_expiry(expires, now):
                continue
            assert isinstance(expires, (int, float))
            sessions.append(
                SessionInfo(
                    key=str(item[names.hash_key]),
                    created_at=created if type(created) is int else None,
                    expires_at=math.floor(expires),
                    label=label if isinstance(label, str) else None,
                )
            )
        sessions.sort(key=lambda info: info.expires_at, reverse=True)
        return sessions

    @traced("revoke")
    async def revoke(self, key: str, *, user_id: str | None = None) -> bool:
        """End one session by its handle (:attr:`SessionInfo.key`), with one DeleteItem; True when a live session
        ended. With ``user_id``, only a session of that user is ended: pass the signed-in user's id when the key
        comes from a request (a "sign out" button), so that nobody can end another user's session by its key.

        Its next request is a new session, and its cookie is cleared.
        """
        if not isinstance(key, str) or not key:
            raise ValueError("a session key must be a non-empty string (SessionInfo.key)")
        user_key = None if user_id is None else self.user_key_for(user_id)
        return await self._remove_live(await self._ready(), key, user_key, time.time())

    @traced("revoke_user")
    async def revoke_user(self, user_id: str, *, keep: str | None = None) -> int:
        """End every session of ``user_id`` except the session id ``keep`` (the current request's
        ``session.id``: "sign out everywhere else"); returns how many live sessions it ended.

        One Query per page of the user index, then one conditional DeleteItem per session (16 at a time), each
        only if the session still belongs to that user. On DynamoDB the index is eventually consistent: a session
        created less than about a second before this call may not be listed yet, and survives it. Call it again
        a moment later (after a password change, say) to catch such a session; a second call ends it, and ends
        nothing else. Needs ``user_index``.
        """
        index = self.require_user_index("revoke_user()")
        user_key = self.user_key_for(user_id)
        backend = await self._ready()
        kept = None if keep is None else self.key_for(keep)
        keys = [key for key in await self._user_keys(backend, index, user_key) if key != kept]
        limit = asyncio.Semaphore(_REVOKE_CONCURRENCY)
        now = time.time()

        async def end(key: str) -> bool:
            async with limit:
                return await self._remove_live(backend, key, user_key, now)

        return sum(await asyncio.gather(*(end(key) for key in keys)))

    async def _remove_live(self, backend: Backend, key: str, user_key: str | None, now: float) -> bool:
        """One DeleteItem (of ``user_key``'s session only, when given); whether it ended a live session."""
        old = await backend.remove(key, user_key=user_key)
        return old is not None and self.names.session in old and self._live_expiry(old.get(self.names.expires), now)

    async def _user_keys(self, backend: Backend, index: str, user_key: str) -> list[str]:
        keys: list[str] = []
        start: dict[str, Any] | None = None
        while True:
            try:
                page, start = await backend.query_user(index, user_key, start)
            except SessionStoreError as exc:
                if type(exc) is SessionStoreError and "index" in str(exc).lower():  # the server's ValidationException
                    raise ConfigurationError(
                        f"table {self.table!r} has no user index {index!r} ({exc}): add it with: python -m "
                        f"tornado_dynasession create-table --table {self.table} --user-index {index}"
                    ) from exc
                raise
            keys.extend(page)
            if start is None:
                return keys

    @staticmethod
    def _live_expiry(expires: object, now: float) -> bool:
        if isinstance(expires, bool) or not isinstance(expires, (int, float)):
            return False
        return now < expires <= now + MAX_LIFETIME_SECONDS + 1
