"""JupyterHub configuration of matfold.

Read top to bottom: where the hub listens, who may log in, where user servers run
and with which profiles, which services run beside the hub, and who may do what.
Every choice is a trait of ``MatfoldHub`` (matfold_hub/settings.py) with a
``MATFOLD_*`` environment variable; override any of them here as
``c.MatfoldHub.<name> = ...`` or set JupyterHub's own traits below as usual.

``matfold hub`` runs JupyterHub with this file; ``jupyterhub -f hub/jupyterhub_config.py``
works too (then set DATABASE_URL yourself or the service runs without a database).
"""

import os
import sys
from pathlib import Path

from matfold_hub.accounts import USERNAME_PATTERN
from matfold_hub.auth import MIN_PASSWORD_LENGTH
from matfold_hub.classrooms import classroom_groups, classroom_roles, load_classrooms
from matfold_hub.profiles import (
    kubespawner_profile_list,
    make_apply_user_options,
    options_form,
    options_from_form,
)
import matfold_hub
from matfold_hub.lab import jupyter_config_path
from matfold_hub.proxy import find_proxy
from matfold_hub.settings import MatfoldHub
from matfold_hub.supervise import mark_children
from matfold_hub.user_env import make_pre_spawn_hook

c = get_config()  # noqa: F821 (provided by JupyterHub)
matfold = MatfoldHub(config=c)
data_dir = Path(matfold.data_dir)
data_dir.mkdir(parents=True, exist_ok=True)
python = matfold.python

# --- where the hub listens and keeps its state -------------------------------------------
c.JupyterHub.bind_url = f"http://{matfold.ip}:{matfold.port}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{os.environ.get('MATFOLD_HUB_INTERNAL_PORT', '8081')}"
c.JupyterHub.db_url = f"sqlite:///{data_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(data_dir / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(data_dir / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [find_proxy()]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('MATFOLD_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.pid_file = str(data_dir / "proxy.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every user server
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 5

# --- who may log in ----------------------------------------------------------------------
if matfold.authenticator == "native":
    # own accounts: sign up at /hub/signup, an admin approves at /hub/authorize (auth.py)
    c.JupyterHub.authenticator_class = "matfold_hub.auth.MatfoldNativeAuthenticator"
    c.MatfoldNativeAuthenticator.admin_password_dir = str(data_dir)
    c.NativeAuthenticator.minimum_password_length = MIN_PASSWORD_LENGTH
    c.NativeAuthenticator.check_common_password = True
    c.NativeAuthenticator.allowed_failed_logins = 5
    c.NativeAuthenticator.seconds_before_next_try = 60
    c.NativeAuthenticator.open_signup = False
elif matfold.authenticator == "shared-password":  # single-user development only (settings.py)
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = matfold.password
elif matfold.authenticator == "github":
    # GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET, OAUTH_CALLBACK_URL from the environment
    c.JupyterHub.authenticator_class = "oauthenticator.github.GitHubOAuthenticator"
    c.GitHubOAuthenticator.allowed_organizations = set(matfold.allowed_organizations)
    c.GitHubOAuthenticator.scope = ["read:org"]
elif matfold.authenticator == "google":
    # GOOGLE_CLIENT_ID / OAUTH_CLIENT_ID, ... from the environment
    c.JupyterHub.authenticator_class = "oauthenticator.google.GoogleOAuthenticator"
    c.GoogleOAuthenticator.hosted_domain = list(matfold.hosted_domains)
    if matfold.allowed_groups and matfold.hosted_domains:
        c.GoogleOAuthenticator.allowed_google_groups = {
            domain: set(matfold.allowed_groups) for domain in matfold.hosted_domains
        }
elif matfold.authenticator == "orcid":
    # ORCID is OpenID Connect: the ORCID iD is the id_token's "sub".
    c.JupyterHub.authenticator_class = "oauthenticator.generic.GenericOAuthenticator"
    c.GenericOAuthenticator.login_service = "ORCID"
    c.GenericOAuthenticator.authorize_url = "https://orcid.org/oauth/authorize"
    c.GenericOAuthenticator.token_url = "https://orcid.org/oauth/token"
    c.GenericOAuthenticator.scope = ["openid"]
    c.GenericOAuthenticator.userdata_from_id_token = True
    c.GenericOAuthenticator.username_claim = "sub"
