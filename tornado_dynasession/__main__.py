"""The command line: ``python -m tornado_dynasession create-table --table NAME [...]``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from .errors import ConfigurationError, SessionStoreError
from .tables import create_table


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tornado_dynasession", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create-table", help="create an on-demand session table, wait for ACTIVE, enable TTL on Expires"
    )
    create.add_argument("--table", required=True, help="table name")
    create.add_argument("--hash-key", default="SessionID", help="hash key attribute (type S); default SessionID")
    create.add_argument("--endpoint-url", default=None, help="DynamoDB endpoint; default $DYNAMODB_ENDPOINT, then AWS")
    create.add_argument("--region", default=None, help="AWS region")
    args = parser.parse_args(argv)

    try:
        setup = asyncio.run(
            create_table(args.table, hash_key=args.hash_key, endpoint_url=args.endpoint_url, region_name=args.region)
        )
    except (SessionStoreError, ConfigurationError) as exc:
        print(f"create-table failed: {exc}", file=sys.stderr)
        return 1
    print(f"table {setup.table!r}: {'created' if setup.created else 'already exists with this key'}, ACTIVE")
    if setup.ttl == "unsupported":
        print("TTL: this server has no TTL API; expired items are still never served (the store checks Expires)")
    else:
        print(f"TTL on Expires: {setup.ttl}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
