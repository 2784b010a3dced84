"""``matfold hub``: JupyterHub, its proxy, the matfold service and an embedded Postgres.

Everything listens on 127.0.0.1 only. One hub per data folder: the launcher holds a
lock on it (:mod:`matfold_hub.lock`) and a second hub exits 2 naming the first. Ctrl-C
stops the hub, its proxy, the services, every user server and the database within a
few seconds (:func:`stop_hub`; measured 2.4-2.8 s with one user server).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from matfold_kernel.errors import MatfoldDependencyError, MatfoldInputError

from .lock import HubLock
from .settings import default_data_dir

__all__ = ["run_hub", "stop_hub", "config_file", "free_port", "hub_password", "STOP_GRACE"]

STOP_GRACE = 3.0
"""Seconds JupyterHub gets after Ctrl-C to stop its proxy, services and user servers;
then what is left is killed (Postgres, stopped next, takes well under a second)."""


def config_file() -> Path:
    """``hub/jupyterhub_config.py`` in a checkout, or the copy inside the installed package."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "jupyterhub_config.py", here / "jupyterhub_config.py"):
        if candidate.is_file():
            return candidate
    raise MatfoldDependencyError("jupyterhub_config.py is missing from the matfold installation")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def hub_password(data_dir: Path) -> tuple[str, bool]:
    """``$MATFOLD_HUB_PASSWORD``, else a generated one kept in the data folder.

    Returns the password and whether it was generated (so it is printed).
    """
    if os.environ.get("MATFOLD_HUB_PASSWORD"):
        password = os.environ["MATFOLD_HUB_PASSWORD"]
        if len(password) < 8:
            raise MatfoldInputError(
                f"MATFOLD_HUB_PASSWORD has {len(password)} characters; JupyterHub's shared-password "
                "login needs at least 8 (or unset it and matfold generates one)"
            )
        return password, False
    path = data_dir / "hub_password"
    if path.is_file():
        return path.read_text().strip(), True
    password = secrets.token_urlsafe(12)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return password, True


def run_hub(port: int = 8000, data_dir=None, single_user: bool = False) -> int:
    """Run the local matfold JupyterHub in the foreground until Ctrl-C.

    Parameters
    ----------
    port : int
        Public port on 127.0.0.1 (the proxy).
    data_dir : str or Path, optional
        Hub state; default ``$MATFOLD_HUB_DIR``, else ``<data folder>/hub`` with the
        library's folder rule (:func:`matfold_kernel.config.data_dir`: ``$MATFOLD_DATA_DIR``,
        else ``$XDG_DATA_HOME/matfold``, else ``~/.local/share/matfold``). One hub per
        folder: a second one exits 2 naming the first (:mod:`matfold_hub.lock`).
    single_user : bool
        Development mode: every user server runs as this process's own account. Without
        it (and with the local spawner) each user gets their own Unix account: needs root.

    Returns
    -------
    int
        0 after a clean stop, JupyterHub's exit code otherwise.
    """
    data_dir = Path(data_dir or default_data_dir()).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = HubLock(data_dir)
    lock.acquire(f"http://127.0.0.1:{port}")  # exit 2 with one line when a live hub owns data_dir
    try:
        return _run_locked(port, data_dir, single_user)
    finally:
        lock.release()


