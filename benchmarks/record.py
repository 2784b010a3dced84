"""Results files: what a benchmark run measured, with the commit and machine it ran on.

A benchmark called with ``--record`` writes ``benchmarks/results/<name>.json``::

    {"benchmark": "benchmarks/security.py", "commit": "<sha1>", "date": "YYYY-MM-DD",
     "machine": "...", "how": "...", "results": {...}}

``benchmarks/design_table.py`` builds DESIGN.md's figures table from these files only,
so a figure in DESIGN.md is always one that a named run on a named commit measured.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

__all__ = ["RESULTS", "record", "load"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _commit() -> str:
    """HEAD's sha1, with ``+changes`` when the work tree differs from it."""
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()

    sha = git("rev-parse", "HEAD") or "unknown"
    return sha + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def record(name: str, results: dict, benchmark: str, how: str = "", folder: Path = RESULTS) -> Path:
    """Write ``<folder>/<name>.json`` (default ``benchmarks/results``) for `results` measured now, on this checkout."""
    data = {
        "benchmark": benchmark,
        "commit": _commit(),
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "how": how,
        "results": results,
    }
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def load(name: str, folder: Path = RESULTS) -> dict:
    """The results file `name` (without ``.json``) from `folder`."""
    return json.loads((Path(folder) / f"{name}.json").read_text())
