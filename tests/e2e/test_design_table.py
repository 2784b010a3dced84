"""DESIGN.md's figures table is the one ``benchmarks/design_table.py`` writes from the recorded results.

Runs no benchmark: the script reads ``benchmarks/results/*.json`` only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from tests.support.paths import ROOT

SCRIPT = ROOT / "benchmarks" / "design_table.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60)


def test_design_md_table_matches_the_recorded_results():
    result = _run("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_fails_on_a_stale_table_and_a_rewrite_fixes_it(tmp_path):
    design, results = tmp_path / "DESIGN.md", tmp_path / "results"
    shutil.copytree(ROOT / "benchmarks" / "results", results)
    shutil.copy(ROOT / "DESIGN.md", design)
    assert _run("--check", "--design", design, "--results", results).returncode == 0

    # a new recorded figure: the table in DESIGN.md is now stale
    accuracy = json.loads((results / "accuracy.json").read_text())
    accuracy["results"]["tasks"]["mp_e_hull"]["val_mae"] = 0.0123
    (results / "accuracy.json").write_text(json.dumps(accuracy))
    stale = _run("--check", "--design", design, "--results", results)
    assert stale.returncode == 1
    assert "0.0123" in stale.stdout and "differs" in stale.stderr
    assert "0.0123" not in design.read_text()  # --check changes nothing

    assert _run("--design", design, "--results", results).returncode == 0
    assert "| `mp_e_hull` val MAE, eV/atom (within 1σ / 2σ) | 0.0123 (" in design.read_text()
    assert _run("--check", "--design", design, "--results", results).returncode == 0

    # a hand edit inside the markers is caught as well
    design.write_text(design.read_text().replace("| 0.0123 (", "| 0.0100 ("))
    assert _run("--check", "--design", design, "--results", results).returncode == 1


def test_a_file_without_the_markers_is_an_error(tmp_path):
    design = tmp_path / "DESIGN.md"
    design.write_text("# no table here\n")
    result = _run("--design", design)
    assert result.returncode == 2 and "figures:begin" in result.stderr


def test_a_recorded_run_shows_in_the_table_with_its_commit(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from design_table import table
        from record import record
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    path = record("security_recovery", {"recovery": {"postgres_kill_to_healthy_s": 1.5,
                                                     "launcher_kill_to_last_gone_s": 3.25,
                                                     "orphans_after_launcher_kill": 0,
                                                     "restart_after_crash_ready_s": 8.0, "ctrl_c_stop_s": 1.75}},
                  "benchmarks/security.py", "test", folder=tmp_path)
    data = json.loads(path.read_text())
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert data["commit"].startswith(head) and data["results"]["recovery"]["ctrl_c_stop_s"] == 1.75
    text = table(tmp_path)
    assert f"| 8 s; 1.75 s | stop ≤ 5 s | security_recovery @ {head[:7]} |" in text
    assert "accuracy" not in text  # only what the folder holds

    # beside an older run of every part, the newer run of one part gives that part's rows
    shutil.copy(ROOT / "benchmarks" / "results" / "security.json", tmp_path)
    text = table(tmp_path)
    assert f"| 8 s; 1.75 s | stop ≤ 5 s | security_recovery @ {head[:7]} |" in text
    assert "| revoked token / deleted user refused after | 4.02 s / 3.89 s | ≤ 5 s | security @ 4aab162 |" in text
