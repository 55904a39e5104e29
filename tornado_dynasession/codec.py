"""The codecs, importable from their former path; they live in :mod:`tornado_dynasession.codecs`."""

from .codecs import *  # noqa: F403 (every public name, as it is there)
from .codecs import __all__ as __all__
