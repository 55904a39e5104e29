"""The command line's errors, importable from their former path (:mod:`tornado_dynasession.tools.cli_errors`)."""

from .tools.cli_errors import *  # noqa: F403 (every public name, as it is there)
from .tools.cli_errors import __all__ as __all__
