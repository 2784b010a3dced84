"""The lock of ``matfold hub`` on its data folder: one hub per folder.

The launcher takes an exclusive ``fcntl.flock`` on ``<data_dir>/hub.lock`` before it
touches anything in the folder and holds it for its whole life; the file also says
who holds it (``{"pid", "url", "started"}``, JSON). A second hub on the same folder
cannot take the lock and stops with one line naming the running hub's pid and URL.

The kernel releases a flock when its holder dies, however it dies (``kill -9``
included), so a dead hub's lock is never stale: the next hub simply takes it and
then cleans up what the dead one left (:func:`matfold_hub.supervise.take_over`).
The descriptor is not inherited by children (JupyterHub, Postgres, the watchdog):
only the launcher holds the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from matfold_kernel.errors import MatfoldInputError

__all__ = ["LOCK_FILE", "HubLock", "HubLockHeld"]

LOCK_FILE = "hub.lock"
"""Name of the lock file inside the hub's data folder."""


class HubLockHeld(MatfoldInputError):
    """Another live ``matfold hub`` holds the data folder's lock."""


class HubLock:
    """An exclusive lock on a hub data folder, held until :meth:`release` or death.

    Parameters
    ----------
    data_dir : str or Path
        The hub's data folder (it must exist).
    """

    def __init__(self, data_dir):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_FILE
        self._fd: int | None = None

    def holder(self) -> dict:
        """What the lock file says about its holder (``{}`` when unreadable)."""
        try:
            info = json.loads(self.path.read_text() or "{}")
            return info if isinstance(info, dict) else {}
        except (OSError, ValueError):
            return {}

    def acquire(self, url: str) -> None:
        """Take the lock (without waiting) and record this process and `url` in it.

        Raises
        ------
        HubLockHeld
            When a live hub holds it; the message is one line for the terminal.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # O_CLOEXEC: children do not hold it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            info = self.holder()
            pid = info.get("pid", "?")
            where = info.get("url", "an unknown URL")
            raise HubLockHeld(
                f"a matfold hub (pid {pid}, {where}) already runs on {self.data_dir}; stop it "
                f"(Ctrl-C in its terminal, or kill {pid}) or run a second hub with its own "
                "--data-dir FOLDER (and --port)") from None
        record = json.dumps({"pid": os.getpid(), "url": url,
                             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode(), 0)
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Let go of the lock (a clean stop); the file stays, empty of a holder."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        os.close(self._fd)  # closing the only descriptor releases the flock
        self._fd = None

    def __enter__(self) -> HubLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
