"""The table health check, importable from its former path (:mod:`tornado_dynasession.tools.doctor`)."""

from .tools.doctor import Check, diagnose, summary

__all__ = ["Check", "diagnose", "summary"]
