"""The seam between the store and DynamoDB: single-item calls, and the few that list a user's sessions, errors
mapped to ours.

The store decides *what* to write (layout, expiry, conditions). :class:`~.wire.WireBackend` writes each call once,
in DynamoDB's JSON wire form, over a :class:`~.transport.Transport`: ``aiobotocore``, ``aiodynamo`` or ``aiohttp``,
each a module of its own that only sends requests and maps its client's errors. Items cross the seam as plain
Python values: ``str`` for S, ``int`` for integral N, ``bytes`` for B. Anything else a server hands back (a float, a
list, a map) is passed through as-is so that the store can reject it as corrupt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["AttributeNames", "Backend", "ClientOptions", "Condition", "Item", "ItemValue"]

ItemValue = str | int | bytes | object
Item = dict[str, ItemValue]


@dataclass(frozen=True, slots=True)
class Condition:
    """What must hold for a write to go through. All parts that are set must hold together.

    :param absent: the item must not exist (a brand-new session id).
    :param live_after: the item must be a live session: ``Expires`` greater than this time (epoch seconds, with
        its fraction: a fractional ``Expires`` that passed earlier in this second is not live), and a session
        attribute present (a superseded id's tombstone has none, so it is never touched or written over).
    :param version: the item's version attribute must equal this (optimistic locking).
    """

    absent: bool = False
    live_after: float | None = None
    version: int | None = None


class Backend(Protocol):
    """A DynamoDB client bound to one table and one attribute naming.

    Every method raises only :class:`~tornado_dynasession.errors.SessionStoreError` subclasses.
    A failed condition is not an error: ``put``, ``update_expires`` and ``delete`` return False then.
    """

    async def get(self, key: str, *, consistent_read: bool) -> Item | None:
        """Return the item whose hash key is ``key``, or None."""
        ...

    async def put(self, item: Item, condition: Condition | None) -> bool | None:
        """Write the whole item; False when ``condition`` failed, None when it failed on a retried attempt (an
        earlier attempt may have landed and lost its answer, so the caller must look)."""
        ...

    async def update_expires(self, key: str, expires_at: int, condition: Condition) -> bool:
        """Set only ``Expires`` on an existing item; False when ``condition`` failed."""
        ...

    async def refresh(self, key: str, expires_at: int, *, now: float, latest: int) -> tuple[bool, Item | None]:
        """One UpdateItem that slides a live session's ``Expires`` to ``expires_at`` (see
        :meth:`~tornado_dynasession.backends._expressions.ConditionWriter.apply_refresh`): ``(True, item)`` with the
        item as it was before the call, or ``(False, item)`` when the condition failed, with the item as it was
        where the server returns it, else None."""
        ...

    async def delete(self, key: str, condition: Condition | None = None) -> bool | None:
        """Delete the item, only if ``condition`` holds when given; deleting a missing item is not an error. False
        when ``condition`` failed, None when it failed on a retried attempt (an earlier attempt may have landed)."""
        ...

    async def remove(self, key: str, *, user_key: str | None, replacement: Item | None = None) -> Item | None:
        """One DeleteItem that returns the item as it was, or with ``replacement`` (an item under ``key``) one
        PutItem of it that does; with ``user_key``, only an item whose user attribute equals it is deleted or
        replaced. None when nothing was (another user's item), or the old item was missing."""
        ...

    async def query_user(
        self, index: str, user_key: str, start: dict[str, Any] | None
    ) -> tuple[list[str], dict[str, Any] | None]:
        """One page of a Query on the user index: the hash keys stored under ``user_key``, and where the next page
        starts (None after the last)."""
        ...

    async def get_batch(
        self, keys: list[str], attributes: tuple[str, ...], *, consistent_read: bool
    ) -> tuple[list[Item], list[str]]:
        """One BatchGetItem of at most 100 keys, only ``attributes`` of each: the items found, and the keys the
        server left unprocessed (to ask for again)."""
        ...

    async def close(self) -> None:
        """Release what the backend opened itself (never a caller-owned client)."""
        ...


@dataclass(frozen=True, slots=True)
class AttributeNames:
    """The item's attribute names, configurable on the store."""

    hash_key: str = "SessionID"
    expires: str = "Expires"
    session: str = "Session"
    created: str = "Created"
    version: str = "Version"
    max_age: str = "MaxAge"
    superseded: str = "Superseded"
    logged_out: str = "LoggedOut"
    emptied: str = "Emptied"
    user: str = "UserID"
    user_ref: str = "UserRef"
    label: str = "Label"


MAX_BACKOFF_SECONDS = 20
"""The longest pause between two attempts of a call, in seconds (botocore's standard retry mode caps it there)."""


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """How the store's own DynamoDB client connects and retries (``DynamoDBStore(options=ClientOptions(...))``).

    A client passed as ``client=`` is configured by its owner, and these do not apply to it.

    :param region_name: the AWS region; None for the AWS configuration, or ``us-east-1`` on a loopback endpoint.
    :param connect_timeout: seconds to wait for a connection, per attempt.
    :param read_timeout: seconds to wait for a response, per attempt.
    :param max_attempts: total attempts per call (botocore's standard retry mode, with backoff).
    :param max_pool_connections: the client's connection pool size.
    :param trust_env: take HTTP proxies (``HTTPS_PROXY``, ``NO_PROXY``, ...) and ``.netrc`` from the environment on
        the ``aiohttp`` and ``aiodynamo`` backends; off unless asked for. aiobotocore's client follows botocore's
        own proxy configuration either way.
    """

    region_name: str | None = None
    connect_timeout: float = 2.0
    read_timeout: float = 3.0
    max_attempts: int = 3
    max_pool_connections: int = 64
    trust_env: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"max_attempts must be a whole number of at least 1, got {self.max_attempts!r}")
        for name in ("connect_timeout", "read_timeout"):
            seconds = getattr(self, name)
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {seconds!r}")
        if not isinstance(self.max_pool_connections, int) or self.max_pool_connections < 1:
            raise ValueError(f"max_pool_connections must be at least 1, got {self.max_pool_connections!r}")

    @property
    def longest_call_seconds(self) -> float:
        """The longest a call may take with its retries, in seconds: every attempt waiting its full connect and
        read timeouts, with the longest backoff between attempts (botocore's standard retry mode caps it at
        ``MAX_BACKOFF_SECONDS``)."""
        attempts = self.max_attempts
        return attempts * (self.connect_timeout + self.read_timeout) + (attempts - 1) * MAX_BACKOFF_SECONDS
