"""Child processes that end with the process that started them."""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["die_with_parent"]


def die_with_parent(umask: int | None = None):
    """A ``preexec_fn`` that asks Linux to SIGTERM the child when its parent's thread ends.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that forked the child ends, so start
    children from the main thread when it matters. libc is loaded here, in the parent: the
    child (between fork and exec, other threads' locks frozen) only makes system calls.
    With `umask`, the child also sets that file-mode mask (on every platform).

    Returns
    -------
    callable or None
        None when there is nothing to do (not Linux, no `umask`).
    """
    prctl = None
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            prctl = None
    if prctl is None and umask is None:
        return None
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        if umask is not None:
            os.umask(umask)
        if prctl is not None:
            prctl(1, sigterm)  # PR_SET_PDEATHSIG

    return preexec
