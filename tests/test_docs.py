"""Every ```python block of the documentation pages (docs/) runs as written, as the README's do.

Each block compiles. The store snippet, the observability example and the pytest example run as programs, and the
Tornado, Sanic, FastAPI, aiohttp and sign-out-everywhere examples are served, against the test session's DynamoDB
server through ``$DYNAMODB_ENDPOINT``, on a table named ``sessions`` as the pages say; the quick start's curl session
runs against its Tornado example. A block preceded by ``<!-- fragment -->`` is only compiled, and every other block
must be run by a test here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tornado.httpclient
import tornado.httpserver
import tornado.web
from tornado.testing import bind_unused_port

from tornado_dynasession import DynamoDBStore

from .doc_blocks import (
    ROOT,
    RUN_TIMEOUT,
    Block,
    check_the_sanic_example,
    check_the_tornado_example,
    get,
    program_env,
    python_blocks,
    run_curl_session,
    run_program,
    section_blocks,
    serving,
    sessions_table_on,
)
from .support import free_port
from .test_readme import (
    AIOHTTP,
    CURL,
    FASTAPI,
    OBSERVABILITY,
    PREPARE,
    PYTEST,
    SANIC,
    SHELL_BLOCKS,
    SIGN_OUT,
    STORE,
    TORNADO,
)
from .test_readme import README as README_PATH

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))


def page_blocks(language: str) -> list[Block]:
    blocks: list[Block] = []
    for page in PAGES:
        source = page.relative_to(ROOT).as_posix()
        blocks += python_blocks(page.read_text(encoding="utf-8"), language, source)
    return blocks


BLOCKS = page_blocks("python")
DOC_SHELL_BLOCKS = page_blocks("sh")
# the several-process recipes of the operations page, run by tests/test_processes.py
TORNADO_RECIPE = "fork_processes(2)"
SANIC_RECIPE = "workers=2)"
RUN = (TORNADO, SANIC, FASTAPI, AIOHTTP, STORE, PREPARE, PYTEST, SIGN_OUT, OBSERVABILITY, TORNADO_RECIPE, SANIC_RECIPE)
"""The marker of each block a test runs (here, or in tests/test_processes.py for the recipes)."""


def doc_block(marker: str, page: str, blocks: list[Block] = BLOCKS) -> Block:
    """The one block of docs/``page`` that contains ``marker`` (and no other page has it)."""
    found = [b for b in blocks if marker in b.code and not b.fragment]
    assert [b.source for b in found] == [f"docs/{page}"], f"expected one block with {marker!r} in docs/{page}: {found}"
    return found[0]


@pytest.fixture(scope="module")
def sessions_table(dynamodb_endpoint: str) -> Iterator[str]:
    """The ``sessions`` table the pages' programs use, as the quick start's ``local`` command makes it."""
    with sessions_table_on(dynamodb_endpoint) as table:
        yield table


def test_the_docs_have_pages_with_blocks() -> None:
    assert DOCS / "index.md" in PAGES and len(BLOCKS) >= len(RUN)


@pytest.mark.parametrize("doc_block_", BLOCKS, ids=[f"{b.source}:{b.line}" for b in BLOCKS])
def test_every_block_compiles(doc_block_: Block) -> None:
    compile(doc_block_.code, f"{doc_block_.source}:{doc_block_.line}", "exec")


@pytest.mark.parametrize("doc_block_", BLOCKS, ids=[f"{b.source}:{b.line}" for b in BLOCKS])
def test_every_block_is_run_by_a_test(doc_block_: Block) -> None:
    if doc_block_.fragment:
        return  # only compiled, by its mark
    runs = [marker for marker in RUN if marker in doc_block_.code]
    assert len(runs) == 1, (
        f"{doc_block_.source}:{doc_block_.line} is run by no test (or by several): give it a test in "
        "tests/test_docs.py with a marker of its own, or mark it <!-- fragment --> if a user would not run it as is"
    )


def test_the_quick_start_installs_as_the_tested_readme_does() -> None:
    page = [b for b in DOC_SHELL_BLOCKS if b.source == "docs/quickstart.md"]
    quick_start = section_blocks(DOCS / "quickstart.md", "## Install", page)
    readme = section_blocks(README_PATH, "## Install", SHELL_BLOCKS)
    assert [b.code for b in quick_start] == [b.code for b in readme]  # the README's are run by its install test


def test_store_snippet_runs(dynamodb_endpoint: str, sessions_table: str, tmp_path: Path) -> None:
    result = run_program(doc_block(STORE, "store.md").code, dynamodb_endpoint, tmp_path)
    assert "{'user': 'alice'}" in result.stdout
    assert "Absence.MISSING" in result.stdout


def test_observability_example_prints_spans_without_the_session_id(
    dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    result = run_program(doc_block(OBSERVABILITY, "operations.md").code, dynamodb_endpoint, tmp_path)
    assert '"name": "get sessions"' in result.stdout and '"db.system.name": "aws.dynamodb"' in result.stdout
    assert "{'user': 'alice'}" in result.stdout
    assert "an-example-session-id" not in result.stdout


def test_the_quick_start_tornado_example_serves_on_the_port_it_prints(
    dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    check_the_tornado_example(doc_block(TORNADO, "quickstart.md").code, dynamodb_endpoint, tmp_path, free_port())


def test_the_quick_start_curl_session_answers_as_its_comments_say(
    dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    port = free_port()
    with serving(doc_block(TORNADO, "quickstart.md").code, port, tmp_path, dynamodb_endpoint):
        run_curl_session(doc_block(CURL, "quickstart.md", DOC_SHELL_BLOCKS).code, port, tmp_path)


def test_the_sanic_page_example_serves_on_the_port_it_prints(
    dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    check_the_sanic_example(doc_block(SANIC, "sanic.md").code, dynamodb_endpoint, tmp_path, free_port())


def test_sign_out_everywhere_example_lists_devices_and_ends_the_others(
    dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    laptop = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    phone = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())

    def call(opener: urllib.request.OpenerDirector, path: str, form: dict[str, str] | None = None) -> Any:
        data = None if form is None else urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(f"http://127.0.0.1:8888{path}", data=data, headers={"User-Agent": path})
        try:
            with opener.open(request, timeout=10) as response:
                body = response.read().decode()
                return json.loads(body) if body else response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    with serving(doc_block(SIGN_OUT, "sign-out.md").code, 8888, tmp_path, dynamodb_endpoint):
        assert call(laptop, "/login", {"user": "alice"}) == 200
        assert call(phone, "/login", {"user": "alice"}) == 200
        devices = call(laptop, "/devices")["sessions"]
        assert len(devices) == 2 and sum(device["this"] for device in devices) == 1
        assert call(laptop, "/sign-out-others", {}) == {"ended": 1}
        assert call(phone, "/devices") == 403
        assert [device["this"] for device in call(laptop, "/devices")["sessions"]] == [True]


@pytest.mark.parametrize(("marker", "port"), [(FASTAPI, 8001), (AIOHTTP, 8002)], ids=["fastapi", "aiohttp"])
def test_fastapi_and_aiohttp_examples_serve(
    marker: str, port: int, dynamodb_endpoint: str, sessions_table: str, tmp_path: Path
) -> None:
    with serving(doc_block(marker, "frameworks.md").code, port, tmp_path, dynamodb_endpoint):
        status, body, cookie = get(f"http://127.0.0.1:{port}/")
        health = get(f"http://127.0.0.1:{port}/health")
    assert (status, body) == (200, "visits: 1")
    assert cookie and cookie.startswith("session=")
    assert health == (200, "ok", None)


async def test_prepare_snippet_redirects_to_login(dynamodb_endpoint: str, dynamodb_table: str) -> None:
    namespace: dict[str, object] = {"__name__": "docs_prepare"}
    exec(compile(doc_block(PREPARE, "tornado.md").code, "docs/tornado.md", "exec"), namespace)
    handler = namespace["Account"]
    assert isinstance(handler, type) and issubclass(handler, tornado.web.RequestHandler)
    async with DynamoDBStore(dynamodb_table, endpoint_url=dynamodb_endpoint) as store:
        app = tornado.web.Application([(r"/", handler)], session_store=store, cookie_secret="s" * 32)
        sock, port = bind_unused_port()
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets([sock])
        client = tornado.httpclient.AsyncHTTPClient()
        try:
            response = await client.fetch(
                f"http://127.0.0.1:{port}/", follow_redirects=False, raise_error=False, request_timeout=10
            )
        finally:
            server.stop()
            await server.close_all_connections()
    assert response.code == 302
    assert response.headers["Location"] == "/login"


def test_pytest_example_passes(dynamodb_endpoint: str, tmp_path: Path) -> None:
    (tmp_path / "test_sessions.py").write_text(doc_block(PYTEST, "testing.md").code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_sessions.py"],
        cwd=tmp_path,
        env=program_env(dynamodb_endpoint),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "asyncio_default_fixture_loop_scope" not in result.stdout + result.stderr  # the plugin hides the notice
