"""Sanic sessions: :class:`Sessions` (defined in :mod:`tornado_dynasession.adapters.sanic`).

Needs ``pip install "tornado_dynasession[sanic]"``.
"""

from .adapters.sanic import LOAD_PRIORITY, SAVE_PRIORITY, Sessions

__all__ = ["LOAD_PRIORITY", "SAVE_PRIORITY", "Sessions"]
