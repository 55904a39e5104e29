"""Ending the ids a request gave up, once its own write is done: the tombstone of the id a login replaced, or a
logout's. Each is written only on the version the request read (on a newer one when another request wrote
meanwhile), so a tombstone answered 503 that lands late never ends the changes acknowledged after it, and a write
racing the login or logout never keeps the old id alive.
"""

from __future__ import annotations

import logging

from .. import telemetry
from ..errors import SessionConflictError, SessionStoreError, StoreUnavailableError
from ..records import Emptied, SessionRecord
from ..store import DynamoDBStore

__all__ = ["end_old_id"]

logger = logging.getLogger("tornado_dynasession")


async def end_old_id(
    store: DynamoDBStore, old_id: str, record: SessionRecord, *, until: int | None, attempts: int
) -> None:
    """Replace ``old_id``, read as ``record``, by a login's tombstone expiring at ``until`` (epoch seconds), or with
    ``until`` None by a logout's. Raises :class:`SessionConflictError` when other requests wrote the id ``attempts``
    times meanwhile, and :class:`StoreUnavailableError` when the store failed and the old id is known unchanged."""
    current: SessionRecord | Emptied = record
    for _ in range(attempts):
        if until is not None:
            ended = await _supersede(store, old_id, until, current)
        else:
            ended = await store.log_out(old_id, previous=current)
        if ended:
            return
        found = await store.lookup(old_id)
        if not isinstance(found, (SessionRecord, Emptied)):
            return  # ended meanwhile
        current = found
    telemetry.note_conflict(store)
    ending = "replaced its id at login" if until is not None else "logged it out"
    raise SessionConflictError(
        f"session {store.fingerprint(old_id)} was written by other requests {attempts} times while this request "
        f"{ending}; it was not ended. Retry the request."
    )


async def _supersede(store: DynamoDBStore, old_id: str, until: int, previous: SessionRecord | Emptied) -> bool:
    """The tombstone of the id a login replaced; False when the id no longer holds ``previous``.

    When the store fails, the tombstone may still have landed (its answer lost, and its retry failed). A look-up
    tells: superseded already, the login is done; still at that version, the failure stands (503, and the browser
    keeps its session); at a newer one, the tombstone is written again on it. When the look-up fails too, the login
    carries on and sends the new cookie all the same, with a warning: answering 503 would leave the browser a cookie
    that a landed tombstone makes read as replaced, on which every change it makes is dropped for the superseded
    grace period. The old id then keeps, at worst, its pre-login data (never the login) until it expires.
    """
    try:
        return await store.supersede(old_id, until=until, previous=previous)
    except StoreUnavailableError as exc:
        try:
            found = await store.lookup(old_id)
        except SessionStoreError:
            logger.warning(
                "login of session %s: the store did not confirm the old id's tombstone (%s); the login goes on",
                store.fingerprint(old_id),
                exc,
            )
            return True
        if isinstance(found, (SessionRecord, Emptied)) and found.version == previous.version:
            raise
        return not isinstance(found, (SessionRecord, Emptied))
