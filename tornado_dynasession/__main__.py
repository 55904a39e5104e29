"""``python -m tornado_dynasession``: the command line (:mod:`tornado_dynasession.tools.cli`)."""

import sys

from .tools.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
