"""DynamoDB's billing rules, by which the metrics and the benchmarks count request units.

Units are computed from item sizes by DynamoDB's published rules, since the emulators bill nothing and a write whose
condition fails is billed too: a GetItem costs a read unit per started 4 KB of the item it returns (at least 1; half
for an eventually consistent read); a write costs a write unit per started KB of the item (at least 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["READ_UNIT_BYTES", "WRITE_UNIT_BYTES", "item_bytes", "read_units", "write_units"]

READ_UNIT_BYTES = 4096
"""A read unit reads up to this many bytes of an item (strongly consistent)."""
WRITE_UNIT_BYTES = 1024
"""A write unit writes up to this many bytes of an item."""


def read_units(size: int | None, *, consistent: bool = True) -> float:
    """Read units of a GetItem returning an item of ``size`` bytes (None or 0: a missing item still costs 1)."""
    units = max(1, math.ceil((size or 0) / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def write_units(size: int | None) -> int:
    """Write units of a write whose larger item (before or after) is ``size`` bytes; at least 1."""
    return max(1, math.ceil((size or 0) / WRITE_UNIT_BYTES))


def _number_bytes(value: int | float) -> int:
    text = str(value).lstrip("-").rstrip("0") if type(value) is int else repr(value).lstrip("-").replace(".", "")
    return 1 + (len(text.strip("0") or "0") + 1) // 2


def item_bytes(item: Mapping[str, object] | None) -> int | None:
    """An item's size as DynamoDB bills it, from the plain values that cross the backend seam (str for S, int or
    float for N, bytes for B): each attribute name's UTF-8 bytes, plus a string's UTF-8 bytes, a binary's bytes, or
    a number's 1 byte per two significant digits plus 1. None for no item, or one holding any other type."""
    if not item:
        return None
    size = 0
    for name, value in item.items():
        size += len(name) if name.isascii() else len(name.encode())
        # Exact types: a bool is not a number here, and the seam carries no subclasses.
        if type(value) is str:
            size += len(value) if value.isascii() else len(value.encode())
        elif type(value) is int or type(value) is float:
            size += _number_bytes(value)
        elif type(value) is bytes or type(value) is bytearray:
            size += len(value)
        else:
            return None
    return size
