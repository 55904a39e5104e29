"""How a session item is laid out when the table is shared with an express-session store: the presets, and the
rules express-session's item form brings with it (the key prefix, the constant attributes, the ``cookie`` object it
keeps in every session).

The other half of the Express interop, its signed cookie value, is in :mod:`tornado_dynasession.express`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .backends import AttributeNames

__all__ = [
    "EXPRESS_COOKIE_KEY",
    "LAYOUTS",
    "Layout",
    "LayoutName",
    "express_cookie_object",
    "resolve_naming",
]

EXPRESS_COOKIE_KEY = "cookie"
"""The key under which express-session keeps its cookie object in the session's JSON."""


@dataclass(frozen=True, slots=True)
class Layout:
    """How another store lays out its items, so that both read and write the same sessions (``layout=``).

    A layout is a naming preset: it supplies the store's attribute names and keys items by the session id itself
    (``hash_ids=False``), as the Node stores do.

    :param name: the preset's name.
    :param hash_key: the hash key attribute; it holds the session id itself (with ``key_prefix``), never a digest.
    :param expires: the expiry attribute (N, epoch seconds).
    :param session: the session attribute (S, JSON text).
    :param key_prefix: put before the session id in the hash key (connect-dynamodb's ``sess:``).
    :param constants: attributes written as they are on every item (connect-dynamodb's ``type``).
    :param express_cookie: the JSON holds express-session's ``cookie`` object: hidden from the session's data,
        and kept in step with the expiry on every write (:func:`express_cookie_object`).
    """

    name: str
    hash_key: str
    expires: str
    session: str
    key_prefix: str = ""
    constants: tuple[tuple[str, str], ...] = ()
    express_cookie: bool = True

    @property
    def names(self) -> AttributeNames:
        """The store's attribute names under this layout."""
        return AttributeNames(hash_key=self.hash_key, expires=self.expires, session=self.session)

    def with_cookie(
        self, data: Mapping[str, Any], base: Mapping[str, Any] | None, *, expires_at: int, max_age_seconds: float
    ) -> Mapping[str, Any]:
        """The session's data as this layout stores it: with express-session's cookie object, when it keeps one.

        A session that uses the cookie key itself is a ValueError: that key belongs to express-session.
        """
        if not self.express_cookie:
            return data
        if EXPRESS_COOKIE_KEY in data:
            raise ValueError(
                f'session["{EXPRESS_COOKIE_KEY}"] is express-session\'s own key in the {self.session} JSON of the '
                f"{self.name} layout: store the value under another key"
            )
        cookie = express_cookie_object(base, expires_at=expires_at, max_age_seconds=max_age_seconds)
        return {**data, EXPRESS_COOKIE_KEY: cookie}

    def without_cookie(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """Take express-session's cookie object out of the decoded ``data`` (in place), and return it; None when the
        layout keeps none or the session has none."""
        cookie = data.pop(EXPRESS_COOKIE_KEY, None) if self.express_cookie else None
        return cookie if isinstance(cookie, dict) else None


LayoutName = Literal["express-dynamodb", "connect-dynamodb"]

LAYOUTS: dict[str, Layout] = {
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


def express_cookie_object(base: Mapping[str, Any] | None, *, expires_at: int, max_age_seconds: float) -> dict[str, Any]:
    """The ``cookie`` object to store in a session for express-session, in step with the item's expiry.

    express-session reads ``originalMaxAge`` (milliseconds), ``expires`` (an ISO 8601 date), ``httpOnly`` and
    ``path`` from it; the other fields an Express app wrote (``secure``, ``sameSite``, ``domain``) are kept.
    """
    cookie = dict(base) if base else {"httpOnly": True, "path": "/"}
    cookie["originalMaxAge"] = round(max_age_seconds * 1000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(expires_at))
    cookie["expires"] = f"{stamp}.000Z"  # JavaScript's Date.prototype.toJSON
    return cookie


def resolve_naming(
    layout: Layout | str | None, names: AttributeNames | None, hash_ids: bool | None
) -> tuple[Layout | None, AttributeNames, bool]:
    """The store's layout, attribute names and ``hash_ids`` from its options.

    A layout supplies the names of the hash key, expiry and session attributes and ``hash_ids=False``. ``names``
    may add the other attributes' names, but naming any of those three differently, or ``hash_ids=True``, is a
    ValueError: the layout would no longer match the Node store's items.
    """
    if isinstance(layout, str):
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(map(repr, LAYOUTS))} or a Layout, got {layout!r}")
        layout = LAYOUTS[layout]
    if names is not None and not isinstance(names, AttributeNames):
        raise TypeError(f"names must be an AttributeNames, not {type(names).__name__}")
    if layout is None:
        return None, names or AttributeNames(), True if hash_ids is None else hash_ids
    if hash_ids:
        raise ValueError(
            f"layout={layout.name!r} keys items by the session id itself, as the Node store does: drop hash_ids=True"
        )
    preset = layout.names
    if names is None:
        return layout, preset, False
    for field in ("hash_key", "expires", "session"):
        if getattr(names, field) != getattr(preset, field):
            raise ValueError(
                f"layout={layout.name!r} names the {field} attribute {getattr(preset, field)!r}, but names= says "
                f"{getattr(names, field)!r}: drop it from names=, or pass names= without a layout"
            )
    return layout, names, False
