"""Tornado sessions: :class:`SessionMixin` (defined in :mod:`tornado_dynasession.adapters.tornado`)."""

from .adapters.tornado import SessionMixin, policy_from_settings

__all__ = ["SessionMixin", "policy_from_settings"]
