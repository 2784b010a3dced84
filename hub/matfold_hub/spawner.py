"""``MatfoldLocalSpawner``: each hub user's server as a process of their own Unix account.

JupyterHub's ``LocalProcessSpawner`` with three changes: the account is
``<prefix><name>`` (accounts.py), made on first spawn; the home is
``<data>/users/<name>`` (``0700``, owned by the account) whatever the account entry
says; the server starts with ``umask 077`` so what a user writes is theirs alone.
The matfold notebooks are copied into the home *as the user*, so a link the user
planted in their home cannot make the hub write elsewhere. Needs root.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Unicode

from matfold_kernel.errors import MatfoldError

from .accounts import SERVICE_ACCOUNT, ensure_account, ensure_private_dir, system_username

__all__ = ["MatfoldLocalSpawner"]


class MatfoldLocalSpawner(LocalProcessSpawner):
    """A user server as a local process of the user's own account (``mf-<name>``)."""

    account_prefix = Unicode("mf-", help="Prefix of the Unix accounts made for hub users "
                                         "(MatfoldHub.account_prefix).").tag(config=True)
    home_dir_template = Unicode("/home/{username}", help="Home of a user's server; {username} is "
                                                        "the hub user name.").tag(config=True)
    notebooks_dir = Unicode("", help="Notebooks copied into each home on spawn, as the user.").tag(config=True)
    service_account = Unicode(SERVICE_ACCOUNT, help="The service's account: never a user's "
                                                      "(MatfoldHub.service_account).").tag(config=True)

    @property
    def account(self) -> str:
        """The Unix account of this server's user."""
        return system_username(self.user.name, self.account_prefix)

    @property
    def home_dir(self) -> str:
        return self.home_dir_template.format(username=self.user.name)

    def ensure_account(self):
        """Make the account and its private home if missing; returns its ``pwd`` entry.

        Refuses an account that is the service's, root's or a system account (uid below
        1000): a prefix such as ``matfold-`` must not hand hub user ``service`` the
        service's account.
        """
        if self.account == self.service_account:
            raise MatfoldError(f"hub user {self.user.name!r} maps to the service's account {self.account!r}; "
                               "choose another MATFOLD_HUB_ACCOUNT_PREFIX")
        entry = ensure_account(self.account, self.home_dir)
        if entry.pw_uid < 1000:
            raise MatfoldError(f"hub user {self.user.name!r} maps to the system account {self.account!r} "
                               f"(uid {entry.pw_uid}); choose another MATFOLD_HUB_ACCOUNT_PREFIX")
        ensure_private_dir(Path(self.home_dir).parent, mode=0o711)
        ensure_private_dir(self.home_dir, owner=entry, mode=0o700)
        return entry

    def _copy_notebooks(self) -> None:
        if not self.notebooks_dir:
            return
        env = {k: os.environ[k] for k in ("PATH", "PYTHONPATH", "LANG") if k in os.environ}
        env["HOME"] = self.home_dir
        done = subprocess.run(
            [self.cmd[0] if self.cmd else sys.executable, "-m", "matfold_hub.user_env",
             self.notebooks_dir, self.home_dir],
            env=env, preexec_fn=self.make_preexec_fn(self.user.name), capture_output=True, text=True,
            timeout=60)
        if done.returncode:
            self.log.warning("copying the notebooks for %s failed: %s", self.user.name, done.stderr[-500:])

    def make_preexec_fn(self, name):
        setuid = set_user_setuid(self.account, chdir=False)
        home = self.home_dir

        def preexec():
            setuid()
            os.umask(0o077)
            os.chdir(home)

        return preexec

    def user_env(self, env):
        env["USER"] = env["LOGNAME"] = self.account
        env["HOME"] = self.home_dir
        env["SHELL"] = "/bin/bash"  # the account's login shell is nologin; terminals still work
        return env

    async def start(self):
        await asyncio.to_thread(self.ensure_account)
        await asyncio.to_thread(self._copy_notebooks)
        return await super().start()
