"""What ``matfold hub`` sets up so users cannot read each other or the service.

On a multi-user local hub (the default) the launcher runs as root and:

- refuses to start otherwise (:func:`check_can_isolate`), naming the ways out;
- makes the service's own account (:data:`accounts.SERVICE_ACCOUNT`) and its private
  working folder ``<data>/service``;
- leaves the data folder traversable but not listable (``0711``) so user homes below
  it can be reached, and every secret in it (hub sqlite, cookie secret, passwords)
  ``0600`` root's (:func:`secure_data_dir`); the hub runs with ``umask 077``.

The embedded Postgres asks for a password and its socket folder (the data folder,
``0710``) admits only the service's account, a member of pgserver's group
(``matfold_services.db.start_embedded``).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from matfold_kernel.errors import MatfoldInputError

from .accounts import SERVICE_ACCOUNT, check_username, ensure_account, ensure_private_dir, open_parents

__all__ = ["HubPlan", "plan_hub", "announce", "check_can_isolate", "prepare_service_account", "secure_data_dir",
           "open_python", "SECRET_FILES"]

#: Files of the data folder that hold secrets: only root may read them.
SECRET_FILES = ("jupyterhub.sqlite", "jupyterhub_cookie_secret", "hub_password", "postgres.password",
                "jupyterhub.pid", "proxy.pid")


def check_can_isolate(per_user: bool) -> None:
    """:class:`MatfoldInputError` (exit 2) when per-user accounts are asked for but we are not root."""
    if per_user and os.geteuid() != 0:
        raise MatfoldInputError(
            "a multi-user local hub runs each user's server under their own Unix account and needs "
            "root: run matfold hub as root, use MATFOLD_HUB_SPAWNER=systemd or kubernetes, or pass "
            "--single-user for a development hub where everyone is you")


def prepare_service_account(data_dir, account: str = SERVICE_ACCOUNT):
    """The service's account and its ``0700`` working folder ``<data>/service``; returns the pwd entry."""
    home = Path("/var/lib") / account
    entry = ensure_account(account, home, system=True)
    if home.parent.is_dir():
        ensure_private_dir(home, owner=entry, mode=0o700)
    ensure_private_dir(Path(data_dir) / "service", owner=entry, mode=0o700)
    return entry


def open_python(paths=()) -> list[Path]:
    """Let other accounts reach this Python (and `paths`): ``o+x`` on closed folders above them.

    A Python under ``/root`` (pyenv) cannot run as ``mf-alice`` otherwise. Only traversal
    is added, never listing. Returns the folders changed.
    """
    import sys

    changed = []
    targets = [Path(os.path.realpath(sys.executable)), Path(sys.base_prefix) / "lib", Path(sys.prefix) / "lib",
               *(Path(p) for p in paths)]
    for target in targets:
        for parent in reversed(target.resolve().parents):
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
                changed.append(parent)
    return changed


def secure_data_dir(data_dir, per_user: bool) -> None:
    """Modes of the data folder: ``0711`` (multi-user) or ``0700``, secrets ``0600``, ``users/`` ``0711``."""
    data_dir = Path(data_dir)
    if per_user:
        open_parents(data_dir)
        data_dir.chmod(0o711)
        ensure_private_dir(data_dir / "users", mode=0o711)
    else:
        data_dir.chmod(0o700)
    for name in SECRET_FILES:
        path = data_dir / name
        if path.is_file() and not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)


@dataclass
class HubPlan:
    """What the launcher settled before starting anything (see :func:`plan_hub`)."""

    authenticator: str
    single_user: bool
    per_user: bool
    service_account: str
    #: (admin name, first password, file holding it) for the native login
    admins: list = field(default_factory=list)
    #: folders opened (o+x) so the accounts can run this Python
    opened: list = field(default_factory=list)

    @property
    def socket_account(self) -> str | None:
        """The account given the embedded Postgres's socket (the service's, multi-user only)."""
        return self.service_account if self.per_user else None


def plan_hub(env: dict, data_dir, single_user: bool) -> HubPlan:
    """Check the login/spawner choice and make what the hub needs first (accounts, passwords).

    Raises :class:`MatfoldInputError` (exit 2) for a multi-user hub without root and for a
    shared password without ``--single-user``. Updates `env` (``MATFOLD_HUB_SINGLE_USER``).
    """
    if single_user:
        env["MATFOLD_HUB_SINGLE_USER"] = "1"
    authenticator = env.get("MATFOLD_HUB_AUTHENTICATOR", "native").strip().lower()
    per_user = env.get("MATFOLD_HUB_SPAWNER", "local").strip().lower() == "local" and not single_user
    check_can_isolate(per_user)
    if authenticator == "shared-password" and not single_user:
        raise MatfoldInputError("MATFOLD_HUB_AUTHENTICATOR=shared-password lets anyone log in as anyone; "
                                "use it only with --single-user, or unset it for own accounts")
    plan = HubPlan(authenticator, single_user, per_user, env.get("MATFOLD_SERVICE_ACCOUNT", SERVICE_ACCOUNT))
    if authenticator == "native":
        from .auth import admin_password

        names = (x.strip() for x in env.get("MATFOLD_HUB_ADMINS", "admin").split(","))
        plan.admins = [(n, *admin_password(data_dir, check_username(n))) for n in names if n]
    if per_user:
        prepare_service_account(data_dir, plan.service_account)
        plan.opened = open_python(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)
    return plan


def announce(plan: HubPlan) -> None:
    """The launcher's lines about isolation and logins."""
    for folder in plan.opened:
        print(f"matfold: {folder} is now traversable (o+x, not listable) so user accounts can run "
              "this Python", flush=True)
    if plan.single_user:
        print("matfold: single-user development mode: every user's server runs as this account "
              f"({os.environ.get('USER') or os.getuid()}), on 127.0.0.1 only", flush=True)
    for name, password, path in plan.admins:
        print(f"matfold: admin {name!r}, first password {password} (kept in {path}); "
              "others sign up and wait for approval at /hub/authorize", flush=True)
