"""The security report: hostile input, hostile requests and crash recovery, in one run.

    .venv/bin/python benchmarks/security.py [--only parsers,service,recovery] [--json FILE]

Runs the three parts and prints one table:

- ``parsers`` (benchmarks/security_parsers.py): fuzz cases fed to the CIF, POSCAR,
  extxyz and pymatgen-dict parsers and through the service's materials route, the
  failures among them (anything but a clear matfold error or a 4xx), and the time
  and memory each memory-bomb input of the issue costs before it is refused;
- ``service`` (benchmarks/security_service.py): hostile requests through a real hub
  and the 5xx among them, another user's concurrent success rate meanwhile, how
  long a revoked token and a deleted user keep working, and reordered Stripe events
  that end on the wrong plan;
- ``recovery`` (benchmarks/security_recovery.py): kill -9 of Postgres until the
  service is healthy again, kill -9 of the launcher until the last process is gone,
  a restart after the crash, and a Ctrl-C stop.

Every part starts its own servers on 127.0.0.1 and stops them. Exit code 1 when a
count that must be zero is not.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = ("parsers", "service", "recovery")
#: Keys whose value must be 0 for the report to pass.
MUST_BE_ZERO = ("failures", "server_errors", "wrong_plans", "orphans")


def _load(part: str):
    path = HERE / f"security_{part}.py"
    spec = importlib.util.spec_from_file_location(f"security_{part}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(prefix: str, value, out: list[tuple[str, object]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _rows(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out.append((prefix, value))


def _bad(rows) -> list[str]:
    return [key for key, value in rows
            if key.rsplit(".", 1)[-1] in MUST_BE_ZERO and isinstance(value, (int, float)) and value != 0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts to run")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    wanted = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(wanted) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    results: dict[str, dict] = {}
    for part in wanted:
        print(f"security: running {part} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        results[part] = _load(part).run()
        results[part]["wall_s"] = round(time.perf_counter() - start, 1)
    rows: list[tuple[str, object]] = []
    _rows("", results, rows)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        shown = f"{value:.3g}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    bad = _bad(rows)
    print(f"\nsecurity: {'FAILED: ' + ', '.join(bad) + ' not zero' if bad else 'all must-be-zero counts are 0'}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
