"""``matfold service``: the subcommand this package plugs into ``matfold``.

Declared as a ``matfold.subcommands`` entry point in pyproject.toml; the object follows
:class:`matfold_kernel.cli.Subcommand` (``help``, ``add_arguments``, ``run``).
"""

from __future__ import annotations

from .__main__ import main as service_main

__all__ = ["service"]


class _Service:
    help = "run the matfold service alone (development)"
    description = None

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=10101, help="port on 127.0.0.1 (default 10101)")

    def run(self, args) -> int:
        return service_main(["--port", str(args.port)]) or 0


service = _Service()
