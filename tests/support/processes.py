"""Finding what a test's hub, service or Postgres left running."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

__all__ = ["in_folder", "describe"]


def in_folder(folder) -> list[psutil.Process]:
    """Running processes (zombies and this one excepted) whose command line names `folder`
    or whose working folder is inside it (Postgres runs in its data folder)."""
    folder = str(Path(folder))
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
                continue
            if folder in " ".join(proc.info["cmdline"] or ()) or (proc.info["cwd"] or "").startswith(folder):
                found.append(proc)
        except (psutil.Error, TypeError):
            continue
    return found


def describe(procs) -> list[str]:
    """``"<pid> <command line>"`` of each process still there."""
    out = []
    for proc in procs:
        try:
            out.append(f"{proc.pid} {' '.join(proc.cmdline())[:100]}")
        except psutil.Error:
            pass
    return out
