"""What the user index costs: write units per operation, with and without it, from real items.

``python -m benchmarks.user_index [--output-dir DIR]`` stores a session the way the session policy does, once without
a user and once with ``session.user_id`` and a label, on a table that has the user index (a dynalite started for the
run, or ``$DYNAMODB_ENDPOINT``), reads each item back, and applies DynamoDB's billing rules to the sizes:

- a table write costs 1 write unit per started KB of the larger of the item before and after (:func:`write_units`);
- a global secondary index is written only when the write adds, removes or changes its key or an attribute it
  projects. The user index projects keys only, so a write that keeps ``UserID`` costs it nothing; one that adds or
  removes the session from it costs one index write of the entry's size (both keys plus 100 bytes of overhead);
  a changed user costs two (the old entry out, the new one in).

The emulators do not bill, so the units are computed, never read from a server; the item sizes are real.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

from tornado_dynasession import DynamoDBStore, create_table
from tornado_dynasession.local import dynamodb_endpoint
from tornado_dynasession.tables import delete_table

from .cost import PRICES, WRITE_UNIT_BYTES, seam_item_bytes, usd_per_million_requests, write_units

INDEX = "UserIndex"
INDEX_ENTRY_OVERHEAD_BYTES = 100
SESSION = {"user": "alice", "cart": [{"sku": "A-100", "qty": 2}], "theme": "dark", "csrf": "x" * 43}
LABEL = "Firefox 133 on Linux"


def index_units(table_key: str, user_key: str | None) -> int:
    """Write units of adding (or removing) one entry of the keys-only user index."""
    if user_key is None:
        return 0
    size = len(b"SessionID") + len(table_key.encode()) + len(b"UserID") + len(user_key.encode())
    return math.ceil((size + INDEX_ENTRY_OVERHEAD_BYTES) / WRITE_UNIT_BYTES)


async def measure(endpoint: str) -> dict[str, Any]:
    """The rows of the report: each operation, without and with a user, in write units and dollars."""
    table = f"user-index-bench-{time.time_ns()}"
    await create_table(table, endpoint_url=endpoint, user_index=INDEX)
    try:
        async with DynamoDBStore(table, endpoint_url=endpoint, user_index=INDEX) as store:
            backend = await store._ready()
            now = int(time.time())
            sizes: dict[str, int] = {}
            user_keys: dict[str, str | None] = {}
            for case, user in (("without a user", None), ("with a user", "alice@example.com")):
                sid = f"bench-{case}"
                await store.save(sid, SESSION, expires_at=now + 300, created_at=now, user_id=user, label=LABEL)
                item = await backend.get(store.key_for(sid), consistent_read=True)
                size = seam_item_bytes(item)
                assert item is not None and size is not None
                sizes[case] = size
                user_key = item.get("UserID")
                user_keys[case] = user_key if isinstance(user_key, str) else None
            key = store.key_for("bench-with a user")
    finally:
        await delete_table(table, endpoint_url=endpoint)

    rows = []
    for case in ("without a user", "with a user"):
        table_units = write_units(sizes[case])
        entry = index_units(key, user_keys[case])
        operations = [
            ("new session (a sign-in)", table_units, entry),
            ("touch (a read that slides Expires)", table_units, 0),
            ("data change (same user)", table_units, 0),
            ("regenerate (new id, old id tombstoned)", 2 * table_units, 2 * entry),
            ("logout or revoke", table_units, entry),
        ]
        for operation, table_write, index_write in operations:
            rows.append(
                {
                    "case": case,
                    "operation": operation,
                    "item_bytes": sizes[case],
                    "table_write_units": table_write,
                    "index_write_units": index_write,
                    "usd_per_million": round(usd_per_million_requests(0, table_write + index_write), 4),
                }
            )
    return {"what": __doc__.split("\n\n", 1)[0], "prices": PRICES.region, "rows": rows}


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown page."""
    lines = [
        "# What the user index costs",
        "",
        "Write units per operation on a session with and without `session.user_id`, on a table with the user index",
        "(keys only). Item sizes are real (stored on dynalite and read back); units follow DynamoDB's billing rules,",
        f"dollars use on-demand prices in {report['prices']}.",
        "",
        "| session | operation | item bytes | table write units | index write units | $ per million |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['case']} | {row['operation']} | {row['item_bytes']} | {row['table_write_units']} | "
            f"{row['index_write_units']} | {row['usd_per_million']:.3f} |"
        )
    lines += [
        "",
        "A touch writes the same units with the index as without: it changes only `Expires`, which the index does not",
        "project. The index costs one write unit when a session enters it (sign-in) and one when it leaves it (logout,",
        "revoke, or the old id at a regenerate). Sessions without a user never enter it.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure, print the Markdown, and write ``user-index.json`` and ``user-index.md`` to ``--output-dir``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.user_index", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    with dynamodb_endpoint() as endpoint:
        report = asyncio.run(measure(endpoint))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "user-index.json").write_text(json.dumps(report, indent=2) + "\n")
    page = markdown(report)
    (args.output_dir / "user-index.md").write_text(page)
    print(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
