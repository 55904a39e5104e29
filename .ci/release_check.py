"""Release check: the sdist and the wheel we would upload are complete, and the wheel works on its own.

What it proves, in order:

1. ``python -m build`` makes the sdist, then the wheel from that sdist (so the sdist is enough to build from), into
   a temporary folder. The checkout is left as it was: no ``build/``, ``dist/`` or new ``*.egg-info``.
2. The sdist holds README.md, CHANGELOG.md, pyproject.toml and the package with its ``py.typed``; the wheel holds
   ``py.typed``, the ``pytest11`` entry point that gives users our fixtures, and no tests.
3. A clean venv (``--python``, default python3; no extras, no dev tools) installs the wheel with only its runtime
   dependencies, and imports the package from that venv, not from the checkout.
4. That installed package's own CLI, ``python -m tornado_dynasession local --table sessions``, starts dynalite (the
   checkout's ``node_modules``) and prints its ``export DYNAMODB_ENDPOINT=`` line.
5. The README's Tornado example, the block tests/test_readme.py serves as its TORNADO example, runs from the clean venv
   against that endpoint. The first request is answered "visits: 1" with a session cookie; the example is then
   restarted, and the same cookie gets "visits: 2": the session was stored in DynamoDB and read back. A request
   without the cookie gets "visits: 1" again.

Both processes are stopped whatever happens (Ctrl-C and SIGTERM included); the CLI must exit 0 when stopped.
Standard library only: it runs under the dev venv's Python (for ``build``) and drives the clean venv's.

Usage: python .ci/release_check.py [--python python3]    (make release-check)
"""

from __future__ import annotations

import argparse
import ast
import configparser
import contextlib
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "tornado_dynasession"
DYNALITE_CLI = ROOT / "node_modules" / "dynalite" / "cli.js"
TABLE = "sessions"  # the table the README's examples use
EXAMPLE_PORT = 8888  # the port the README's Tornado example listens on
README_TEST = ROOT / "tests" / "test_readme.py"  # its TORNADO marker names the Tornado example's block
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[ \t]*$")  # as in tests/test_readme.py
START_TIMEOUT = 60.0  # seconds for the CLI or the example to come up


class CheckFailed(Exception):
    """One thing the release would get wrong; the message says what."""


def step(message: str) -> None:
    print(f"-- {message}", flush=True)


