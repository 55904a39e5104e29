"""The two session payloads the benchmarks store: small (about 200 B of JSON) and large (about 20 KB)."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["PAYLOADS", "encoded_size", "large_session", "small_session"]


def small_session() -> dict[str, Any]:
    """A typical logged-in session: user, roles, CSRF token, a one-line cart, a counter. About 200 B as JSON."""
    return {
        "user_id": 48213,
        "name": "Ada Lovelace",
        "roles": ["editor", "billing"],
        "csrf": "9f86d081884c7d659a2feaa0c55ad015",
        "cart": [{"sku": "B-1042", "qty": 2}],
        "count": 0,
        "last_seen": 1793491200.25,
        "locale": "en-GB",
    }


def large_session() -> dict[str, Any]:
    """A heavy session (a cart of 136 lines, recently viewed items, flash messages). About 20 KB as JSON."""
    data = small_session()
    data["cart"] = [
        {
            "sku": f"SKU-{i:05d}",
            "name": f"Product number {i} with a descriptive title",
            "qty": 1 + i % 4,
            "price_cents": 1999 + 37 * i,
            "options": {"colour": ["red", "green", "blue"][i % 3], "size": ["S", "M", "L", "XL"][i % 4]},
        }
        for i in range(136)
    ]
    data["recently_viewed"] = [f"/catalogue/item/{1000 + i}" for i in range(40)]
    data["flash"] = ["Your basket was updated."] * 3
    return data


PAYLOADS: dict[str, dict[str, Any]] = {"small": small_session(), "large": large_session()}
"""The payloads by the name used in the results (``"small"``, ``"large"``)."""


def encoded_size(data: dict[str, Any]) -> int:
    """The size in bytes of ``data`` as compact JSON."""
    return len(orjson.dumps(data))
