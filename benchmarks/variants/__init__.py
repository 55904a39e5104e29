"""The variants: each module registers its classes in :data:`~benchmarks.variants.base.REGISTRY` on import.

A new variant module must be imported here; its class's ``order`` places it in the outputs.
"""

from __future__ import annotations

from . import aiocache_dynamodb_cache, aiodynamo_client, raw_aiobotocore, raw_http, store
from .base import (
    REGISTRY,
    BenchContext,
    BenchError,
    BenchSession,
    MissingSessionError,
    Variant,
    default_aioconfig,
    is_loopback,
    open_aiobotocore_client,
    ordered,
    register,
    store_aioconfig,
)

__all__ = [
    "REGISTRY",
    "BenchContext",
    "BenchError",
    "BenchSession",
    "MissingSessionError",
    "Variant",
    "aiocache_dynamodb_cache",
    "aiodynamo_client",
    "default_aioconfig",
    "is_loopback",
    "open_aiobotocore_client",
    "ordered",
    "raw_aiobotocore",
    "raw_http",
    "register",
    "store",
    "store_aioconfig",
]