def run(argv: list[str], cwd: Path | None = None) -> str:
    """Run a command to completion: its output, or CheckFailed with that output."""
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise CheckFailed(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


# -- 1, 2: build and inspect ---------------------------------------------------------------------------------------


def build(outdir: Path) -> tuple[Path, Path]:
    """The sdist and the wheel built from it, in ``outdir``; removes what the build left in the checkout."""
    leftovers = [ROOT / "build", ROOT / "dist", ROOT / f"{PACKAGE}.egg-info"]
    existed = {path for path in leftovers if path.exists()}
    try:
        run([sys.executable, "-m", "build", "--outdir", str(outdir), str(ROOT)])
    finally:
        for path in leftovers:
            if path not in existed and path.exists():
                shutil.rmtree(path)
    sdists, wheels = sorted(outdir.glob("*.tar.gz")), sorted(outdir.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        raise CheckFailed(f"expected one sdist and one wheel in {outdir}, found {sdists + wheels}")
    return sdists[0], wheels[0]


def check_sdist(sdist: Path) -> None:
    top = sdist.name.removesuffix(".tar.gz")
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
    required = ["README.md", "CHANGELOG.md", "pyproject.toml", f"{PACKAGE}/__init__.py", f"{PACKAGE}/py.typed"]
    missing = [name for name in required if f"{top}/{name}" not in names]
    if missing:
        raise CheckFailed(f"the sdist {sdist.name} lacks {', '.join(missing)}")


def check_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points_file = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
        entry_points = configparser.ConfigParser()
        if entry_points_file:
            entry_points.read_string(archive.read(entry_points_file).decode())
    problems = []
    if f"{PACKAGE}/py.typed" not in names:
        problems.append(f"{PACKAGE}/py.typed is missing (type checkers would ignore our annotations)")
    if entry_points.get("pytest11", PACKAGE, fallback=None) != f"{PACKAGE}.pytest_plugin":
        problems.append(f"the pytest11 entry point {PACKAGE} = {PACKAGE}.pytest_plugin is missing")
    if any(name.startswith("tests/") for name in names):
        problems.append("it ships our tests/ as a top-level package")
    if problems:
        raise CheckFailed(f"the wheel {wheel.name}: " + "; ".join(problems))


# -- 3: a clean venv -----------------------------------------------------------------------------------------------


def clean_venv(base_python: str, venv: Path, wheel: Path, cwd: Path) -> Path:
    """A new venv with the wheel and its runtime dependencies only; its python."""
    run([base_python, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)])
    run([str(python), "-m", "pip", "check", "--disable-pip-version-check"])
    freeze = run([str(python), "-m", "pip", "freeze", "--disable-pip-version-check"]).splitlines()
    print(f"   installed: {' '.join(line for line in freeze if not line.startswith(PACKAGE))}", flush=True)
    location = run([str(python), "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"], cwd=cwd).strip()
    if not Path(location).is_relative_to(venv):
        raise CheckFailed(f"the clean venv imports {PACKAGE} from {location}, not from the installed wheel")
    return python


# -- 4, 5: the CLI's dynalite and the README's example --------------------------------------------------------------


def tornado_marker() -> str:
    """tests/test_readme.py's ``TORNADO`` marker, read from its source: both always pick the same README block."""
    for node in ast.parse(README_TEST.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "TORNADO" for t in node.targets):
            return str(ast.literal_eval(node.value))
    raise CheckFailed(f"{README_TEST} has no TORNADO = '...' marker for the README's Tornado example")


def readme_tornado_example() -> str:
    """The one ```python block of README.md with tests/test_readme.py's Tornado marker, dedented to its fence."""
    blocks: list[str] = []
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        i += 1
        if not fence or not fence["lang"]:
            continue
        indent, body = fence["indent"], []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        i += 1
        if fence["lang"] == "python":
            blocks.append("\n".join(body) + "\n")
    marker = tornado_marker()
    found = [code for code in blocks if marker in code]
    if len(found) != 1:
        raise CheckFailed(f"expected one ```python block of README.md with {marker!r}, found {len(found)}")
    return found[0]


def echo_lines(process: subprocess.Popen[str], label: str) -> queue.Queue[str]:
    """Print the process's output lines as they come, labelled; they also arrive on the returned queue."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            print(f"   {label} | {line.rstrip()}", flush=True)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


Started = tuple[subprocess.Popen[str], queue.Queue[str]]


def start(argv: list[str], cwd: Path, env: dict[str, str], label: str) -> Started:
    """Start a process whose output is echoed, labelled (see echo_lines)."""
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return process, echo_lines(process, label)


def stop(process: subprocess.Popen[str]) -> int:
    """SIGTERM, then SIGKILL after 10 s; the exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def local_dynalite(python: Path, cwd: Path) -> Iterator[str]:
    """``python -m tornado_dynasession local`` with a ``sessions`` table; yields the endpoint it prints."""
    if not DYNALITE_CLI.is_file():
        raise CheckFailed(f"{DYNALITE_CLI} is missing: run `npm ci` (or `make setup`) in the checkout")
    env = dict(os.environ, DYNALITE_PATH=str(DYNALITE_CLI), PYTHONUNBUFFERED="1")
    env.pop("DYNAMODB_ENDPOINT", None)
    argv = [str(python), "-m", PACKAGE, "local", "--port", str(free_port()), "--table", TABLE]
    command = " ".join(argv[1:])
    process, lines = start(argv, cwd, env, "local")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        endpoint = None
        while endpoint is None:
            if process.poll() is not None and lines.empty():
                raise CheckFailed(f"`{command}` exited ({process.returncode}) before printing the endpoint")
            if time.monotonic() > deadline:
                raise CheckFailed(f"`{command}` printed no `export DYNAMODB_ENDPOINT=` line in {START_TIMEOUT}s")
            with contextlib.suppress(queue.Empty):
                line = lines.get(timeout=0.2)
                if line.startswith("export DYNAMODB_ENDPOINT="):
                    endpoint = line.split("=", 1)[1].strip()
        yield endpoint
    finally:
        status = stop(process)
    if status != 0:
        raise CheckFailed(f"`{command}` exited {status} when stopped with SIGTERM, not 0")


@contextlib.contextmanager
def example_app(python: Path, script: Path, endpoint: str) -> Iterator[None]:
    """The README example running from the clean venv until it answers on its port; stopped afterwards."""
    if port_answers(EXAMPLE_PORT):
        raise CheckFailed(f"port {EXAMPLE_PORT} is in use: the README's Tornado example listens there; free it")
    env = dict(os.environ, DYNAMODB_ENDPOINT=endpoint, PYTHONUNBUFFERED="1")
    process, _ = start([str(python), script.name], script.parent, env, "example")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not port_answers(EXAMPLE_PORT):
            if process.poll() is not None:
                raise CheckFailed(f"the README's Tornado example exited ({process.returncode}) before listening")
            if time.monotonic() > deadline:
                raise CheckFailed(f"the README's Tornado example did not listen on {EXAMPLE_PORT} in {START_TIMEOUT}s")
            time.sleep(0.1)
        yield
    finally:
        stop(process)


def get(cookie: str | None = None) -> tuple[int, str, str | None]:
    """GET / on the example, sending ``cookie`` if given: status, body and Set-Cookie."""
    request = urllib.request.Request(f"http://127.0.0.1:{EXAMPLE_PORT}/", headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers.get("Set-Cookie")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), exc.headers.get("Set-Cookie")


def expect(actual: tuple[int, str], wanted: tuple[int, str], what: str) -> None:
    if actual != wanted:
        raise CheckFailed(f"{what}: expected {wanted}, got {actual}")


def prove_a_session_round_trips(python: Path, script: Path, endpoint: str) -> None:
    with example_app(python, script, endpoint):
        status, body, set_cookie = get()
    expect((status, body), (200, "visits: 1"), "a first visit")
    if not set_cookie or not set_cookie.startswith("session="):
        raise CheckFailed(f"a first visit set no session cookie (Set-Cookie: {set_cookie})")
    cookie = set_cookie.split(";", 1)[0]
    with example_app(python, script, endpoint):  # a new process: only DynamoDB remembers the count
        status, body, _ = get(cookie)
        expect((status, body), (200, "visits: 2"), "a second visit with the cookie, after a restart")
        status, body, _ = get()
        expect((status, body), (200, "visits: 1"), "a visit without the cookie")


# -- main ------------------------------------------------------------------------------------------------------------


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the context managers, which stop the child processes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default="python3", help="the interpreter of the clean venv (default python3)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix=f"{PACKAGE}-release-") as tmp:
            work = Path(tmp)
            step("building the sdist, then the wheel from it (python -m build)")
            sdist, wheel = build(work / "dist")
            step(f"checking {sdist.name} and {wheel.name}")
            check_sdist(sdist)
            check_wheel(wheel)
            step(f"installing the wheel alone in a clean venv ({args.python})")
            run_dir = work / "run"  # outside the checkout: `import tornado_dynasession` finds the installed copy
            run_dir.mkdir()
            python = clean_venv(args.python, work / "venv", wheel, run_dir)
            script = run_dir / "app.py"
            script.write_text(readme_tornado_example(), encoding="utf-8")
            step(f"python -m {PACKAGE} local --table {TABLE}, then the README's Tornado example on :{EXAMPLE_PORT}")
            with local_dynalite(python, run_dir) as endpoint:
                prove_a_session_round_trips(python, script, endpoint)
    except CheckFailed as exc:
        print(f"!! release check failed: {exc}", file=sys.stderr)
        return 1
    step(f"release check passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
