"""The development server, importable from its former path (:mod:`tornado_dynasession.tools.local`)."""

from .tools.local import (
    DYNALITE_VERSION,
    DynaliteServer,
    LocalServer,
    LocalServerError,
    MotoServer,
    dynamodb_endpoint,
    find_dynalite,
)

__all__ = [
    "DYNALITE_VERSION",
    "DynaliteServer",
    "LocalServer",
    "LocalServerError",
    "MotoServer",
    "dynamodb_endpoint",
    "find_dynalite",
]
