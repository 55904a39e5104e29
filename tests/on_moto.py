"""Run pytest with every test's DynamoDB server being moto in server mode: ``python -m tests.on_moto [pytest args]``.

The store's conformance suite runs on dynalite by default; moto is the second target (it has the TTL API and
returns the old item with a failed condition, as DynamoDB does). ``DYNAMODB_ENDPOINT`` is how the package's pytest
plugin is aimed at any server, so this only starts moto and sets it.
"""

from __future__ import annotations

import os
import sys

import pytest

from tornado_dynasession.local import MotoServer


def main(argv: list[str]) -> int:
    """Start moto on a free 127.0.0.1 port, point ``DYNAMODB_ENDPOINT`` at it, run pytest with ``argv``."""
    with MotoServer() as server:
        os.environ["DYNAMODB_ENDPOINT"] = server.endpoint_url
        print(f"moto in server mode at {server.endpoint_url}", flush=True)
        return int(pytest.main(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
