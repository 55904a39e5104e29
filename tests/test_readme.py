"""Every ```python block of README.md runs as written.

The blocks are taken from the README in order by a small parser (tests/doc_blocks.py). Each one compiles; the
Tornado and Sanic examples are served, as programs, against the test session's DynamoDB server, through
``$DYNAMODB_ENDPOINT`` as a user would, on a table named ``sessions`` as the README says, and the README's curl
session runs against the Tornado example. The install commands run in a new virtual environment. A block preceded by
``<!-- fragment -->`` is only compiled. The blocks of the documentation pages (docs/) are tested by
tests/test_docs.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .doc_blocks import (
    RUN_TIMEOUT,
    Block,
    check_the_sanic_example,
    check_the_tornado_example,
    python_blocks,
    run_curl_session,
    section_blocks,
    serving,
    sessions_table_on,
)
from .support import free_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

BLOCKS = python_blocks(README.read_text(encoding="utf-8"))
SHELL_BLOCKS = python_blocks(README.read_text(encoding="utf-8"), "sh")


def block(marker: str, blocks: list[Block] = BLOCKS, language: str = "python") -> Block:
    """The one README block (```python unless told) that contains ``marker``."""
    found = [b for b in blocks if marker in b.code]
    assert len(found) == 1, f"expected one ```{language} block of README.md containing {marker!r}, found {len(found)}"
    return found[0]


def shell_block(marker: str) -> Block:
    """The one ```sh block of the README that contains ``marker``."""
    return block(marker, SHELL_BLOCKS, "sh")


# The markers that find a block (in the README here, and in the docs pages in tests/test_docs.py).
TORNADO = 'self.write(f"visits: '
SIGN_OUT = "revoke_user("
OBSERVABILITY = "ConsoleSpanExporter"
SANIC = "single_process=True"  # the one-process example; the several-process recipe has workers=2
STORE = "store.lookup("
PREPARE = "async def prepare("
PYTEST = "dynamodb_table"
FASTAPI = "app.add_middleware(SessionMiddleware"
AIOHTTP = "tornado_dynasession.aiohttp_web import"
CURL = "curl -s -b jar -c jar"  # the curl session against the Tornado example


@pytest.fixture(scope="module")
def sessions_table(dynamodb_endpoint: str) -> Iterator[str]:
    """The ``sessions`` table the README's programs use, as the README's ``local`` command makes it."""
    with sessions_table_on(dynamodb_endpoint) as table:
        yield table


def test_readme_has_the_expected_blocks() -> None:
    for marker in (TORNADO, SANIC):
        block(marker)
    shell_block(CURL)


@pytest.mark.parametrize("readme_block", BLOCKS, ids=[f"line{b.line}" for b in BLOCKS])
def test_every_block_compiles(readme_block: Block) -> None:
    compile(readme_block.code, f"README.md:{readme_block.line}", "exec")


def test_every_block_is_run_by_a_test() -> None:
    runs = [b for b in BLOCKS if not b.fragment]
    assert {b.line for b in runs} == {block(TORNADO).line, block(SANIC).line}, (
        "a README ```python block that no test runs: serve or run it in this file, or mark it <!-- fragment -->"
    )


def test_tornado_example_serves_on_the_port_it_prints(
    dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    check_the_tornado_example(block(TORNADO).code, dynamodb_endpoint, tmp_path, free_port())


def test_the_curl_session_against_the_tornado_example_answers_as_its_comments_say(
    dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    port = free_port()
    with serving(block(TORNADO).code, port, tmp_path, dynamodb_endpoint):
        run_curl_session(shell_block(CURL).code, port, tmp_path)


def test_sanic_example_serves_on_the_port_it_prints(
    dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    check_the_sanic_example(block(SANIC).code, dynamodb_endpoint, tmp_path, free_port())


# -- Install: the commands run in a new virtual environment, on a copy of the clone --------------------------------

INSTALL_TIMEOUT = 900.0  # seconds for the whole install test: pip downloads, builds the wheel, installs it


def copy_of_the_clone(destination: Path) -> Path:
    """The files of this clone as git sees them (tracked, and new ones not ignored), copied to ``destination``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is left out
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def run_commands(code: str, cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", "-e", "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
    )
    assert result.returncode == 0, f"{code}\n{result.stdout}\n{result.stderr}"


def imported_from(python: Path, cwd: Path) -> Path:
    """Where ``python`` imports the package from (with Sanic's extra: importing the Sanic adapter)."""
    code = "import tornado_dynasession.sanic, tornado_dynasession; print(tornado_dynasession.__file__)"
    result = subprocess.run([str(python), "-c", code], cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip()).resolve()


@pytest.mark.timeout(INSTALL_TIMEOUT)
def test_the_install_commands_install_from_the_clone_and_from_a_built_wheel(tmp_path: Path) -> None:
    editable, wheel = section_blocks(README, "## Install", SHELL_BLOCKS)
    clone = copy_of_the_clone(tmp_path / "clone")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=RUN_TIMEOUT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv))
    elsewhere = tmp_path / "elsewhere"  # not the clone, so that only the installed package can be imported
    elsewhere.mkdir()

    run_commands(editable.code, clone, env)
    assert imported_from(venv / "bin" / "python", elsewhere).is_relative_to(clone.resolve())

    # The two ways are alternatives: the same environment serves both (for the dependencies' download time), with
    # the editable install removed first, as pip would otherwise find the requirement already met.
    run_commands("python -m pip uninstall --yes tornado_dynasession", clone, env)
    run_commands(wheel.code, clone, env)
    installed = imported_from(venv / "bin" / "python", elsewhere)
    assert installed.is_relative_to(venv.resolve()) and "site-packages" in installed.parts
