"""The laptop store's service: the real matfold service, run as a child of this kernel.

Outside a hub, :func:`local_service` starts ``python -m <service package>`` on
127.0.0.1 (a free port the service picks itself) with a one-off token, for one user.
The service starts (or joins) the embedded Postgres in ``<data folder>/postgres``
(:func:`matfold_kernel.config.data_dir`), unless ``DATABASE_URL`` names another one.
The kernel then talks to it over HTTP exactly as to a hub's service.

The token travels in the child's environment (``/proc/<pid>/environ`` is readable only
by its own account), never on its command line. Nothing of the service is imported here:
its package is found through the ``service`` entry point of ``matfold.subcommands`` (the
one the ``matfold service`` command uses), so the library never names a layer above it.

Stopping: the service and its Postgres go when the kernel goes.

- normal exit: an ``atexit`` hook sends SIGTERM and waits (the service stops Postgres);
- SIGTERM/SIGINT/SIGHUP or ``kill -9`` of the kernel: the service watches its parent pid
  (every 0.5 s) and shuts down cleanly when it changes; on Linux it also gets SIGTERM at
  once through ``PR_SET_PDEATHSIG`` (set when started from the kernel's main thread,
  since Linux sends it when the *thread* that started the child ends).

Its own session keeps a notebook's "interrupt kernel" (SIGINT to the kernel's process
group) from reaching it. Postgres is shared by pgserver's reference count: two kernels on
one data folder share it, and it stops when the last service using it exits.
"""

from __future__ import annotations

import atexit
import collections
import getpass
import importlib.metadata
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from .. import config
from ..children import die_with_parent
from ..errors import MatfoldDependencyError
from .transport import StoreError

__all__ = ["LocalService", "local_service", "stop_all", "service_package", "START_TIMEOUT", "STOP_TIMEOUT",
           "TOKEN_VARIABLE"]

#: Seconds the service may take to answer (a first start runs initdb and the migrations).
START_TIMEOUT = 180.0
#: Seconds the service gets to stop (and stop Postgres) after SIGTERM before it is killed.
STOP_TIMEOUT = 20.0
#: The entry point (group, name) whose package is the service run as ``python -m``.
SERVICE_ENTRY_POINT = ("matfold.subcommands", "service")
#: Environment variable that carries the token to the child (read by the service's ``localauth``).
TOKEN_VARIABLE = "MATFOLD_SERVICE_LOCAL_TOKEN"
#: Lines of the service's log quoted when it fails to start.
LOG_TAIL = 20

_lock = threading.Lock()
_services: dict[tuple, LocalService] = {}


def _tail(path: Path, lines: int = LOG_TAIL) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(collections.deque(f, maxlen=lines)).rstrip()
    except OSError:
        return "(no log)"


def service_package() -> str:
    """The service's package name, from its ``matfold.subcommands`` entry point (never imported).

    Raises
    ------
    MatfoldDependencyError
        The service is not installed.
    """
    group, name = SERVICE_ENTRY_POINT
    points = importlib.metadata.entry_points(group=group, name=name)
    package = next(iter(points)).module.split(".")[0] if points else None
    if package is None or importlib.util.find_spec(package) is None:
        raise MatfoldDependencyError(
            "the local store runs the matfold service, which is not installed: pip install 'matfold[hub]'")
    return package


