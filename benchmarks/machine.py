"""What the figures were measured on: the machine, the Python and package versions, the DynamoDB server."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["PACKAGES", "describe_machine", "describe_server"]

PACKAGES = (
    "tornado_dynasession",
    "tornado",
    "aiobotocore",
    "botocore",
    "orjson",
    "aiodynamo",
    "aiohttp",
    "httpx",
    "aiocache-dynamodb",
)
"""The packages whose versions the results record."""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _virtualised() -> bool:
    try:
        return " hypervisor" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe_machine(name: str | None = None) -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python and package versions. ``name`` labels the machine in the report
    (default: a description built from the CPU, the core count and whether it is a VM)."""
    cores = os.cpu_count() or 1
    cpu = _cpu_model()
    virtual = _virtualised()
    memory = _memory_gib()
    default_name = f"{cores}-core {'VM' if virtual else 'machine'}, {cpu}" + (f", {memory:g} GiB" if memory else "")
    return {
        "name": name or default_name,
        "cpu": cpu,
        "cores": cores,
        "virtualised": virtual,
        "memory_gib": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": {package: _version(package) for package in PACKAGES},
    }


def describe_server(endpoint_url: str, *, embedded: bool) -> dict[str, Any]:
    """The DynamoDB server: the embedded dynalite with its version and node's, or the ``--endpoint`` given."""
    if not embedded:
        return {"name": "external", "version": None, "endpoint": endpoint_url}
    from tornado_dynasession.local import find_dynalite

    version = None
    with contextlib.suppress(OSError, ValueError):
        version = json.loads((find_dynalite().parent / "package.json").read_text()).get("version")
    node = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    return {
        "name": "dynalite",
        "version": version,
        "endpoint": endpoint_url,
        "storage": "in memory",
        "node": node,
    }
