"""README's settings table is the library's own (``python -m matfold_kernel.config``), row for row."""

from __future__ import annotations

from matfold_kernel.config import SETTINGS, settings_table
from tests.support.paths import ROOT


def test_readme_holds_the_settings_table_of_matfold_kernel_config():
    readme = (ROOT / "README.md").read_text()
    missing = [s.variable for s in SETTINGS if f"| `{s.name}` | `{s.variable}` |" not in readme]
    assert not missing, f"README lacks the settings {missing}: paste `python -m matfold_kernel.config`'s table"
    assert settings_table() in readme, "README's settings table differs from matfold_kernel.config.settings_table()"
