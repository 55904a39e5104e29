"""Start and stop ``tests.process_app`` as a program of its own (in its own process group, with its forks)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .support import free_port

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0  # seconds for a fresh process to listen; generous, the machine is shared


@dataclass
class AppProcess:
    """A running ``tests.process_app``: its process (the parent of any forks), URL and log."""

    framework: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _log: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def signal_group(self, signum: signal.Signals) -> None:
        """Send ``signum`` to the process and its forks (they share its process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if it has not exited within ``timeout`` seconds."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to the group, then SIGKILL if it has not ended within ``timeout`` seconds."""
        if self.process.poll() is None:
            self.signal_group(signal.SIGTERM)
            if self.wait(timeout) is None:
                self.signal_group(signal.SIGKILL)
                self.process.wait(timeout=timeout)
        self._log.close()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_app_process(
    framework: str, *, endpoint: str, table: str, log_dir: Path, processes: int = 1, options: tuple[str, ...] = ()
) -> AppProcess:
    """Run ``python -m tests.process_app`` until it listens; ``options`` are extra command-line options."""
    port = free_port()
    log_path = log_dir / f"{framework}-{port}.log"
    log = log_path.open("wb")
    command = [sys.executable, "-m", "tests.process_app", framework, "--port", str(port)]
    command += ["--table", table, "--endpoint", endpoint, "--processes", str(processes), *options]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("PYTEST_ADDOPTS", None)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    app = AppProcess(framework, process, port, log_path, log)
    deadline = time.monotonic() + START_TIMEOUT
    # Each serving process says so once it serves (a Sanic worker still starting would die on an early SIGTERM).
    while not _listening(port) or app.log().count("serving:") < processes:
        if process.poll() is not None or time.monotonic() > deadline:
            app.stop()
            raise AssertionError(f"{framework} app did not start serving on {port}:\n{app.log()}")
        time.sleep(0.1)
    return app


async def wait_until_serving(app: AppProcess, get: Any, path: str = "/read") -> None:
    """Poll ``get(path)`` until it answers 200 (a Sanic worker may still be starting after the port is bound)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            reply = await get(path, cookies={}, timeout=5.0)
            if reply.status == 200:
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{app.framework} app does not answer {path}:\n{app.log()}")
        await asyncio.sleep(0.2)
