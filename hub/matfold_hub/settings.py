"""Settings of a matfold JupyterHub deployment, as traitlets read from the environment.

Every setting has a ``MATFOLD_*`` environment variable (read by its ``@default``)
and can be overridden in ``jupyterhub_config.py`` as ``c.MatfoldHub.<name>``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from traitlets import Bool, Dict, Float, Integer, List, Unicode, default, validate
from traitlets.config import Configurable

from matfold_kernel import config

from .accounts import SERVICE_ACCOUNT

__all__ = ["MatfoldHub", "AUTHENTICATORS", "SPAWNERS", "default_data_dir"]

AUTHENTICATORS = ("native", "shared-password", "github", "google", "orcid")
SPAWNERS = ("local", "systemd", "kubernetes")


def default_data_dir() -> Path:
    """``$MATFOLD_HUB_DIR``, else ``<data folder>/hub``.

    The data folder is the library's one rule (:func:`matfold_kernel.config.data_dir`):
    ``$MATFOLD_DATA_DIR``, else ``$XDG_DATA_HOME/matfold``, else ``~/.local/share/matfold``;
    so the hub's embedded Postgres sits in ``<data folder>/hub/postgres`` beside the
    laptop store's ``<data folder>/postgres``.
    """
    if os.environ.get("MATFOLD_HUB_DIR"):
        return Path(os.environ["MATFOLD_HUB_DIR"]).expanduser()
    return config.data_dir() / "hub"


def _choice(value: str, allowed, variable: str) -> str:
    value = value.strip().lower()
    if value not in allowed:
        raise ValueError(f"{variable}={value!r}; use one of {', '.join(allowed)}")
    return value


def _env_list(name: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, "").split(",") if x.strip()]


class MatfoldHub(Configurable):
    """How this matfold hub authenticates, spawns and serves."""

    single_user = Bool(
        help="Development mode: every user server runs as the hub's own Unix account, on "
             "127.0.0.1 only; shared-password login is allowed only here. Without it the local "
             "spawner gives each user their own account (needs root). Env: MATFOLD_HUB_SINGLE_USER=1.",
    ).tag(config=True)

    @default("single_user")
    def _single_user_default(self):
        return os.environ.get("MATFOLD_HUB_SINGLE_USER", "").strip().lower() in ("1", "true", "yes")

    authenticator = Unicode(
        help="Login method: native (own accounts: sign-up, admin approval; the default), "
             "github, google, orcid, or shared-password (one password for every name; "
             "single-user development only). Env: MATFOLD_HUB_AUTHENTICATOR.",
    ).tag(config=True)

    @default("authenticator")
    def _authenticator_default(self):  # traitlets does not validate defaults: check here too
        return self._check_login(_choice(os.environ.get("MATFOLD_HUB_AUTHENTICATOR", "native"),
                                         AUTHENTICATORS, "MATFOLD_HUB_AUTHENTICATOR"))

    @validate("authenticator")
    def _check_authenticator(self, proposal):
        return self._check_login(_choice(proposal["value"], AUTHENTICATORS, "MATFOLD_HUB_AUTHENTICATOR"))

    def _check_login(self, value: str) -> str:
        if value == "shared-password" and not self.single_user:
            raise ValueError("MATFOLD_HUB_AUTHENTICATOR='shared-password' lets anyone log in as anyone; "
                             "it is allowed only with --single-user (MATFOLD_HUB_SINGLE_USER=1)")
        return value

    account_prefix = Unicode(
        help="Prefix of the Unix account of each hub user (local spawner, multi-user): hub user "
             "'root' runs as 'mf-root', never as root. Env: MATFOLD_HUB_ACCOUNT_PREFIX.",
    ).tag(config=True)

    @default("account_prefix")
    def _prefix_default(self):
        return self._check_prefix(os.environ.get("MATFOLD_HUB_ACCOUNT_PREFIX", "mf-"))

    @validate("account_prefix")
    def _check_prefix_trait(self, proposal):
        return self._check_prefix(proposal["value"])

    @staticmethod
    def _check_prefix(value: str) -> str:
        import re

        if not re.fullmatch(r"[a-z][a-z0-9]{0,7}-", value):
            raise ValueError(f"MATFOLD_HUB_ACCOUNT_PREFIX={value!r}; use 1-8 lower-case letters or "
                             "digits (starting with a letter) and a final '-', e.g. 'mf-'")
        return value

    service_account = Unicode(
        SERVICE_ACCOUNT,
        help="Unix account the matfold service runs as on a multi-user local hub (made by "
             "matfold hub). Env: MATFOLD_SERVICE_ACCOUNT.",
    ).tag(config=True)

    @default("service_account")
    def _service_account_default(self):
        return os.environ.get("MATFOLD_SERVICE_ACCOUNT", SERVICE_ACCOUNT)

    @property
    def per_user_accounts(self) -> bool:
        """Whether each user's server runs under its own Unix account (local, not single-user)."""
        return self.spawner == "local" and not self.single_user

    spawner = Unicode(
        help="Where user servers run: local (a process of each user's own Unix account; with "
             "single_user, of the hub's account), systemd (one machine, resource limits) or "
             "kubernetes. Env: MATFOLD_HUB_SPAWNER.",
    ).tag(config=True)

    @default("spawner")
    def _spawner_default(self):
        return _choice(os.environ.get("MATFOLD_HUB_SPAWNER", "local"), SPAWNERS, "MATFOLD_HUB_SPAWNER")

    @validate("spawner")
    def _check_spawner(self, proposal):
        return _choice(proposal["value"], SPAWNERS, "MATFOLD_HUB_SPAWNER")

    data_dir = Unicode(help="Hub state: its sqlite file, cookie secret, user homes (local spawner), "
                            "the embedded Postgres. Env: MATFOLD_HUB_DIR.").tag(config=True)

    @default("data_dir")
    def _data_dir_default(self):
        return str(default_data_dir())

    ip = Unicode("127.0.0.1", help="Address the proxy listens on (always 127.0.0.1 in single-user "
                                   "mode). Env: MATFOLD_HUB_IP.").tag(config=True)

    @default("ip")
    def _ip_default(self):
        return "127.0.0.1" if self.single_user else os.environ.get("MATFOLD_HUB_IP", "127.0.0.1")

    @validate("ip")
    def _check_ip(self, proposal):
        if self.single_user and proposal["value"] != "127.0.0.1":
            raise ValueError(f"ip={proposal['value']!r}: a single-user hub listens on 127.0.0.1 only")
        return proposal["value"]

    port = Integer(8000, help="Port of the public proxy. Env: MATFOLD_HUB_PORT.").tag(config=True)

    @default("port")
    def _port_default(self):
        return int(os.environ.get("MATFOLD_HUB_PORT", "8000"))

    password = Unicode(help="Shared password of the shared-password login (single-user only). Env: "
                            "MATFOLD_HUB_PASSWORD (matfold hub generates and prints one when unset).").tag(config=True)

    @default("password")
    def _password_default(self):
        return os.environ.get("MATFOLD_HUB_PASSWORD", "")

    api_token = Unicode(help="Registered as an admin API token (automation, acceptance checks). "
                             "Env: MATFOLD_HUB_API_TOKEN.").tag(config=True)

    @default("api_token")
    def _api_token_default(self):
        return os.environ.get("MATFOLD_HUB_API_TOKEN", "")

    admin_users = List(Unicode(), help="Hub admins. Env: MATFOLD_HUB_ADMINS (comma-separated; "
                                       "default 'admin' with native login, none with OAuth).").tag(config=True)

    @default("admin_users")
    def _admins_default(self):
        if "MATFOLD_HUB_ADMINS" in os.environ:
            return _env_list("MATFOLD_HUB_ADMINS")
        return ["admin"] if self.authenticator == "native" else []

    allowed_users = List(Unicode(), help="Only these users may log in (empty: anyone the "
                                          "authenticator accepts). Env: MATFOLD_HUB_ALLOWED_USERS.").tag(config=True)

    @default("allowed_users")
    def _allowed_default(self):
        return _env_list("MATFOLD_HUB_ALLOWED_USERS")

    allowed_organizations = List(Unicode(), help="GitHub organisations (or org:team) allowed. "
                                                  "Env: MATFOLD_HUB_GITHUB_ORGS.").tag(config=True)

    @default("allowed_organizations")
    def _orgs_default(self):
        return _env_list("MATFOLD_HUB_GITHUB_ORGS")

    allowed_groups = List(Unicode(), help="Google groups allowed (Google Workspace). "
                                           "Env: MATFOLD_HUB_GOOGLE_GROUPS.").tag(config=True)

    @default("allowed_groups")
    def _groups_default(self):
        return _env_list("MATFOLD_HUB_GOOGLE_GROUPS")

    hosted_domains = List(Unicode(), help="Google domains allowed. Env: MATFOLD_HUB_GOOGLE_DOMAINS.").tag(config=True)

    @default("hosted_domains")
    def _domains_default(self):
        return _env_list("MATFOLD_HUB_GOOGLE_DOMAINS")

    classrooms_file = Unicode(help="YAML or JSON file of classrooms: {name: {instructors: [...], "
                                   "students: [...]}}. Env: MATFOLD_HUB_CLASSROOMS.").tag(config=True)

    @default("classrooms_file")
    def _classrooms_default(self):
        return os.environ.get("MATFOLD_HUB_CLASSROOMS", "")

    notebooks_dir = Unicode(help="Notebooks copied into each user's home on first spawn. "
                                 "Env: MATFOLD_HUB_NOTEBOOKS.").tag(config=True)

    @default("notebooks_dir")
    def _notebooks_default(self):
        if os.environ.get("MATFOLD_HUB_NOTEBOOKS"):
            return os.environ["MATFOLD_HUB_NOTEBOOKS"]
        here = Path(__file__).resolve().parent
        for candidate in (here.parent.parent / "notebooks", here / "notebooks"):
            if candidate.is_dir():
                return str(candidate)
        return ""

    idle_timeout = Integer(3600, help="Seconds of inactivity before the idle culler stops a "
                                      "server. Env: MATFOLD_HUB_IDLE_TIMEOUT.").tag(config=True)

    @default("idle_timeout")
    def _idle_default(self):
        return int(os.environ.get("MATFOLD_HUB_IDLE_TIMEOUT", "3600"))

    service_port = Integer(help="Port of the matfold service on 127.0.0.1. Env: MATFOLD_SERVICE_PORT.").tag(config=True)

    @default("service_port")
    def _service_port_default(self):
        return int(os.environ.get("MATFOLD_SERVICE_PORT", "10101"))

    database_url = Unicode(help="Postgres of the matfold service. Env: DATABASE_URL (matfold hub "
                                "starts an embedded one when unset).").tag(config=True)

    @default("database_url")
    def _database_default(self):
        return os.environ.get("DATABASE_URL", "")

    mem_limit = Unicode("", help="Memory per user server, e.g. '4G' (systemd, kubernetes). "
                                 "Env: MATFOLD_HUB_MEM_LIMIT.").tag(config=True)

    @default("mem_limit")
    def _mem_default(self):
        return os.environ.get("MATFOLD_HUB_MEM_LIMIT", "")

    cpu_limit = Float(0.0, help="CPUs per user server (systemd, kubernetes; 0: no limit). "
                                "Env: MATFOLD_HUB_CPU_LIMIT.").tag(config=True)

    @default("cpu_limit")
    def _cpu_default(self):
        return float(os.environ.get("MATFOLD_HUB_CPU_LIMIT", "0") or 0)

    user_image = Unicode("quay.io/matfold/matfold-user:latest",
                         help="Container image of user servers (kubernetes). Env: MATFOLD_HUB_IMAGE.").tag(config=True)

    @default("user_image")
    def _image_default(self):
        return os.environ.get("MATFOLD_HUB_IMAGE", "quay.io/matfold/matfold-user:latest")

    gpu_profiles = Bool(help="Offer GPU profiles (default: when nvidia-smi finds a GPU, always on "
                             "kubernetes). Env: MATFOLD_HUB_GPU=0/1.").tag(config=True)

    @default("gpu_profiles")
    def _gpu_default(self):
        env = os.environ.get("MATFOLD_HUB_GPU")
        if env is not None:
            return env.strip().lower() in ("1", "true", "yes")
        from .profiles import gpus_visible

        return self.spawner == "kubernetes" or gpus_visible()

    auth_cache_seconds = Integer(
        5, help="Seconds a user server trusts its cached answer about a token or cookie "
                "(HubOAuth.cache_max_age): a revoked share or deleted user is refused after at most "
                "this long. Env: MATFOLD_HUB_AUTH_CACHE_SECONDS.").tag(config=True)

    @default("auth_cache_seconds")
    def _auth_cache_default(self):
        return int(os.environ.get("MATFOLD_HUB_AUTH_CACHE_SECONDS", "5"))

    python = Unicode(sys.executable, help="Python that runs services and user servers.").tag(config=True)

    extra_services = List(Dict(), help="More JupyterHub services to register.").tag(config=True)
