"""The security report: hostile input, hostile requests and crash recovery, in one run.

    .venv/bin/python benchmarks/security.py [--only parsers,service,recovery] [--json FILE] [--record]

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
check of :data:`CHECKS` fails (a failure or 5xx counted, a revocation slower than
5 s, an orphan left). ``--record`` also writes ``benchmarks/results/security.json`` (with the
commit; DESIGN.md's figures table is built from it by ``benchmarks/design_table.py``).
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
#: What each part must show: (key in its results, test, the bound in words).
CHECKS = {
    "parsers": (("total_cases", lambda v: v >= 10_000, ">= 10,000"),
                ("total_failures", lambda v: v == 0, "0")),
    "service": (("hostile_5xx", lambda v: v == 0, "0"),
                ("hostile_unexpected", lambda v: v == 0, "0"),
                ("normal_success", lambda v: v == 1.0, "1.0"),
                ("revoked_token_s", lambda v: v <= 5, "<= 5 s"),
                ("deleted_user_s", lambda v: v <= 5, "<= 5 s"),
                ("billing_wrong", lambda v: v == 0, "0")),
    "recovery": (("postgres_kill_to_healthy_s", lambda v: v is not None, "recovers"),
                 ("launcher_kill_to_last_gone_s", lambda v: v is not None and v <= 10, "<= 10 s"),
                 ("orphans_after_launcher_kill", lambda v: v == 0, "0")),
}


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


def _bad(results: dict) -> list[str]:
    bad = []
    for part, checks in CHECKS.items():
        if part not in results:
            continue
        for key, test, bound in checks:
            value = results[part].get(key)
            try:
                passed = test(value)
            except TypeError:
                passed = False
            if not passed:
                bad.append(f"{part}.{key} = {value!r} (must be {bound})")
    return bad


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated parts to run")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/security.json")
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
    shown = {part: {k: v for k, v in r.items() if k != "examples"} for part, r in results.items()}
    _rows("", shown, rows)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        shown = f"{value:.3g}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    bad = _bad(results)
    print(f"\nsecurity: {'FAILED: ' + '; '.join(bad) if bad else 'every check passed'}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    if args.record:
        sys.path.insert(0, str(HERE))
        from record import record

        # a run of every part is security.json; a run of some parts records each one on its own
        # (security_recovery.json, ...), and the table takes the newer file for each part
        files = {"security": results} if set(wanted) == set(PARTS) else {f"security_{p}": {p: results[p]} for p in wanted}
        for name, part_results in files.items():
            print("recorded in", record(name, part_results, "benchmarks/security.py", f"one run, parts {','.join(wanted)}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
