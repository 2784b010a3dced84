"""DESIGN.md's figures table, written from the recorded benchmark results so it cannot drift.

    .venv/bin/python benchmarks/design_table.py           # rewrite the table in DESIGN.md
    .venv/bin/python benchmarks/design_table.py --check   # exit 1 when DESIGN.md's table is not this

Reads ``benchmarks/results/*.json`` (written by ``accuracy.py``, ``prediction.py``,
``hub.py`` and ``security.py`` with ``--record``; files of runs made before ``--record``
existed were transcribed from DESIGN.md, as their ``how`` says) and replaces everything between
``<!-- figures:begin -->`` and ``<!-- figures:end -->`` in DESIGN.md. Runs no benchmark.
Every row names its results file and the commit that file was measured on.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

__all__ = ["BEGIN", "END", "table", "rewrite"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"


def _load(folder: Path, name: str) -> dict | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _source(data: dict, name: str) -> str:
    return f"{name} @ {data['commit'][:7]}"


def _num(value, digits: int = 3) -> str:
    """A figure as the table shows it: 3 significant digits, thousands separated; "n/a" when not measured."""
    if value is None:
        return "n/a"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.{digits}g}"
    return f"{int(value):,}" if isinstance(value, (int, float)) else str(value)


def _security_part(folder: Path, part: str) -> tuple[dict, str] | None:
    """The newer of ``security.json``'s part and ``security_<part>.json`` (a run of that part alone)."""
    found = []
    for name in ("security", f"security_{part}"):
        data = _load(folder, name)
        if data and part in data["results"]:
            found.append((data["date"], name == f"security_{part}", data["results"][part], _source(data, name)))
    if not found:
        return None
    _, _, results, source = max(found, key=lambda f: (f[0], f[1]))
    return results, source


