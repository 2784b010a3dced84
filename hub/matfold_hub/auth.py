"""Local accounts: NativeAuthenticator (sign-up, admin approval) with the admins made up front.

Why NativeAuthenticator rather than FirstUseAuthenticator: with first-use, whoever
logs in first under a name owns it, so on a fresh hub a stranger could claim any
name (``admin`` included); NativeAuthenticator keeps sign-ups waiting until an admin
approves them at ``/hub/authorize``.

A sign-up under an admin's name is approved at once by NativeAuthenticator, so
``matfold hub`` creates every configured admin *before* the hub answers, with a
generated password kept ``0600`` in ``<data>/admin-passwords/<name>`` (printed on
start). An admin who changed their password keeps it: the file only seeds the first
login.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from jupyterhub.handlers import BaseHandler
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.handlers import DiscardHandler as _NativeDiscardHandler
from nativeauthenticator.handlers import LoginHandler as _NativeLoginHandler
from nativeauthenticator.handlers import ToggleAuthorizationHandler as _NativeToggleHandler
from tornado import web
from tornado.escape import url_escape
from tornado.httputil import url_concat
from traitlets import Unicode

from matfold_kernel.errors import MatfoldInputError

from .accounts import USERNAME_PATTERN

__all__ = ["MatfoldNativeAuthenticator", "admin_password", "MIN_PASSWORD_LENGTH"]

#: The shortest password a hub account may have (sign-up, change, admin's own).
MIN_PASSWORD_LENGTH = 10


def admin_password(data_dir, name: str) -> tuple[str, Path]:
    """The first-login password of admin `name`: ``$MATFOLD_HUB_ADMIN_PASSWORD`` or generated.

    Kept in ``<data_dir>/admin-passwords/<name>`` (folder ``0700``, file ``0600``);
    returns the password and that file.
    """
    folder = Path(data_dir) / "admin-passwords"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / name
    if path.is_file():
        return path.read_text().strip(), path
    password = os.environ.get("MATFOLD_HUB_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise MatfoldInputError(
            f"MATFOLD_HUB_ADMIN_PASSWORD has {len(password)} characters; hub passwords need at least "
            f"{MIN_PASSWORD_LENGTH} (or unset it and matfold generates one)")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password, path


class _NoTimer:
    def start(self):
        return self

    def stop(self, send=True):
        pass


class _NoStatsd:
    def timer(self, name):
        return _NoTimer()


class LoginHandler(_NativeLoginHandler):
    """NativeAuthenticator 1.3.0's login page, fixed for JupyterHub 6.

    JupyterHub 6 dropped the handlers' ``statsd`` client (every login POST was a 500)
    and renders error pages through ``_render(sync=True, ...)``.
    """

    statsd = _NoStatsd()

    def _render(self, login_error=None, username=None, sync=False, **kwargs):
        return BaseHandler.render_template(
            self, "native-login.html", sync=sync,
            next=url_escape(self.get_argument("next", default="")),
            username=username,
            login_error=login_error,
            custom_html=self.authenticator.custom_html,
            login_url=self.settings["login_url"],
            enable_signup=self.authenticator.enable_signup,
            two_factor_auth=self.authenticator.allow_2fa,
            authenticator_login_url=url_concat(self.authenticator.login_url(self.hub.base_url),
                                               {"next": self.get_argument("next", "")}),
        )


def _same_site_only(handler) -> None:
    """403 for a browser request sent from another site (the header browsers add to every request).

    NativeAuthenticator approves (``/hub/authorize/<name>``) and discards sign-ups with
    plain GET links, so a page elsewhere could make an admin's browser approve anyone.
    """
    site = handler.request.headers.get("Sec-Fetch-Site", "none")
    if site not in ("same-origin", "none"):
        raise web.HTTPError(403, f"refused a {site} request: open the link from the hub's own page")


class ToggleAuthorizationHandler(_NativeToggleHandler):
    """Approve or withdraw a sign-up, from the hub's own pages only."""

    async def get(self, slug):
        _same_site_only(self)
        return await super().get(slug)


class DiscardHandler(_NativeDiscardHandler):
    """Discard a sign-up, from the hub's own pages only."""

    async def get(self, user_name):
        _same_site_only(self)
        return await super().get(user_name)


_REPLACED = {_NativeLoginHandler: LoginHandler, _NativeToggleHandler: ToggleAuthorizationHandler,
             _NativeDiscardHandler: DiscardHandler}


class MatfoldNativeAuthenticator(NativeAuthenticator):
    """NativeAuthenticator whose configured admins exist, with a password, before anyone signs up."""

    admin_password_dir = Unicode(
        "", help="Data folder whose admin-passwords/<name> files seed the admins' first "
                 "passwords (MatfoldHub.data_dir); empty: admins must sign up.").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.admin_password_dir:
            self._create_admins()

    def get_handlers(self, app):
        return [(path, _REPLACED.get(handler, handler)) for path, handler in super().get_handlers(app)]

    def _create_admins(self) -> None:
        for name in sorted(self.admin_users):
            if self.get_user(name) is not None:
                continue
            password, path = admin_password(self.admin_password_dir, name)
            if self.create_user(name, password) is None:
                raise MatfoldInputError(f"admin {name!r} could not be created with the password in {path}; "
                                        f"check the name against {USERNAME_PATTERN}")
            self.log.info("matfold: created admin %s (first password in %s)", name, path)
