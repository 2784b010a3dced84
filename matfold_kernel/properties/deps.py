"""Optional heavy dependencies of the property models, imported on first use."""

from __future__ import annotations

import importlib

from ..errors import MatfoldDependencyError

__all__ = ["require"]


def require(feature: str, modules: list[str], pip: str):
    """Import ``modules`` (returning the first) or say which install ``feature`` needs.

    Raises :class:`MatfoldDependencyError` naming the missing module and the pip command.
    """
    loaded = []
    for name in modules:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError as exc:
            raise MatfoldDependencyError(
                f"{feature} needs {', '.join(modules)} ({exc}); install them with pip install {pip}"
            ) from None
    return loaded[0]
