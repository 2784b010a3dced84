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

    find_proxy()  # fail before starting anything
    env = dict(os.environ)
    env["MATFOLD_HUB_DIR"] = str(data_dir)
    env["MATFOLD_HUB_PORT"] = str(port)
    env.setdefault("MATFOLD_HUB_INTERNAL_PORT", str(free_port()))
    env.setdefault("MATFOLD_PROXY_API_PORT", str(free_port()))
    env.setdefault("MATFOLD_SERVICE_PORT", str(free_port()))
    if single_user:
        env["MATFOLD_HUB_SINGLE_USER"] = "1"
    from .isolation import check_can_isolate, open_python, prepare_service_account, secure_data_dir

    authenticator = env.get("MATFOLD_HUB_AUTHENTICATOR", "native").strip().lower()
    per_user = env.get("MATFOLD_HUB_SPAWNER", "local").strip().lower() == "local" and not single_user
    check_can_isolate(per_user)
    if authenticator == "shared-password" and not single_user:
        raise MatfoldInputError("MATFOLD_HUB_AUTHENTICATOR=shared-password lets anyone log in as anyone; "
                                "use it only with --single-user, or unset it for own accounts")
    generated = False
    if authenticator == "shared-password":
        env["MATFOLD_HUB_PASSWORD"], generated = hub_password(data_dir)
    admins = []
    if authenticator == "native":
        from .accounts import check_username
        from .auth import admin_password

        names = env.get("MATFOLD_HUB_ADMINS", "admin")
        admins = [(n, *admin_password(data_dir, check_username(n)))
                  for n in (x.strip() for x in names.split(",")) if n]
    service_account = env.get("MATFOLD_SERVICE_ACCOUNT", "matfold-service")
    if per_user:
        prepare_service_account(data_dir, service_account)
        for folder in open_python(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p):
            print(f"matfold: {folder} is now traversable (o+x, not listable) so user accounts can run "
                  "this Python", flush=True)
    database = None
    if not env.get("DATABASE_URL"):
        from matfold_services.db import start_embedded

        database, env["DATABASE_URL"] = start_embedded(
            data_dir, require_password=True, socket_account=service_account if per_user else None)
        print(f"matfold: embedded Postgres in {data_dir / 'postgres'}", flush=True)
    secure_data_dir(data_dir, per_user)
    print(f"matfold: JupyterHub on http://127.0.0.1:{port}", flush=True)
    if single_user:
        print("matfold: single-user development mode: every user's server runs as this account "
              f"({os.environ.get('USER') or os.getuid()}), on 127.0.0.1 only", flush=True)
    if authenticator == "shared-password":
        shown = env["MATFOLD_HUB_PASSWORD"] if generated else "$MATFOLD_HUB_PASSWORD"
        print(f"matfold: log in with any user name and the password {shown}", flush=True)
    for name, password, path in admins:
        print(f"matfold: admin {name!r}, first password {password} (kept in {path}); "
              "others sign up and wait for approval at /hub/authorize", flush=True)
    print("matfold: press Ctrl-C to stop the hub, user servers and database", flush=True)
    command = [sys.executable, "-m", "jupyterhub", "-f", str(config_file())]
    # umask 077: the hub's sqlite, logs and pid files are root's alone
    process = subprocess.Popen(command, env=env, cwd=data_dir, preexec_fn=lambda: os.umask(0o077))
    code = 0
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
        if database is not None:
            database.cleanup()
    print("matfold: hub stopped", flush=True)
    return code
