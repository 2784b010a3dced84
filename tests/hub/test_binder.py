"""binder/ files: valid shell, and start keeps matfold's data in the session home."""

from __future__ import annotations

import os
import subprocess

from tests.support.paths import ROOT

BINDER = ROOT / "binder"


def test_scripts_are_executable_bash():
    for name in ("postBuild", "start"):
        path = BINDER / name
        assert os.access(path, os.X_OK), f"{name} must be executable"
        subprocess.run(["bash", "-n", str(path)], check=True)
    assert "npm run --silent build" in (BINDER / "postBuild").read_text()


def test_start_runs_the_command_with_data_dirs(tmp_path):
    env = {"HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    out = subprocess.run([str(BINDER / "start"), "sh", "-c", 'echo "$MATFOLD_HUB_DIR|$MATFOLD_DATA_DIR"'],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == f"{tmp_path}/.local/share/matfold/hub|{tmp_path}/.local/share/matfold"
    assert (tmp_path / ".local" / "share" / "matfold").is_dir()
