"""The lowest-bounds job really ran at the lowest bounds.

For every pin of .ci/lowest-constraints.txt: pyproject.toml states exactly that version as the package's lower bound
(wherever it names the package), and `pip freeze` of this interpreter's environment shows exactly that version
installed. Prints one line per pin; exits 1 on any disagreement.

Run by the lowest venv's Python (3.10, which has no tomllib): pyproject's requirement strings are found by a pattern.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / ".ci" / "lowest-constraints.txt"
PYPROJECT = ROOT / "pyproject.toml"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def same_version(a: str, b: str) -> bool:
    """6.3 == 6.3.0, as pip compares them."""
    return re.sub(r"(\.0)+$", "", a) == re.sub(r"(\.0)+$", "", b)


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            found[canonical(name)] = version.strip()
    return found


def pyproject_bounds(name: str) -> set[str]:
    """Every ``>=`` bound pyproject.toml gives ``name`` ("sanic>=24.12", "moto[server]>=5", ...)."""
    pattern = rf'"{re.escape(name)}(?:\[[^\]]*\])?>=([0-9][0-9.]*)[",;]'
    return set(re.findall(pattern, PYPROJECT.read_text(encoding="utf-8"), flags=re.IGNORECASE))


def installed() -> dict[str, str]:
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all"], check=True, capture_output=True, text=True
    ).stdout
    return {
        canonical(name): version for name, sep, version in (line.partition("==") for line in freeze.splitlines()) if sep
    }


def main() -> int:
    versions = installed()
    problems: list[str] = []
    print(f"lowest bounds on Python {platform.python_version()} (pip freeze):")
    for name, pin in pins().items():
        bounds = pyproject_bounds(name)
        have = versions.get(name, "not installed")
        print(f"  {name:<14} pyproject >={'/'.join(sorted(bounds)) or '?':<9} installed {have}")
        if not bounds:
            problems.append(f"{name}: pinned in {CONSTRAINTS.name} but pyproject.toml gives it no >= bound")
        elif not all(same_version(bound, pin) for bound in bounds):
            problems.append(f"{name}: pinned {pin} but pyproject.toml says >={', >='.join(sorted(bounds))}")
        if name not in versions:
            problems.append(f"{name}: not installed, so nothing ran against the pinned {pin}")
        elif not same_version(have, pin):
            problems.append(f"{name}: {have} is installed, not the pinned {pin}")
    for problem in problems:
        print(f"!! {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
