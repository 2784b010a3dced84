"""``matfold lab``: JupyterLab on 127.0.0.1 with the matfold notebooks.

This is the single-user way in; the hub issue adds ``matfold hub`` beside it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from matfold_kernel.errors import MatfoldDependencyError, MatfoldInputError

__all__ = ["lab_command", "run_lab", "JUPYTER_CONFIG_DIR", "jupyter_config_path"]

JUPYTER_CONFIG_DIR = Path(__file__).resolve().parent / "jupyter_config"
"""matfold's Jupyter configuration folder: JupyterLab's news prompt off (see its README)."""


def jupyter_config_path(environ=None) -> str:
    """``JUPYTER_CONFIG_PATH`` with :data:`JUPYTER_CONFIG_DIR` first (what was there is kept)."""
    rest = (environ if environ is not None else os.environ).get("JUPYTER_CONFIG_PATH", "")
    return os.pathsep.join(p for p in (str(JUPYTER_CONFIG_DIR), rest) if p)


def lab_command(port: int, notebook_dir: Path, *, token: str, open_browser: bool = False) -> list[str]:
    """The ``jupyter lab`` command line matfold runs (127.0.0.1 only)."""
    command = [
        sys.executable, "-m", "jupyterlab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={notebook_dir}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.open_browser={open_browser}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command


def run_lab(port: int = 8888, notebook_dir=None, open_browser: bool = True) -> int:
    """Run JupyterLab in the foreground until Ctrl-C; returns its exit code.

    Parameters
    ----------
    port : int
        Port on 127.0.0.1.
    notebook_dir : str or Path, optional
        Folder to serve; default ``./notebooks`` when it exists, else the current folder.
    open_browser : bool
        Open the system browser (if any).
    """
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        raise MatfoldDependencyError(
            "JupyterLab is not installed; pip install 'matfold[lab]'"
        ) from None
    if notebook_dir is None:
        notebook_dir = Path("notebooks") if Path("notebooks").is_dir() else Path.cwd()
    notebook_dir = Path(notebook_dir).resolve()
    if not notebook_dir.is_dir():
        raise MatfoldInputError("is not a folder; give --notebook-dir an existing folder", str(notebook_dir))
    token = os.environ.get("MATFOLD_LAB_TOKEN") or secrets.token_hex(16)
    print(f"matfold: JupyterLab on http://127.0.0.1:{port}/lab?token={token}", flush=True)
    print(f"matfold: serving {notebook_dir}; press Ctrl-C to stop", flush=True)
    # cwd: jupyter-collaboration keeps its document history (.jupyter_ystore.db) there
    env = dict(os.environ, JUPYTER_CONFIG_PATH=jupyter_config_path())  # no "Jupyter news" prompt
    process = subprocess.Popen(lab_command(port, notebook_dir, token=token, open_browser=open_browser),
                               cwd=notebook_dir, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:  # Ctrl-C: stop JupyterLab without its y/n prompt
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print("matfold: JupyterLab stopped", flush=True)
        return 0
