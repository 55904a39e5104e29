"""The session and its policy, importable from their former path; they live in :mod:`tornado_dynasession.policy`."""

from .policy import *  # noqa: F403 (every public name, as it is there)
from .policy import __all__ as __all__