c.Authenticator.admin_users = set(matfold.admin_users)
if matfold.allowed_users:
    c.Authenticator.allowed_users = set(matfold.allowed_users)
else:
    # shared password: anyone with the password; OAuth: anyone the org/domain/group rules admit
    c.Authenticator.allow_all = not (matfold.allowed_organizations or matfold.allowed_groups)
c.Authenticator.manage_groups = False
# names become Unix accounts (mf-<name>) and folders (<data>/users/<name>): no '/', no '..'
c.Authenticator.username_pattern = USERNAME_PATTERN

# --- where user servers run ----------------------------------------------------------------
service_url = f"http://127.0.0.1:{matfold.service_port}/services/matfold/"
c.Spawner.default_url = "/lab/tree/matfold-notebooks"
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 180
# JUPYTER_CONFIG_PATH: matfold's Jupyter config first, which turns JupyterLab's "Jupyter news"
# prompt off (matfold_hub/jupyter_config/README.md)
c.Spawner.environment = {"MATFOLD_SERVICE_URL": service_url, "JUPYTER_CONFIG_PATH": jupyter_config_path()}
# A server re-asks the hub about a token or cookie (revoked share, deleted user) after at
# most this many seconds (JupyterHub's default: 300).
server_args = [f"--HubOAuth.cache_max_age={matfold.auth_cache_seconds}"]
# JupyterLab fetches no news and checks for no updates (the prompt: JUPYTER_CONFIG_PATH above)
server_args += ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
# and a user server stops without a traceback (matfold_hub/server_config.py)
server_args.append(f"--config={Path(matfold_hub.__file__).resolve().parent / 'server_config.py'}")
# Ctrl-C of `matfold hub` stops user servers within seconds (JupyterHub's default waits
# 30 s after SIGINT and 30 s after SIGTERM).
c.LocalProcessSpawner.interrupt_timeout = 1
c.LocalProcessSpawner.term_timeout = 1
c.Spawner.pre_spawn_hook = make_pre_spawn_hook(matfold.notebooks_dir, service_url)
# user servers inherit only JupyterHub's env_keep (PATH, PYTHONPATH, LANG...) and the lines
# above: the service's secrets (DATABASE_URL, STRIPE_*) stay in the service's environment.
if matfold.spawner == "kubernetes":
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.KubeSpawner.image = matfold.user_image
    c.KubeSpawner.profile_list = kubespawner_profile_list(gpu=matfold.gpu_profiles)
    c.KubeSpawner.storage_pvc_ensure = True
    c.KubeSpawner.pvc_name_template = "claim-{username}{servername}"
    c.KubeSpawner.volumes = [{"name": "home", "persistentVolumeClaim": {"claimName": "claim-{username}{servername}"}}]
    c.KubeSpawner.volume_mounts = [{"name": "home", "mountPath": "/home/jovyan"}]
    c.KubeSpawner.environment = {"MATFOLD_SERVICE_URL": "http://hub:8081/services/matfold/"}
