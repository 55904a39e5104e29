"""Start and stop an embedded DynamoDB-compatible server on 127.0.0.1: dynalite (npm), or moto in server mode.

For development, tests, the demo and the benchmarks. DynamoDB Local is deliberately not supported here: its licence
rules it out for this project. When ``DYNAMODB_ENDPOINT`` is set, :func:`dynamodb_endpoint` starts nothing.

The child process never outlives us: on Linux it gets a parent-death signal, and :meth:`LocalServer.stop`, an
``atexit`` hook and the context manager all stop it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = [
    "DYNALITE_VERSION",
    "DynaliteServer",
    "LocalServer",
    "LocalServerError",
    "MotoServer",
    "dynamodb_endpoint",
    "find_dynalite",
]

DYNALITE_VERSION = "4.0.0"


class LocalServerError(RuntimeError):
    """The embedded server could not be found or started; the message says what to run."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def find_dynalite() -> Path:
    """The dynalite CLI script: ``$DYNALITE_PATH`` (which must exist when set), else ``node_modules/dynalite`` in
    or above the current directory or this package's checkout. Raises :class:`LocalServerError` saying what to
    install."""
    explicit = os.environ.get("DYNALITE_PATH")
    if explicit:
        if Path(explicit).is_file():
            return Path(explicit)
        # An explicit setting that points nowhere is a mistake to report, not a hint to silently look elsewhere.
        raise LocalServerError(
            f"DYNALITE_PATH={explicit} is not a file: point it at dynalite's cli.js, or unset it and run `npm ci` "
            f"in the tornado_dynasession checkout (or `npm install dynalite@{DYNALITE_VERSION}` in your project)."
        )
    candidates: list[Path] = []
    for base in (Path.cwd(), Path(__file__).resolve().parent):
        candidates.extend(parent / "node_modules" / "dynalite" / "cli.js" for parent in (base, *base.parents))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise LocalServerError(
        f"dynalite is not installed: run `npm ci` in the tornado_dynasession checkout (or "
        f"`npm install dynalite@{DYNALITE_VERSION}` in your project), set DYNALITE_PATH to its cli.js, or set "
        "DYNAMODB_ENDPOINT to a running DynamoDB-compatible server."
    )


class LocalServer:
    """A DynamoDB-compatible server in a child process on 127.0.0.1; use as a (sync) context manager."""

    name = "server"

    def __init__(self, *, port: int | None = None, startup_timeout: float = 30.0) -> None:
        self.port = port or _free_port()
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The argv that starts the server."""
        raise NotImplementedError

    def start(self) -> LocalServer:
        """Start the server and wait until it answers HTTP; raises :class:`LocalServerError` on failure."""
        if self.process is not None and self.process.poll() is None:
            return self
        argv = self.command()
        # A file, not a pipe: a server that logs every request (moto does) would fill a pipe nobody reads, then hang.
        stderr = self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        except FileNotFoundError as exc:
            stderr.close()
            raise LocalServerError(f"cannot start the {self.name}: {exc.filename} is not installed") from exc
        atexit.register(self.stop)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr.seek(0)
                err = stderr.read()[-4000:].decode(errors="replace")
                stderr.close()
                self.process = None
                raise LocalServerError(f"the {self.name} exited at start-up ({' '.join(argv)}):\n{err.strip()}")
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise LocalServerError(f"the {self.name} did not answer on {self.endpoint_url} within {self.startup_timeout} s")

    def _answers(self) -> bool:
        request = urllib.request.Request(self.endpoint_url, data=b"{}", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=1.0):
                return True
        except urllib.error.HTTPError:
            return True  # any HTTP answer (400 without auth, 404) means it is up
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s); safe to call twice."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if self._stderr is not None:
            self._stderr.close()

    def kill(self) -> None:
        """Kill the server at once with SIGKILL, as a crash would (for outage tests)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=5)
        self.stop()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class DynaliteServer(LocalServer):
    """dynalite: in memory, or on disk (LevelDB) under ``path`` so that data survives a restart."""

    name = "dynalite server"

    def __init__(
        self, *, path: str | os.PathLike[str] | None = None, port: int | None = None, startup_timeout: float = 30.0
    ) -> None:
        super().__init__(port=port, startup_timeout=startup_timeout)
        self.path = None if path is None else Path(path)

    def command(self) -> list[str]:
        """``node dynalite/cli.js --host 127.0.0.1 --port P --createTableMs 0 ... [--path DIR]``."""
        node = shutil.which("node")
        if node is None:
            raise LocalServerError(
                "node is not installed: install Node.js 18 or newer (Debian: apt-get install nodejs)"
            )
        argv = [node, str(find_dynalite()), "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            argv += ["--path", str(self.path)]
        return argv


class MotoServer(LocalServer):
    """moto in server mode (PyPI ``moto[server]``): slow, but it has the TTL and transaction APIs."""

    name = "moto server"

    def command(self) -> list[str]:
        """``python -m moto.server -H 127.0.0.1 -p P``."""
        try:
            import moto  # noqa: F401
        except ImportError as exc:
            raise LocalServerError('moto is not installed: pip install "moto[server]"') from exc
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]


@contextlib.contextmanager
def dynamodb_endpoint(*, path: str | os.PathLike[str] | None = None) -> Iterator[str]:
    """Yield ``$DYNAMODB_ENDPOINT`` if set, else the endpoint of a dynalite started for the duration."""
    configured = os.environ.get("DYNAMODB_ENDPOINT")
    if configured:
        yield configured
        return
    with DynaliteServer(path=path) as server:
        yield server.endpoint_url
