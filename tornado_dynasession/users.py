"""The user index: a user's live sessions listed, one ended by its handle, or all of them ended at once.

The index is a sparse global secondary index on ``UserID`` that projects keys only. A session enters or leaves it
when it is created, regenerated, destroyed or moves to another user, never on a touch; listings read each session's
expiry, creation time and label from the table.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from .backends import Backend, Item
from .errors import ConfigurationError, SessionStoreError, StoreUnavailableError
from .items import ItemMapper
from .records import SessionInfo

__all__ = ["UserIndex"]

BATCH_GET_KEYS = 100
"""DynamoDB's limit of keys per BatchGetItem."""

REVOKE_CONCURRENCY = 16
"""How many conditional writes :meth:`UserIndex.revoke_user` keeps in flight."""


class UserIndex:
    """A table's user index, over a backend.

    :param table: the table name (for error messages).
    :param index: the index name, or None when the table has none (then listing and revoking a user's sessions
        is a :class:`ConfigurationError`; revoking one by its handle still works).
    :param mapper: the table's item mapper (names, keys, liveness).
    :param consistent_read: read sessions' expiry strongly consistently.
    :param batch_attempts: how many times to ask again for the keys a throttled BatchGetItem left unprocessed.
    :param tombstone_seconds: how long a revoked session's tombstone stays, in seconds (as a logout's); None to
        delete revoked sessions instead (a table shared with the Node stores).
    """

    def __init__(
        self,
        table: str,
        index: str | None,
        mapper: ItemMapper,
        *,
        consistent_read: bool,
        batch_attempts: int,
        tombstone_seconds: int | None,
    ) -> None:
        self.table = table
        self.index = index
        self.mapper = mapper
        self.consistent_read = consistent_read
        self.batch_attempts = batch_attempts
        self.tombstone_seconds = tombstone_seconds

    def require(self, what: str) -> str:
        """The index name; a :class:`ConfigurationError` naming the option and the command when there is none."""
        if self.index is None:
            raise ConfigurationError(
                f'{what} needs the table\'s user index: pass DynamoDBStore({self.table!r}, user_index="UserIndex"), '
                f"after creating it with: python -m tornado_dynasession create-table --table {self.table} --user-index"
            )
        return self.index

    async def list_sessions(self, backend: Backend, user_id: str) -> list[SessionInfo]:
        """The live sessions of ``user_id``, most recently used first.

        One Query per page of the user index, then one BatchGetItem per 100 sessions for their expiry, creation
        time and label. Expired sessions, and those moved to another user since the index was read, are left out.
        On DynamoDB the index is eventually consistent: a session created a moment ago may be missing for a moment.
        """
        index = self.require("list_sessions()")
        user_key = self.mapper.user_key_for(user_id)
        keys = await self._keys(backend, index, user_key)
        names = self.mapper.names
        attributes = (names.hash_key, names.expires, names.created, names.label, names.user)
        items: list[Item] = []
        for start in range(0, len(keys), BATCH_GET_KEYS):
            pending = keys[start : start + BATCH_GET_KEYS]
            for attempt in range(self.batch_attempts):
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
        sessions = [info for item in items if (info := self.mapper.to_info(item, user_key, now)) is not None]
        sessions.sort(key=lambda info: info.expires_at, reverse=True)
        return sessions

    async def revoke(self, backend: Backend, key: str, user_id: str | None) -> bool:
        """End one session by its handle, of ``user_id`` only when given; whether a live session ended."""
        if not isinstance(key, str) or not key:
            raise ValueError("a session key must be a non-empty string (SessionInfo.key)")
        user_key = None if user_id is None else self.mapper.user_key_for(user_id)
        return await self._remove_live(backend, key, user_key, time.time())

    async def revoke_user(self, backend: Backend, user_id: str, keep: str | None) -> int:
        """End every session of ``user_id`` but the session id ``keep``; how many live sessions ended.

        One Query per page of the user index, then one conditional PutItem of a tombstone per session (16 at a time;
        a DeleteItem with a shared layout), each only if the session still belongs to that user. On DynamoDB the
        index is eventually consistent: a session created less than about a second before may survive; a second
        call a moment later ends it.
        """
        index = self.require("revoke_user()")
        user_key = self.mapper.user_key_for(user_id)
        kept = None if keep is None else self.mapper.key_for(keep)
        keys = [key for key in await self._keys(backend, index, user_key) if key != kept]
        limit = asyncio.Semaphore(REVOKE_CONCURRENCY)
        now = time.time()

        async def end(key: str) -> bool:
            async with limit:
                return await self._remove_live(backend, key, user_key, now)

        return sum(await asyncio.gather(*(end(key) for key in keys)))

    async def _remove_live(self, backend: Backend, key: str, user_key: str | None, now: float) -> bool:
        """One PutItem of a logout's tombstone, or a DeleteItem without one (of ``user_key``'s session only, when
        given); whether it ended a live session. The tombstone, like a logout's, keeps a late, retried create of the
        session from bringing it back."""
        replacement = None
        if self.tombstone_seconds is not None:
            replacement = self.mapper.tombstone_at(key, math.ceil(now + self.tombstone_seconds), logged_out=True)
        return self.mapper.was_live(await backend.remove(key, user_key=user_key, replacement=replacement), now)

    async def _keys(self, backend: Backend, index: str, user_key: str) -> list[str]:
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
