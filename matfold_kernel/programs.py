"""Finding the external programs matfold drives (Chromium, configurable-http-proxy)."""

from __future__ import annotations

from pathlib import Path

from .errors import MatfoldDependencyError

__all__ = ["find_program"]


def find_program(candidates, missing: str) -> str:
    """The first candidate path that exists; `MatfoldDependencyError(missing)` if none.

    Parameters
    ----------
    candidates : iterable of str or None
        Paths in order of preference (None entries are skipped: an unset
        environment variable, a ``shutil.which`` miss).
    missing : str
        The error message: what is missing and how to install it.
    """
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise MatfoldDependencyError(missing)
