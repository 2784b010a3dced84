"""Driving a local matfold hub from Python: start it, create users, spawn servers.

Used by the end-to-end tests and ``benchmarks/hub.py``; handy for automation with
``MATFOLD_HUB_API_TOKEN`` too.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from matfold_hub.launcher import free_port

__all__ = ["HubProcess", "HubAPI", "READY_LINE"]

READY_LINE = "JupyterHub is now running at"
"""What JupyterHub logs once its proxy routes to the hub and its services."""


class HubAPI:
    """The JupyterHub REST API with the admin token.

    Parameters
    ----------
    url : str
        Public URL of the hub (the proxy), e.g. ``http://127.0.0.1:8000``.
    token : str
        An admin API token (``MATFOLD_HUB_API_TOKEN``).
    """

    def __init__(self, url: str, token: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        response = self.session.request(method, f"{self.url}/hub/api/{path.lstrip('/')}", timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def create_user(self, name: str) -> dict:
        return self.request("POST", f"users/{name}").json()

    def spawn(self, name: str, server: str = "", options: dict | None = None) -> None:
        path = f"users/{name}/servers/{server}" if server else f"users/{name}/server"
        self.request("POST", path, json=options or {})

    def wait_ready(self, name: str, server: str = "", timeout: float = 120) -> dict:
        """Poll until the server is ready; returns its model."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.request("GET", f"users/{name}").json()
            entry = (model.get("servers") or {}).get(server)
            if entry and entry.get("ready"):
                return entry
            time.sleep(0.2)
        raise TimeoutError(f"the server of {name!r} was not ready after {timeout:.0f} s")

    def stop(self, name: str, server: str = "") -> None:
        path = f"users/{name}/servers/{server}" if server else f"users/{name}/server"
        self.request("DELETE", path)

    def user_token(self, name: str, note: str = "matfold") -> str:
        return self.request("POST", f"users/{name}/tokens", json={"note": note}).json()["token"]


class HubProcess:
    """``matfold hub`` in a subprocess on a free port, with its own data folder.

    Use as a context manager; leaving it sends Ctrl-C (SIGINT) to the hub's
    process group and waits for everything to stop. By default the hub is the
    multi-user one (own accounts, one Unix account per user: run as root);
    ``single_user=True`` adds ``--single-user``.

    With ``throwaway_accounts`` (the default, for tests and benchmarks) the Unix
    accounts get a prefix of this instance only (``t1a2b3c-alice``), deleted by
    :meth:`stop`, unless the environment names ``MATFOLD_HUB_ACCOUNT_PREFIX``.
    """

    def __init__(self, data_dir, port: int | None = None, env: dict | None = None, log=None,
                 single_user: bool = False, throwaway_accounts: bool = True):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.token = secrets.token_hex(16)
        self.single_user = single_user
        self.env = dict(os.environ, MATFOLD_HUB_API_TOKEN=self.token, **(env or {}))
        self.throwaway_prefix = None
        if throwaway_accounts and "MATFOLD_HUB_ACCOUNT_PREFIX" not in self.env:
            self.throwaway_prefix = self.env["MATFOLD_HUB_ACCOUNT_PREFIX"] = "t" + secrets.token_hex(3) + "-"
        for key in ("MATFOLD_HUB_PASSWORD", "MATFOLD_HUB_ADMIN_PASSWORD"):
            if key not in (env or {}):
                self.env.pop(key, None)
        if "DATABASE_URL" not in (env or {}):
            self.env.pop("DATABASE_URL", None)  # use the embedded Postgres
        self.log_path = Path(log) if log else self.data_dir / "hub.log"
        self.process = None
        self.stop_seconds: float | None = None
        """Seconds from Ctrl-C to the launcher's exit, once :meth:`stop` ran."""
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> HubProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        exe = Path(sys.executable).parent / "matfold"
        command = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ["-m", "matfold_kernel"]),
                   "hub", "--port", str(self.port), "--data-dir", str(self.data_dir),
                   *(["--single-user"] if self.single_user else [])]
        # the log shows the admin's first password: readable by us only
        self._log = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w")
        self.process = subprocess.Popen(command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"matfold hub exited early:\n{self.log_path.read_text()[-3000:]}")
            # Knock only once JupyterHub says it runs: before, the proxy has no route to the
            # hub yet and logs each request as a 404 with an ECONNREFUSED stack trace.
            if READY_LINE not in self.log_path.read_text(errors="replace"):
                time.sleep(0.2)
                continue
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).ok and requests.get(
                        f"{self.url}/services/matfold/health", timeout=5).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"matfold hub did not answer within {timeout:.0f} s")

    @property
    def api(self) -> HubAPI:
        return HubAPI(self.url, self.token)

    def admin_password(self, name: str = "admin") -> str:
        """The first password of admin `name`, as ``matfold hub`` printed it on start."""
        match = re.search(rf"matfold: admin '{re.escape(name)}', first password (\S+) ", self.log_path.read_text())
        if not match:
            raise LookupError(f"matfold hub printed no password for admin {name!r}")
        return match.group(1)

    def _form(self, session: requests.Session, path: str, data: dict) -> requests.Response:
        """POST a hub form the way a browser does (the _xsrf cookie and field)."""
        session.get(f"{self.url}/hub/{path}", timeout=30)
        data = {**data, "_xsrf": session.cookies.get("_xsrf", "")}
        return session.post(f"{self.url}/hub/{path}", data=data, timeout=30, allow_redirects=False)

    def login(self, name: str, password: str) -> requests.Session | None:
        """Log in through the login form; a session with the hub's cookie, or None if refused."""
        session = requests.Session()
        response = self._form(session, "login", {"username": name, "password": password})
        if response.status_code == 302 and any(c.name == "jupyterhub-hub-login" for c in session.cookies):
            return session
        return None

    def signup(self, name: str, password: str) -> requests.Response:
        """Sign up through NativeAuthenticator's form (the account waits for approval)."""
        return self._form(requests.Session(), "signup",
                          {"username": name, "signup_password": password, "signup_password_confirmation": password})

    def stop(self, timeout: float = 60) -> int:
        """Ctrl-C the whole process group, as a terminal would; returns the exit code."""
        if self.process is None:
            return 0
        try:
            os.killpg(self.process.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        started = time.monotonic()
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        self.stop_seconds = time.monotonic() - started
        self._log.close()
        self.remove_accounts()
        return code

    def database_ok(self) -> bool:
        """Does the service's ``/health`` report its database up? False while it is not answering."""
        try:
            response = requests.get(f"{self.url}/services/matfold/health", timeout=5)
            return response.ok and response.json()["database"]["ok"] is True
        except (requests.RequestException, ValueError, KeyError):
            return False

    def remove_accounts(self) -> None:
        """Delete the Unix accounts this hub made for its users (its throwaway prefix only).

        `stop` does it; call it yourself for a hub whose launcher was killed.
        """
        if not self.throwaway_prefix:
            return
        import pwd

        from matfold_hub.accounts import delete_account

        for entry in pwd.getpwall():
            if entry.pw_name.startswith(self.throwaway_prefix):
                delete_account(entry.pw_name)

    def __enter__(self) -> HubProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
