"""What every user server gets: the matfold notebooks and the service's address."""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["copy_notebooks", "make_pre_spawn_hook"]


def copy_notebooks(source, home) -> list[Path]:
    """Copy `source` into ``home/matfold-notebooks`` without overwriting user edits.

    Files the user already has are left alone (edited or not); only missing ones
    are copied. Returns the files copied.
    """
    source, target = Path(source), Path(home) / "matfold-notebooks"
    copied = []
    if not source.is_dir():
        return copied
    for path in sorted(source.rglob("*")):
        if path.is_dir() or ".ipynb_checkpoints" in path.parts or path.suffix == ".png":
            continue
        dest = target / path.relative_to(source)
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        copied.append(dest)
    return copied


def make_pre_spawn_hook(notebooks_dir: str, service_url: str):
    """A ``Spawner.pre_spawn_hook``: notebooks into the home, service URL into the env."""

    def pre_spawn_hook(spawner):
        home = getattr(spawner, "home_dir", None)
        # MatfoldLocalSpawner makes the home and copies as the user itself (spawner.py)
        if home and not hasattr(spawner, "ensure_account"):
            Path(home).mkdir(parents=True, exist_ok=True)
            if notebooks_dir:
                copy_notebooks(notebooks_dir, home)
        spawner.environment.setdefault("MATFOLD_SERVICE_URL", service_url)

    return pre_spawn_hook


if __name__ == "__main__":  # python -m matfold_hub.user_env SOURCE HOME (run as the home's user)
    import sys

    copy_notebooks(sys.argv[1], sys.argv[2])