class LocalService:
    """One service child process (:func:`service_package`) serving one user of this kernel.

    Parameters
    ----------
    user : str
        Who every request of the store is.
    data_dir : Path
        The data folder (its ``postgres/`` holds the embedded database).
    timeout : float
        Seconds to wait for the service to answer ``/health``.

    Attributes
    ----------
    url : str
        The service's base URL (``http://127.0.0.1:<port>/services/matfold/``).
    token : str
        The one token it accepts.
    process : subprocess.Popen
        The child (``process.pid``).
    log_path : Path
        Its output, ``<data folder>/logs/service.log`` (kept; the services of all kernels append).
    """

    def __init__(self, user: str, data_dir: Path, timeout: float = START_TIMEOUT):
        package = service_package()
        self.user, self.data_dir = user, Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_urlsafe(32)
        # the log is kept (services of several kernels append to it); the ready file goes once read
        (self.data_dir / "logs").mkdir(exist_ok=True)
        self.log_path = self.data_dir / "logs" / "service.log"
        run_dir = Path(tempfile.mkdtemp(prefix="matfold-service-"))  # 0700
        ready = run_dir / "ready.json"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("JUPYTERHUB_") and k != "MATFOLD_SERVICE_URL"}  # never a hub's service
        env |= {TOKEN_VARIABLE: self.token, "MATFOLD_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", package, "--host", "127.0.0.1", "--port", "0",
                   "--local-user", user, "--data-dir", str(self.data_dir), "--ready-file", str(ready),
                   "--parent-pid", str(os.getpid()), "--log-level", "warning"]
        in_main = threading.current_thread() is threading.main_thread()
        with open(self.log_path, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} kernel {os.getpid()} starts the service "
                      f"for {user}\n".encode())
            log.flush()
            self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=die_with_parent() if in_main else None)
        try:
            self.url = self._wait_ready(ready, timeout)
        except BaseException:
            self.stop()
            raise
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)

    def _wait_ready(self, ready: Path, timeout: float) -> str:
        from .transport import HTTPTransport

        deadline = time.monotonic() + timeout
        url = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StoreError(f"the local matfold service exited with code {self.process.returncode} while "
                                 f"starting; its last log lines ({self.log_path}):\n{_tail(self.log_path)}")
            if url is None and ready.is_file():
                url = json.loads(ready.read_text())["url"]
            if url is not None:
                try:
                    health = HTTPTransport(url, self.token, timeout=5, retries=0).send("GET", "health")
                except StoreError:
                    pass
                else:
                    if health.get("status") != "ok":
                        raise StoreError(f"the local matfold service started but its database is not ok: "
                                         f"{health.get('database')}; its last log lines ({self.log_path}):\n"
                                         f"{_tail(self.log_path)}")
                    return url
            time.sleep(0.1)
        raise StoreError(f"the local matfold service did not answer within {timeout:.0f} s; "
                         f"its last log lines ({self.log_path}):\n{_tail(self.log_path)}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        """Whether the child runs.

        ``poll()`` alone is not enough: a killed service's main thread is a zombie at once,
        but until its other threads have ended the kernel cannot reap it, and meanwhile its
        listening socket still takes connections that nobody will answer.
        """
        if self.process.poll() is not None:
            return False
        try:
            with open(f"/proc/{self.process.pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):  # no /proc (not Linux): poll() has to do
            return True
        return state not in (b"Z", b"X")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the service (it stops Postgres when it is the last user), kill it after `timeout` s."""
        if self.process.poll() is None:  # a dying one too: it is waited for
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __repr__(self) -> str:  # never the token
        state = "running" if self.alive() else f"exited {self.process.returncode}"
        return f"LocalService(user={self.user!r}, url={getattr(self, 'url', None)!r}, pid={self.pid}, {state})"


def local_service(user: str | None = None) -> LocalService:
    """The running local service of `user` (default: the login name), started on first use.

    One per user, data folder and ``DATABASE_URL`` in this kernel: every ``connect()``
    shares it. A service that died is started again.
    """
    user = user or getpass.getuser()
    data_dir = config.data_dir().expanduser().resolve()
    # the service's own database setting, passed on to the child as it is
    key = (user, str(data_dir), os.environ.get("DATABASE_URL", ""))
    with _lock:
        service = _services.get(key)
        if service is None or not service.alive():
            if service is not None:
                service.stop()
            service = _services[key] = LocalService(user, data_dir)
        return service


@atexit.register
def stop_all() -> None:
    """Stop every local service this kernel started (run at exit)."""
    with _lock:
        services = list(_services.values())
        _services.clear()
    for service in services:
        service.stop()
