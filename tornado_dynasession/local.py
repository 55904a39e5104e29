"""The development server, importable from its former path (:mod:`tornado_dynasession.tools.local`)."""

from .tools.local import *  # noqa: F403 (every public name, as it is there)
from .tools.local import __all__ as __all__
