"""Unix accounts of a multi-user local hub: one per hub user, one for the service.

A hub user ``alice`` runs her server as the system account ``mf-alice`` (the prefix
keeps a hub user named ``root`` or ``postgres`` off the real ``root``/``postgres``).
Hub user names are checked against :data:`USERNAME_PATTERN` before any account is
made; names the pattern allows but ``useradd`` does not (an e-mail from Google, too
long) get a readable stem and a hash.

Folders: the data folder and ``<data>/users`` are ``0711`` (traversable, not
listable), each home ``<data>/users/<name>`` is ``0700`` and owned by its account.
Everything here needs root (``useradd``, ``chown``).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import stat
import subprocess
import time
from pathlib import Path

from matfold_kernel.errors import MatfoldError, MatfoldInputError

__all__ = [
    "USERNAME_PATTERN",
    "SERVICE_ACCOUNT",
    "check_username",
    "system_username",
    "ensure_account",
    "ensure_private_dir",
    "open_parents",
    "delete_account",
]

#: Hub user names: lower case letters, digits and ``._@-``, starting with a letter or digit,
#: at most 64 characters (GitHub logins, ORCID iDs and Google e-mails fit). No ``/``, no ``..``.
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._@-]{0,63}$"
#: The account the matfold service runs as (never a hub user's: those carry the prefix).
SERVICE_ACCOUNT = "matfold-service"
_PLAIN = re.compile(r"[a-z0-9][a-z0-9-]*")  # hub names kept as they are in the account name
_MAX_SYSTEM_NAME = 32  # useradd's limit on Linux


def check_username(name: str) -> str:
    """`name` if it matches :data:`USERNAME_PATTERN`, else :class:`MatfoldInputError`."""
    if not re.fullmatch(USERNAME_PATTERN, name or "") or ".." in name:
        raise MatfoldInputError(
            f"hub user name {name!r} is not allowed; use lower-case letters, digits and . _ @ - "
            "(starting with a letter or digit, at most 64 characters)")
    return name


def system_username(name: str, prefix: str = "mf-") -> str:
    """The Unix account of hub user `name`: ``<prefix><name>``, or a stem and a hash.

    ``alice`` → ``mf-alice``; ``ana.lopez@uni.edu`` → ``mf-ana-lopez-uni-edu_1a2b3c4d``.
    Names of only ``a-z 0-9 -`` that fit useradd's 32 characters are kept; any other
    gets ``-`` for each other character, is cut, and ends in ``_`` and 8 hex digits of
    its SHA-256. Kept names never contain ``_``, so no hub user can pick a name that
    lands on another one's hashed account.
    """
    check_username(name)
    plain = prefix + name
    if _PLAIN.fullmatch(name) and len(plain) <= _MAX_SYSTEM_NAME:
        return plain
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    stem = re.sub(r"[^a-z0-9-]", "-", name)[: _MAX_SYSTEM_NAME - len(prefix) - 9]
    return f"{prefix}{stem}_{digest}"


def _run(command: list[str]) -> None:
    """Run an account tool; ``useradd`` refuses while another one holds /etc/passwd: retry."""
    for attempt in range(20):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode == 0:
            return
        if "lock" not in done.stderr.lower() or attempt == 19:
            raise MatfoldError(f"{' '.join(command)} failed: {done.stderr.strip()}")
        time.sleep(0.1)


def ensure_account(account: str, home: str | None = None, *, system: bool = False) -> pwd.struct_passwd:
    """The account `account`, created with ``useradd`` if missing (no login shell, no password).

    `home` is written into the account entry but not created (see :func:`ensure_private_dir`).
    """
    try:
        return pwd.getpwnam(account)
    except KeyError:
        pass
    command = ["useradd", "--shell", "/usr/sbin/nologin", "--no-create-home", "--user-group"]
    if system:
        command.append("--system")
    if home:
        command += ["--home-dir", str(home)]
    try:
        _run([*command, account])
    except MatfoldError:
        try:  # another hub made it at the same moment
            return pwd.getpwnam(account)
        except KeyError:
            raise
    return pwd.getpwnam(account)


def ensure_private_dir(path, owner: pwd.struct_passwd | None = None, mode: int = 0o700) -> Path:
    """Make `path` a real folder (no symlink) with `mode`, owned by `owner` (default: us)."""
    path = Path(path)
    path.mkdir(mode=mode, parents=False, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise MatfoldError(f"{path} must be a folder, not a link or file; remove it and start again")
    if owner is not None and (info.st_uid, info.st_gid) != (owner.pw_uid, owner.pw_gid):
        os.chown(path, owner.pw_uid, owner.pw_gid, follow_symlinks=False)
    if stat.S_IMODE(info.st_mode) != mode:
        path.chmod(mode)
    return path


def open_parents(path) -> None:
    """Let every account traverse (not list) the folders above `path`: add ``o+x`` where missing."""
    for parent in Path(path).resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def delete_account(account: str) -> bool:
    """Remove `account` (not its files) if it exists; returns whether it did."""
    try:
        pwd.getpwnam(account)
    except KeyError:
        return False
    _run(["userdel", account])
    return True
