"""``python -m benchmarks`` from the clone's top folder, or ``python path/to/the/clone/benchmarks`` from any folder:
see :mod:`benchmarks.cli`. Its dependencies come with the package's ``bench`` extra; a missing one is one line that
says so, not a traceback."""

import sys
from pathlib import Path

if not __package__:  # run as a folder (python path/to/benchmarks): import it as the package from its clone
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

try:
    from benchmarks.cli import main
except ModuleNotFoundError as exc:
    missing = (exc.name or "").split(".")[0]
    if missing in ("", "benchmarks"):
        raise
    sys.exit(
        f"benchmarks: {missing} is not installed. The benchmarks' dependencies come with the bench extra: "
        'pip install -e ".[bench]" in the clone\'s top folder'
    )

raise SystemExit(main())