def _run_locked(port: int, data_dir: Path, single_user: bool) -> int:
    from .proxy import find_proxy
    from .supervise import HubSupervision  # psutil: a hub dependency, not one of `matfold lab`

    find_proxy()  # fail before starting anything
    supervision = HubSupervision(data_dir)
    supervision.take_over()  # refuse if a live hub owns data_dir; stop a dead one's leftovers
    supervision.start_watchdog()  # whatever ends this process, the watchdog stops its children
    env = dict(os.environ)
    env["MATFOLD_HUB_DIR"] = str(data_dir)
    env["MATFOLD_HUB_PORT"] = str(port)
    env.setdefault("MATFOLD_HUB_INTERNAL_PORT", str(free_port()))
    env.setdefault("MATFOLD_PROXY_API_PORT", str(free_port()))
    env.setdefault("MATFOLD_SERVICE_PORT", str(free_port()))
    from .isolation import announce, plan_hub, secure_data_dir

    plan = plan_hub(env, data_dir, single_user)  # exit 2: multi-user without root, shared password
    generated = False
    if plan.authenticator == "shared-password":
        env["MATFOLD_HUB_PASSWORD"], generated = hub_password(data_dir)
    database = None
    if not env.get("DATABASE_URL"):
        from matfold_services.db import start_embedded

        database, env["DATABASE_URL"] = start_embedded(data_dir, require_password=True,
                                                       socket_account=plan.socket_account)
        supervision.watch_postgres(database)  # restart it if it dies
        print(f"matfold: embedded Postgres in {data_dir / 'postgres'}", flush=True)
    secure_data_dir(data_dir, plan.per_user)
    print(f"matfold: JupyterHub on http://127.0.0.1:{port}", flush=True)
    announce(plan)
    if plan.authenticator == "shared-password":
        shown = env["MATFOLD_HUB_PASSWORD"] if generated else "$MATFOLD_HUB_PASSWORD"
        print(f"matfold: log in with any user name and the password {shown}", flush=True)
    print("matfold: press Ctrl-C to stop the hub, user servers and database", flush=True)
    command = [sys.executable, "-m", "jupyterhub", "-f", str(config_file())]
    # A session of its own: a terminal's Ctrl-C reaches the launcher only, which then
    # signals JupyterHub exactly once (two signals run JupyterHub's cleanup twice at
    # once). umask 077: the hub's sqlite, logs and pid files are root's alone.
    process = subprocess.Popen(command, env=env, cwd=data_dir, start_new_session=True,
                               **supervision.popen_kwargs(umask=0o077))
    code = 0
    supervision.stop_on_sigterm()  # `kill PID`, systemd: the same clean stop as Ctrl-C
    try:
        code = process.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        # A second Ctrl-C while stopping must not cut the stop short (nor print a traceback).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # Postgres stops as soon as the service (its only client) is gone, while
        # JupyterHub still stops user servers and exits.
        stop_hub(process, supervision, then=database.cleanup if database is not None else None)
        supervision.close()
    print("matfold: hub stopped", flush=True)
    return code


def stop_hub(process: subprocess.Popen, supervision, grace: float = STOP_GRACE, then=None) -> None:
    """Stop JupyterHub and everything it started, within about `grace` seconds (s).

    JupyterHub gets one SIGTERM and stops the proxy and the user servers itself, but it
    stops its services one after the other and gives each 30 s after SIGINT. So the
    services are signalled at the same moment, in parallel: the idle culler holds no
    state and is terminated rather than waited out, the matfold service gets SIGTERM
    (uvicorn's graceful stop). Whatever still runs after `grace` seconds is killed:
    a clean stop never waits for a slow process. `then` (stopping the database) runs
    in a thread once the services are gone, and has ended when this returns.
    """
    import psutil  # a hub dependency, not one of `matfold lab`

    deadline = time.monotonic() + grace
    if process.poll() is None:
        # SIGTERM: once running, JupyterHub treats it as SIGINT; while it still starts
        # (before its handlers exist) it ends quietly instead of printing a
        # KeyboardInterrupt traceback, and the sweep below stops what it had started.
        process.terminate()
    services = supervision.stop_marked("-m jupyterhub_idle_culler", "-m matfold_services")
    _, alive = psutil.wait_procs(services, timeout=max(0.1, deadline - time.monotonic()))
    if alive:
        supervision.stop_marked("-m jupyterhub_idle_culler", "-m matfold_services", grace=0.5)
    supervision.stop_watching()  # Postgres is about to stop on purpose: do not restart it

    def run_then() -> None:
        try:
            then()
        except Exception as exc:  # noqa: BLE001 — the watchdog stops it anyway; say so in one line
            print(f"matfold: stopping the database failed ({' '.join(str(exc).split())[:200]}); "
                  "the watchdog stops it", file=sys.stderr, flush=True)

    worker = threading.Thread(target=run_then, name="matfold-stop-database") if then else None
    if worker is not None:
        worker.start()
    try:
        process.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()  # not SIGTERM: that would start JupyterHub's cleanup a second time
        process.wait()
    supervision.stop_marked(grace=0.5)  # a user server that did not stop in time
    if worker is not None:
        worker.join()