else:
    if matfold.spawner == "systemd":
        c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
        c.SystemdSpawner.unit_name_template = "matfold-singleuser-{USERNAME}"
        c.SystemdSpawner.isolate_tmp = True
        c.SystemdSpawner.disable_user_sudo = True
        c.SystemdSpawner.dynamic_users = True
        c.SystemdSpawner.readonly_paths = ["/"]
        c.SystemdSpawner.readwrite_paths = ["/var/lib/private/{USERNAME}"]
    elif matfold.per_user_accounts:
        # Each user's server runs as their own Unix account mf-<name>, home <data>/users/<name>
        # (0700), made on first spawn (spawner.py, accounts.py); matfold hub runs as root.
        c.JupyterHub.spawner_class = "matfold_hub.spawner.MatfoldLocalSpawner"
        c.MatfoldLocalSpawner.home_dir_template = str(data_dir / "users" / "{username}")
        c.MatfoldLocalSpawner.account_prefix = matfold.account_prefix
        c.MatfoldLocalSpawner.service_account = matfold.service_account
        c.MatfoldLocalSpawner.notebooks_dir = matfold.notebooks_dir
    else:
        # --single-user development: servers are processes of the hub's own Unix user.
        c.JupyterHub.spawner_class = "simple"
        c.SimpleLocalProcessSpawner.home_dir_template = str(data_dir / "users" / "{username}")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            server_args.append("--allow-root")
    c.Spawner.cmd = [python, "-m", "jupyterhub.singleuser"]
    if matfold.mem_limit:
        c.Spawner.mem_limit = matfold.mem_limit
    if matfold.cpu_limit:
        c.Spawner.cpu_limit = matfold.cpu_limit
    # Local processes cannot enforce CPU/memory limits: there the only real choice is
    # CPU or GPU, so the form appears only when a GPU is visible.
    offer = matfold.spawner != "local" or matfold.gpu_profiles
    form = options_form(gpu=matfold.gpu_profiles) if offer else ""
    if form:
        c.Spawner.options_form = form
        c.Spawner.options_from_form = options_from_form
    c.Spawner.apply_user_options = make_apply_user_options(gpu=matfold.gpu_profiles)

c.Spawner.args = server_args

# --- services beside the hub ------------------------------------------------------------------
service_env = {"MATFOLD_SERVICE_PORT": str(matfold.service_port), "PATH": os.environ.get("PATH", "")}
# billing, service and structure-pool settings pass through to the service (secrets stay
# out of this file and out of user servers)
service_env.update({k: v for k, v in os.environ.items()
                    if k.startswith(("STRIPE_", "MATFOLD_BILLING_", "MATFOLD_SERVICE_", "MATFOLD_STRUCTURE_"))})
if matfold.database_url:
    service_env["DATABASE_URL"] = matfold.database_url
services = [
    {
        "name": "matfold",
        "display": True,
        "info": {"description": "matfold projects, quotas and search"},
        "url": f"http://127.0.0.1:{matfold.service_port}",
        "command": [python, "-m", "matfold_services", "--port", str(matfold.service_port)],
        "environment": service_env,
        "oauth_no_confirm": True,
        # on a multi-user hub the service (and its secrets) belong to an account of its own
        **({"user": matfold.service_account, "cwd": str(data_dir / "service")}
           if matfold.per_user_accounts else {}),
    },
    {
        "name": "idle-culler",
        "command": [python, "-m", "jupyterhub_idle_culler", f"--timeout={matfold.idle_timeout}",
                    "--cull-every=300"],
    },
]
roles = [
    {"name": "matfold-service", "services": ["matfold"],
     "scopes": ["read:users", "list:users", "read:groups", "list:groups", "read:servers"]},
    {"name": "idle-culler", "services": ["idle-culler"],
     "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]},
    # every user may share their server: two users edit one notebook live
    # (jupyter-collaboration runs in each server)
    {"name": "user", "scopes": ["self", "shares!user", "read:users:name"]},
]
if matfold.api_token:
    services.append({"name": "matfold-admin", "api_token": matfold.api_token})
    roles.append({"name": "admin", "services": ["matfold-admin"]})
services.extend(matfold.extra_services)
c.JupyterHub.services = services

# --- classrooms: a group per class, instructor and student roles ------------------------------
if matfold.classrooms_file:
    rooms = load_classrooms(matfold.classrooms_file)
    c.JupyterHub.load_groups = classroom_groups(rooms)
    roles.extend(classroom_roles(rooms))
c.JupyterHub.load_roles = roles

mark_children(c)  # every service and user server carries this run's id: none outlives the launcher

if os.environ.get("MATFOLD_HUB_DEBUG"):
    c.JupyterHub.log_level = "DEBUG"
    c.Spawner.debug = True
mode = "single-user" if matfold.single_user else "per-user accounts" if matfold.per_user_accounts else ""
print(f"matfold hub config: {matfold.authenticator} login, {matfold.spawner} spawner"
      f"{f' ({mode})' if mode else ''}, data in {data_dir}", file=sys.stderr)
