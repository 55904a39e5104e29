"""``make demo``: start the embedded DynamoDB server, create the table, serve the Tornado demo until Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tornado_app import serve

from tornado_dynasession import SessionStoreError, create_table
from tornado_dynasession.local import dynamodb_endpoint


async def main(endpoint_url: str, port: int) -> None:
    """Create the table with the user index (idempotent) and serve."""
    user_index: str | None = "UserIndex"
    try:
        setup = await create_table("sessions", endpoint_url=endpoint_url, user_index=user_index)
    except SessionStoreError as exc:  # an existing table the server cannot add the index to
        print(f"{exc}\nserving without the 'your sessions' page")
        setup, user_index = await create_table("sessions", endpoint_url=endpoint_url), None
    print(f"table 'sessions' {'created' if setup.created else 'exists'} at {endpoint_url}")
    await serve(endpoint_url, table="sessions", port=port, user_index=user_index)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8888"))
    with dynamodb_endpoint() as endpoint:
        try:
            asyncio.run(main(endpoint, port))
        except KeyboardInterrupt:
            print("\nstopped; the embedded DynamoDB server is shut down")
