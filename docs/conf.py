"""Sphinx configuration of the documentation site: ``make docs`` builds it into docs/_build/html.

The pages are Markdown (MyST), so that they read on GitHub as they do on the site; the API reference is built from
the docstrings by autodoc. Public names are documented where users import them: the package's top level
(``tornado_dynasession.DynamoDBStore``) and the public modules (``tornado_dynasession.asgi``, ...). A docstring or a
type hint that names the module a name is defined in is pointed at that documented name (``resolve_reexport`` below).
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this clone's package, whether installed or not

import tornado_dynasession  # noqa: E402

project = "tornado_dynasession"
author = "the tornado_dynasession authors"
copyright = "the tornado_dynasession authors, Apache-2.0"
release = version = tornado_dynasession.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

html_theme = "furo"
html_title = "tornado_dynasession"

myst_heading_anchors = 3  # [text](store.md#sign-out-everywhere), as on GitHub
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options: dict[str, object] = {}

# A reference to anything of ours must resolve (nitpicky); the types of the libraries we build on are not
# documented here, so references to them are left as plain text.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(tornado|web|_asyncio|secrets|sanic|starlette|fastapi|aiohttp|aiobotocore|botocore|aiodynamo|opentelemetry|cryptography|"
        r"zstandard|orjson|pytest|_pytest|types_aiobotocore_dynamodb|asyncio|collections|typing|typing_extensions|"
        r"enum|dataclasses|datetime|pathlib|subprocess|socket|logging|http|json|types|contextlib|abc|os|re)(\..*)?",
    ),
    # typing names, and the third-party types, as type hints name them
    (r"py:.*", r"(Any|Self|Unpack|Iterable|Literal|Sanic|DynamoDBClient|AiodynamoClient|TracerProvider|MeterProvider)"),
    # the package's type aliases and option dicts, which are spelled out where they are used
    (r"py:.*", r"(.*\.)?(ItemValue|Item|Scope|Message|Receive|Send|ASGIApp|Layout|LayoutName|TransportName|CookieSecret)"),
    (r"py:.*", r"(.*\.)?(SessionOptions|CookieInstruction|StoreTelemetry|traced|F)"),
    # the modules inside the package, and the backends' internals, which are not part of its API
    (r"py:mod", r"tornado_dynasession\.(adapters|errors|session|policy|store|records|layouts|users|items)(\..*)?"),
    (r"py:mod", r"tornado_dynasession\.(express|codec|codecs|tools)(\..*)?"),
    (r"py:.*", r"(tornado_dynasession\.backends\.)?(wire|transport|_expressions|aiodynamo|sigv4|factory)\..*"),
]

# Modules whose names are documented on the API page, top level first: a name defined elsewhere is documented here.
DOCUMENTED_MODULES = (
    "tornado_dynasession",
    "tornado_dynasession.sanic",
    "tornado_dynasession.mixin",
    "tornado_dynasession.asgi",
    "tornado_dynasession.aiohttp_web",
    "tornado_dynasession.backends",
    "tornado_dynasession.telemetry",
    "tornado_dynasession.local",
    "tornado_dynasession.pytest_plugin",
)


def _object_at(path: str) -> Any:
    """The object a dotted path names (a module, then attributes), or None."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                value = getattr(value, attribute)
        except AttributeError:
            return None
        return value
    return None


def _documented_name(target: str) -> str | None:
    """``target`` (``tornado_dynasession.store.DynamoDBStore.get``) as the documented name of the same object
    (``tornado_dynasession.DynamoDBStore.get``), or None."""
    if not target.startswith("tornado_dynasession."):
        return None
    parts = target.split(".")
    for split in range(len(parts), 1, -1):  # the longest prefix that is a re-exported object
        obj = _object_at(".".join(parts[:split]))
        if obj is None or isinstance(obj, type(sys)):
            continue
        for module_name in DOCUMENTED_MODULES:
            module = importlib.import_module(module_name)
            for name in getattr(module, "__all__", ()):
                if name == parts[split - 1] and getattr(module, name, None) is obj:
                    candidate = ".".join([module_name, name, *parts[split:]])
                    if candidate != target:
                        return candidate
    return None


def resolve_reexport(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """A reference to ``tornado_dynasession.<module>.Name`` resolves to the documented re-export of ``Name``."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if target.startswith("tornado_dynasession."):
        candidates = [_documented_name(target)]
    else:  # a short name, as a docstring writes one in its own module: the public name it is
        module = node.get("py:module") or ""
        candidates = [_documented_name(f"{module}.{target}")] if module.startswith("tornado_dynasession") else []
        candidates += [f"{documented}.{target}" for documented in DOCUMENTED_MODULES]
    domain = env.get_domain("py")
    for candidate in filter(None, candidates):
        found = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], candidate, node, contnode)
        if found is not None:
            return found
    return None


def point_at_the_results(app: Any, relative_path: Path, parent_docname: str, content: list[str]) -> None:
    """benchmarks/README.md links its chart and figures as ``results/...``: from docs/, they are in the clone's
    benchmarks/results/ (its ``results/*.md`` pages are docs/results/, which include them)."""
    if relative_path.as_posix().endswith("benchmarks/README.md"):
        content[0] = re.sub(r"\]\(results/([^)]+\.(?:png|json))\)", r"](../benchmarks/results/\1)", content[0])


def setup(app: Any) -> None:
    app.connect("missing-reference", resolve_reexport)
    app.connect("include-read", point_at_the_results)
