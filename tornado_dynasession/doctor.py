"""The table health check, importable from its former path (:mod:`tornado_dynasession.tools.doctor`)."""

from .tools.doctor import *  # noqa: F403 (every public name, as it is there)
from .tools.doctor import __all__ as __all__
