"""Finding configurable-http-proxy (installed from npm into hub/node_modules by setup)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from matfold_kernel.programs import find_program

__all__ = ["find_proxy"]


def find_proxy() -> str:
    """Path of ``configurable-http-proxy``: ``$MATFOLD_CHP``, hub/node_modules, then PATH."""
    here = Path(__file__).resolve().parent
    return find_program(
        [os.environ.get("MATFOLD_CHP"),
         str(here.parent / "node_modules" / ".bin" / "configurable-http-proxy"),
         shutil.which("configurable-http-proxy")],
        "configurable-http-proxy was not found; run './dev setup' in the matfold checkout "
        "(it installs it from npm into hub/node_modules) or 'npm install -g configurable-http-proxy'",
    )