def rows(folder: Path = RESULTS) -> list[tuple[str, str, str, str]]:
    """(figure, matfold, bar or baseline, source) for every recorded result in `folder`."""
    out = []
    accuracy = _load(folder, "accuracy")
    if accuracy:
        src = _source(accuracy, "accuracy")
        for task, r in accuracy["results"]["tasks"].items():
            out.append((f"`{task}` val MAE, {r['unit']} (within 1σ / 2σ)",
                        f"{r['val_mae']:.4g} ({r['within_1sigma']:.1%} / {r['within_2sigma']:.1%})",
                        f"CrabNet {r['crabnet_test_mae']:g}", src))
    prediction = _load(folder, "prediction")
    if prediction:
        r, src = prediction["results"], _source(prediction, "prediction")
        g = lambda key: _num(r.get(key))  # noqa: E731
        out += [("one formula, six properties; one CIF", f"{g('one_formula_six_properties_ms')} ms; {g('one_cif_ms')} ms",
                 "goal < 300 ms", src),
                (f"screening, e_form ({g('ensemble_members')} members), torch / ONNX",
                 f"{g('formulas_per_min_torch')} / {g('formulas_per_min_onnx')} formulas/min", "goal ≥ 20,000/min", src),
                ("CGCNN structures", f"{g('cgcnn_structures_per_min')}/min", "goal ≥ 2,000/min", src),
                ("peak memory of that run; shipped weights", f"{g('peak_rss_mb')} MB; {g('shipped_weights_mb')} MB",
                 "goal < 2,048 MB", src)]
    hub = _load(folder, "hub")
    if hub:
        r, src = hub["results"], _source(hub, "hub")
        out += [("hub spawn → ready, median (max)", f"{_num(r['spawn_ready_median_s'])} s ({_num(r['spawn_ready_max_s'])} s)",
                 f"bare JupyterLab start {_num(r['bare_lab_start_s'])} s", src),
                (f"{r['users']} users spawned at once → all ready; RSS per server",
                 f"{_num(r['all_users_ready_s'])} s; {_num(r.get('rss_per_server_mb'))} MB", "", src)]
    store = _load(folder, "store")
    if store:
        r, src = store["results"], _source(store, "store")
        out += [("laptop store: first `connect()`, new folder / existing folder",
                 f"{_num(r['cold_connect_s'])} s / {_num(r['warm_connect_s'])} s",
                 f"Postgres alone {_num(r['postgres_alone_cold_s'])} s / {_num(r['postgres_alone_warm_s'])} s", src),
                ("laptop store round trip: create project; save a CIF (first, then); whoami",
                 f"{_num(r['create_project_ms'])} ms; {_num(r['first_save_ms'] / 1000)} s, {_num(r['save_material_ms'])} ms; "
                 f"{_num(r['whoami_ms'])} ms", "", src),
                ("kernel exits / is killed → its service and Postgres gone",
                 f"{_num(r['gone_after_exit_s'])} s / {_num(r['gone_after_kill_s'])} s", "≤ 10 s", src)]
    parsers = _security_part(folder, "parsers")
    if parsers:
        r, src = parsers
        slowest = r.get("bombs_max_s")
        if "bombs" in r:
            slowest = max(v[1] for v in r["bombs"].values() if isinstance(v, list))
        out += [("fuzzed structure inputs (through the route); failures",
                 f"{r['total_cases']:,} ({r['cases'].get('route', 0):,}); {r['total_failures']}", "≥ 10,000; 0", src),
                ("slowest refusal of a hostile file", f"{_num(slowest, 2)} s", "", src)]
    service = _security_part(folder, "service")
    if service:
        r, src = service
        out += [("hostile requests through a hub: 5xx; another user's success",
                 f"{r['hostile_5xx']} of {r['hostile_sent']}; {r['normal_success']:.0%} of {r['normal_requests']}",
                 "0; 100 %", src),
                ("revoked token / deleted user refused after", f"{_num(r['revoked_token_s'])} s / {_num(r['deleted_user_s'])} s",
                 "≤ 5 s", src),
                ("reordered Stripe events ending on a wrong plan",
                 f"{r['billing_wrong']} of {r['billing_orders']} orders", "0", src)]
    recovery = _security_part(folder, "recovery")
    if recovery:
        r, src = recovery
        out += [("Postgres kill -9 → healthy", f"{_num(r['postgres_kill_to_healthy_s'])} s", "recovers", src),
                ("launcher kill -9 → last process gone; orphans",
                 f"{_num(r['launcher_kill_to_last_gone_s'])} s; {r['orphans_after_launcher_kill']}", "≤ 10 s; 0", src),
                ("hub start (after a crash) → ready; Ctrl-C → all stopped",
                 f"{_num(r['restart_after_crash_ready_s'])} s; {_num(r['ctrl_c_stop_s'])} s", "stop ≤ 5 s", src)]
    return out


def table(folder: Path = RESULTS) -> str:
    """The Markdown table of :func:`rows`."""
    lines = ["| figure | matfold | bar / baseline | `benchmarks/results/` file @ commit |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(folder)]
    return "\n".join(lines)


def rewrite(text: str, folder: Path = RESULTS) -> str:
    """`text` (DESIGN.md) with the table between the markers replaced; ValueError without them."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"DESIGN.md needs the markers {BEGIN} and {END}, in that order")
    note = ("<!-- written by benchmarks/design_table.py from benchmarks/results/*.json: "
            "edit those (or rerun the benchmarks with --record), not this table -->")
    return text[: start + len(BEGIN)] + "\n" + note + "\n" + table(folder) + "\n" + text[end:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the table differs; change nothing")
    parser.add_argument("--design", type=Path, default=ROOT / "DESIGN.md", help="the file holding the table")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the results files")
    args = parser.parse_args(argv)
    try:
        text = args.design.read_text()
        new = rewrite(text, args.results)
    except (OSError, ValueError, KeyError) as exc:
        print(f"design_table: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if new != text:
            sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                                       str(args.design), "design_table.py"))
            print(f"design_table: {args.design} differs from the results; run benchmarks/design_table.py",
                  file=sys.stderr)
            return 1
        return 0
    if new != text:
        args.design.write_text(new)
        print(f"design_table: rewrote the figures table in {args.design}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
