"""The command line's error reporting, importable from its former path (:mod:`tornado_dynasession.tools.cli_errors`)."""

from .tools.cli_errors import FAILURE, USAGE, CliError, check_endpoint, report

__all__ = ["FAILURE", "USAGE", "CliError", "check_endpoint", "report"]
