"""The benchmark runner as a user of the clone starts it: from any folder, with its dependencies from the ``bench``
extra (a missing one is one line naming the extra), and a report in which a missed target is a measured gap."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cost import one_call_targets
from benchmarks.report import _one_call_markdown

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"

# Runs the benchmarks folder as a script, as `python path/to/benchmarks` does, with `rich` refused by the importer.
WITHOUT_RICH = """
import importlib.abc, runpy, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "rich" or name.startswith("rich."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
sys.argv = [sys.argv[1], "--help"]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("argv", "folder"),
    [
        (["-m", "benchmarks"], ROOT),
        ([str(BENCHMARKS)], ROOT / "tests"),
        (["../benchmarks"], ROOT / "examples"),
        ([str(BENCHMARKS)], Path("/")),
    ],
    ids=["module-from-the-top-folder", "folder-from-tests", "relative-folder-from-examples", "folder-from-root"],
)
def test_the_runner_starts_from_any_folder(argv: list[str], folder: Path) -> None:
    result = run([sys.executable, *argv, "--help"], folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m benchmarks")


def test_a_missing_dependency_is_one_line_naming_the_bench_extra(tmp_path: Path) -> None:
    result = run([sys.executable, "-c", WITHOUT_RICH, str(BENCHMARKS)], tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "benchmarks: rich is not installed. The benchmarks' dependencies come with the bench extra: "
        'pip install -e ".[bench]" in the clone\'s top folder'
    ]


def test_the_bench_extra_brings_every_third_party_module_the_benchmarks_import() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()  # read as text: tomllib is Python 3.11+
    extra = re.search(r"^bench = \[(.*?)^\]", pyproject, re.MULTILINE | re.DOTALL)
    assert extra is not None, "pyproject.toml has no bench extra"
    names = {name.lower() for name in re.findall(r'^\s*"([A-Za-z0-9_.-]+)', extra[1], re.MULTILINE)}
    assert {"rich", "matplotlib", "aiodynamo", "aiocache-dynamodb", "opentelemetry-sdk"} <= names


def test_a_missed_target_reads_as_a_measured_gap_not_a_failure() -> None:
    row = {"connections": 32, "store_calls_per_request": {"UpdateItem": 1.0}}
    e2e = [
        {**row, "case": "no-session", "requests_per_s": 1000.0, "store_calls_per_request": {}},
        {**row, "case": "session-read", "requests_per_s": 50.0},  # far below its requests/s target
    ]
    report = "\n".join(_one_call_markdown(one_call_targets(e2e)))
    assert "| target met? |" in report
    assert "missed (a measured gap)" in report
    assert "**no**" not in report and "not met" not in report
