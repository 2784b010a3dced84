"""The one exception family of matfold.

Every error matfold raises on purpose derives from :class:`MatfoldError`. Messages
quote the offending value, name the file when there is one, and say what to do.
"""

from __future__ import annotations

__all__ = ["MatfoldError", "MatfoldInputError", "MatfoldDependencyError"]


class MatfoldError(Exception):
    """Base class of every error matfold raises on purpose."""


class MatfoldInputError(MatfoldError, ValueError):
    """A file, string or object given to matfold cannot be used as it is.

    Parameters
    ----------
    message : str
        What is wrong and what to do about it.
    source : str, optional
        The file name (or ``"<text>"``, ``"<bytes>"``) the input came from.
        It is prefixed to the message so the user sees which input failed.
    """

    def __init__(self, message: str, source: str | None = None):
        self.source = source
        self.reason = message
        super().__init__(f"{source}: {message}" if source else message)


class MatfoldDependencyError(MatfoldError, RuntimeError):
    """A program or package that a feature needs is not installed."""
