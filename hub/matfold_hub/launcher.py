"""``matfold hub``: JupyterHub, its proxy, the matfold service and an embedded Postgres.

Everything listens on 127.0.0.1 only. Ctrl-C stops the hub (which stops the proxy,
the services and every user server) and then the database.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

from matfold_kernel.errors import MatfoldDependencyError, MatfoldInputError

from .settings import default_data_dir

__all__ = ["run_hub", "config_file", "free_port", "hub_password"]


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
        Hub state; default ``$MATFOLD_HUB_DIR`` or ``~/.local/share/matfold/hub``.
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
    # umask 077: the hub's sqlite, logs and pid files are root's alone
    process = subprocess.Popen(command, env=env, cwd=data_dir, **supervision.popen_kwargs(umask=0o077))
    code = 0
    supervision.stop_on_sigterm()  # `kill PID`, systemd: the same clean stop as Ctrl-C
    try:
        code = process.wait()
    except KeyboardInterrupt:
        # The terminal sent SIGINT to the whole process group; make sure the hub got it.
        try:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        code = 0
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait()
        supervision.stop_watching()
        if database is not None:
            database.cleanup()
        supervision.close()
    print("matfold: hub stopped", flush=True)
    return code
