"""Where the test data lives: the repository, its fixtures, ``../shared`` and the artifacts folder."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
STRUCTURES = DATA / "structures"
PROTEINS = DATA / "proteins"
SHARED = ROOT.parent / "shared"
ARTIFACTS = Path(os.environ.get("MATFOLD_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))
NOTEBOOKS = ROOT / "notebooks"
