"""Creating and deleting the table, importable from its former path (:mod:`tornado_dynasession.tools.tables`)."""

from .tools.tables import *  # noqa: F403 (every public name, as it is there)
from .tools.tables import __all__ as __all__
