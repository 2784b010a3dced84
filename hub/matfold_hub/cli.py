"""``matfold hub`` and ``matfold lab``: the subcommands this package plugs into ``matfold``.

Declared as ``matfold.subcommands`` entry points in pyproject.toml; each object follows
:class:`matfold_kernel.cli.Subcommand` (``help``, ``description``, ``add_arguments``, ``run``).
"""

from __future__ import annotations

from .lab import run_lab
from .launcher import run_hub

__all__ = ["hub", "lab"]


class _Lab:
    help = "open JupyterLab on the matfold notebooks (127.0.0.1)"
    description = None

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=8888, help="port on 127.0.0.1 (default 8888)")
        parser.add_argument("--notebook-dir", default=None, help="folder to open (default: ./notebooks)")
        parser.add_argument("--no-browser", dest="browser", action="store_false", help="do not open a browser")

    def run(self, args) -> int:
        return run_lab(port=args.port, notebook_dir=args.notebook_dir, open_browser=args.browser)


class _Hub:
    help = "run the local matfold JupyterHub (127.0.0.1)"
    description = "JupyterHub + proxy + matfold service + embedded Postgres."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="public port on 127.0.0.1 (default 8000)")
        parser.add_argument("--data-dir", default=None, help="hub state (default $MATFOLD_HUB_DIR, else "
                                                             "<data folder>/hub: ~/.local/share/matfold/hub)")
        parser.add_argument("--single-user", action="store_true",
                            help="development: every user server runs as your own account, on 127.0.0.1 "
                                 "(without it each user gets their own Unix account: run as root)")

    def run(self, args) -> int:
        return run_hub(port=args.port, data_dir=args.data_dir, single_user=args.single_user)


lab = _Lab()
hub = _Hub()
