"""matfold_hub: how users reach matfold (JupyterLab now; the JupyterHub deployment follows)."""

from .lab import lab_command, run_lab

__all__ = ["lab_command", "run_lab"]
