"""The hub configuration loads in JupyterHub's own config machinery, for every choice."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from matfold_hub import classroom_groups, classroom_roles, load_classrooms
from matfold_hub.launcher import config_file
from matfold_hub.profiles import kubespawner_profile_list, make_apply_user_options, options_from_form
from matfold_hub.user_env import copy_notebooks
from matfold_kernel import MatfoldInputError

from tests.support.paths import ROOT

ROOT = ROOT
BOB = SimpleNamespace(name="bob", id=7, url="/user/bob/", escaped_name="bob")

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: test, user: {token: not-used}}]
contexts: [{name: test, context: {cluster: test, user: test, namespace: matfold}}]
current-context: test
"""


def make_kubespawner(c):
    """KubeSpawner wants a running loop to build its API client."""
    import asyncio

    from kubespawner import KubeSpawner

    async def make():
        return KubeSpawner(config=c, _mock=True)

    return asyncio.run(make())


@pytest.fixture
def kubeconfig(tmp_path, monkeypatch):
    """A kube config KubeSpawner can load; no cluster is contacted in these tests."""
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


def load_config(monkeypatch, tmp_path, **env) -> Config:
    monkeypatch.setenv("MATFOLD_HUB_DIR", str(tmp_path / "hub"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    loader = PyFileConfigLoader(config_file().name, path=str(config_file().parent))
    return loader.load_config()


def test_local_defaults(monkeypatch, tmp_path):
    c = load_config(monkeypatch, tmp_path, MATFOLD_HUB_GPU="0", MATFOLD_HUB_API_TOKEN="a" * 32,
                    STRIPE_SECRET_KEY="sk_test_x", DATABASE_URL="postgresql://svc:pw@/db?host=/x")
    # own accounts (sign-up + approval), one Unix account per user
    assert c.JupyterHub.authenticator_class == "matfold_hub.auth.MatfoldNativeAuthenticator"
    assert c.Authenticator.admin_users == {"admin"}
    assert c.NativeAuthenticator.minimum_password_length == 10 and c.NativeAuthenticator.open_signup is False
    assert c.JupyterHub.spawner_class == "matfold_hub.spawner.MatfoldLocalSpawner"
    assert c.JupyterHub.bind_url.startswith("http://127.0.0.1:")
    assert c.JupyterHub.allow_named_servers is True
    names = [s["name"] for s in c.JupyterHub.services]
    assert names == ["matfold", "idle-culler", "matfold-admin"]
    admin = next(r for r in c.JupyterHub.load_roles if r["name"] == "admin")
    assert admin["services"] == ["matfold-admin"]
    culler = next(s for s in c.JupyterHub.services if s["name"] == "idle-culler")
    assert "--timeout=3600" in culler["command"]
    # the service runs as its own account and is the only one handed the secrets
    service = next(s for s in c.JupyterHub.services if s["name"] == "matfold")
    assert service["user"] == "matfold-service"
    assert service["environment"]["STRIPE_SECRET_KEY"] == "sk_test_x"
    assert service["environment"]["DATABASE_URL"].startswith("postgresql://svc:pw@")
    assert "--HubOAuth.cache_max_age=5" in c.Spawner.args and "--allow-root" not in c.Spawner.args
    assert "--LabApp.news_url=None" in c.Spawner.args  # no "Jupyter news" prompt (live: test_hub_lock.py)
    config = [a.split("=", 1)[1] for a in c.Spawner.args if a.startswith("--config=")]
    assert len(config) == 1 and Path(config[0]).is_file()  # matfold_hub/server_config.py, readable by users
    # the config's choices are valid for JupyterHub's classes
    from matfold_hub.spawner import MatfoldLocalSpawner

    spawner = MatfoldLocalSpawner(config=c, _mock=True, user=SimpleNamespace(name="root", url="/user/root/"))
    assert spawner.default_url == "/lab/tree/matfold-notebooks"
    assert spawner.account == "mf-root"  # a hub user named root never becomes root
    assert spawner.home_dir == str(tmp_path / "hub" / "users" / "root")
    assert spawner.user_env({}) == {"HOME": spawner.home_dir, "USER": "mf-root", "LOGNAME": "mf-root",
                                    "SHELL": "/bin/bash"}
    # what a user server inherits from the hub: env_keep and Spawner.environment, no secret
    assert not {"DATABASE_URL", "MATFOLD_HUB_API_TOKEN"} & set(spawner.env_keep)
    assert not any(k.startswith("STRIPE_") for k in spawner.env_keep)
    assert "sk_test_x" not in str(spawner.environment) and "svc:pw" not in str(spawner.environment)


def test_single_user_development_mode(monkeypatch, tmp_path):
    c = load_config(monkeypatch, tmp_path, MATFOLD_HUB_SINGLE_USER="1", MATFOLD_HUB_AUTHENTICATOR="shared-password",
                    MATFOLD_HUB_PASSWORD="correct-horse", MATFOLD_HUB_GPU="0", MATFOLD_HUB_IP="0.0.0.0")
    assert c.JupyterHub.authenticator_class == "shared-password"
    assert c.SharedPasswordAuthenticator.user_password == "correct-horse"
    assert c.JupyterHub.spawner_class == "simple"
    assert c.JupyterHub.bind_url.startswith("http://127.0.0.1:")  # MATFOLD_HUB_IP is ignored
    service = next(s for s in c.JupyterHub.services if s["name"] == "matfold")
    assert "user" not in service
    from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
    from jupyterhub.spawner import SimpleLocalProcessSpawner

    assert SharedPasswordAuthenticator(config=c).user_password == "correct-horse"
    assert SimpleLocalProcessSpawner(config=c, _mock=True).default_url == "/lab/tree/matfold-notebooks"


def test_shared_password_needs_single_user(monkeypatch, tmp_path):
    with pytest.raises(Exception, match="shared-password.* only with --single-user"):
        load_config(monkeypatch, tmp_path, MATFOLD_HUB_AUTHENTICATOR="shared-password")


@pytest.mark.parametrize("name, env, cls, check", [
    ("github", {"MATFOLD_HUB_GITHUB_ORGS": "matfold-lab,other:team"}, "oauthenticator.github.GitHubOAuthenticator",
     lambda a: a.allowed_organizations == {"matfold-lab", "other:team"}),
    ("google", {"MATFOLD_HUB_GOOGLE_DOMAINS": "uni.edu", "MATFOLD_HUB_GOOGLE_GROUPS": "chem"},
     "oauthenticator.google.GoogleOAuthenticator",
     lambda a: a.hosted_domain == ["uni.edu"] and a.allowed_google_groups == {"uni.edu": {"chem"}}),
    ("orcid", {}, "oauthenticator.generic.GenericOAuthenticator",
     lambda a: a.token_url == "https://orcid.org/oauth/token" and a.username_claim == "sub"
     and a.login_service == "ORCID"),
])
def test_oauth_authenticators(monkeypatch, tmp_path, name, env, cls, check):
    c = load_config(monkeypatch, tmp_path, MATFOLD_HUB_AUTHENTICATOR=name, **env)
    assert c.JupyterHub.authenticator_class == cls
    module, _, klass = cls.rpartition(".")
    authenticator = getattr(__import__(module, fromlist=[klass]), klass)(config=c)
    assert check(authenticator)


def test_bad_choice_is_refused(monkeypatch, tmp_path):
    with pytest.raises(Exception, match="MATFOLD_HUB_AUTHENTICATOR='pam'"):
        load_config(monkeypatch, tmp_path, MATFOLD_HUB_AUTHENTICATOR="pam")


def test_systemd_spawner_with_limits_and_gpu_profiles(monkeypatch, tmp_path):
    c = load_config(monkeypatch, tmp_path, MATFOLD_HUB_SPAWNER="systemd", MATFOLD_HUB_MEM_LIMIT="4G",
                    MATFOLD_HUB_CPU_LIMIT="2", MATFOLD_HUB_GPU="1")
    assert c.JupyterHub.spawner_class == "systemdspawner.SystemdSpawner"
    from systemdspawner import SystemdSpawner

    spawner = SystemdSpawner(config=c, user=BOB)
    assert spawner.mem_limit == 4 * 1024**3 and spawner.cpu_limit == 2.0
    assert 'value="gpu"' in c.Spawner.options_form
    # the form's choice becomes limits and a CUDA environment
    options = options_from_form({"profile": ["gpu"]})
    c.Spawner.apply_user_options(spawner, options)
    assert spawner.mem_limit == 48 * 1024**3 and spawner.environment["MATFOLD_DEVICE"] == "cuda"
    # anything else sent through the REST API falls back to the first profile
    make_apply_user_options(gpu=True)(spawner, {"profile": "root-shell"})
    assert spawner.environment["MATFOLD_PROFILE"] == "cpu-small"


def test_kubernetes_spawner_profiles_load_in_kubespawner(monkeypatch, tmp_path, kubeconfig):
    c = load_config(monkeypatch, tmp_path, MATFOLD_HUB_SPAWNER="kubernetes")
    spawner = make_kubespawner(c)
    slugs = [p["slug"] for p in spawner.profile_list]
    assert slugs == ["cpu-small", "cpu-large", "gpu"]
    gpu = spawner.profile_list[2]["kubespawner_override"]
    assert gpu["extra_resource_limits"] == {"nvidia.com/gpu": "1"}


def test_k8s_values_parse_and_profiles_load(tmp_path, kubeconfig):
    values = yaml.safe_load((ROOT / "hub" / "k8s" / "values.yaml").read_text())
    jh = values["jupyterhub"]
    assert jh["hub"]["services"]["matfold"]["command"][:3] == ["python", "-m", "matfold_services"]
    assert jh["hub"]["extraEnv"]["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "matfold-database"
    # secrets: in the hub pod, handed to the matfold service only, never to user pods
    hub_c = Config()
    hub_c.JupyterHub.services = [{"name": name, **spec} for name, spec in jh["hub"]["services"].items()]
    secrets = {"DATABASE_URL": "postgresql://u:pw@db/matfold", "STRIPE_SECRET_KEY": "sk_live_x", "HOME": "/root"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in secrets.items():
            mp.setenv(key, value)
        for snippet in jh["hub"]["extraConfig"].values():
            exec(snippet, {"c": hub_c})
    service_env = hub_c.JupyterHub.services[0]["environment"]
    assert service_env == {"DATABASE_URL": secrets["DATABASE_URL"], "STRIPE_SECRET_KEY": "sk_live_x"}
    assert hub_c.KubeSpawner.args[0] == "--HubOAuth.cache_max_age=5"
    assert "--LabApp.news_url=None" in hub_c.KubeSpawner.args  # no "Jupyter news" prompt
    user_env = json.dumps(jh["singleuser"])
    assert not any(word in user_env for word in ("DATABASE_URL", "STRIPE", "secretKeyRef"))
    assert jh["cull"]["enabled"] is True
    assert values["dask-gateway"]["gateway"]["auth"]["type"] == "jupyterhub"
    # the profile list z2jh would hand KubeSpawner loads there, and matches our own
    c = Config()
    c.KubeSpawner.profile_list = jh["singleuser"]["profileList"]
    c.KubeSpawner.image = f"{jh['singleuser']['image']['name']}:{jh['singleuser']['image']['tag']}"
    spawner = make_kubespawner(c)
    ours = kubespawner_profile_list(gpu=True)
    assert [p["slug"] for p in spawner.profile_list] == [p["slug"] for p in ours]
    for theirs, mine in zip(spawner.profile_list, ours):
        for key in ("cpu_limit", "mem_limit"):
            assert theirs["kubespawner_override"][key] == mine["kubespawner_override"][key]
    assert spawner.profile_list[2]["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/gpu": "1"}


def test_classrooms_become_groups_and_roles(tmp_path, monkeypatch):
    path = tmp_path / "classes.yaml"
    path.write_text("chem101:\n  instructors: [alice]\n  students: [bob, carol]\n  quota: 200\n")
    rooms = load_classrooms(path)
    groups = classroom_groups(rooms)
    assert groups["chem101"]["users"] == ["alice", "bob", "carol"]
    assert groups["chem101"]["properties"]["quota"] == 200
    roles = {r["name"]: r for r in classroom_roles(rooms)}
    assert "servers!group=chem101" in roles["instructor-chem101"]["scopes"]
    assert roles["instructor-chem101"]["users"] == ["alice"]
    assert roles["student-chem101"]["users"] == ["bob", "carol"]
    c = load_config(monkeypatch, tmp_path, MATFOLD_HUB_CLASSROOMS=str(path))
    assert "chem101" in c.JupyterHub.load_groups
    assert any(r["name"] == "instructor-chem101" for r in c.JupyterHub.load_roles)
    # the roles use scopes JupyterHub knows
    from jupyterhub.scopes import _check_scopes_exist

    for role in classroom_roles(rooms):
        _check_scopes_exist(role["scopes"])


@pytest.mark.parametrize("text, fragment", [
    ("chem101:\n  students: [bob]\n", "has no instructors"),
    ("Chem 101:\n  instructors: [a]\n", "must be lower-case"),
    ("- a\n- b\n", "must map classroom names"),
    ("chem: [unclosed\n", "is not valid YAML"),
])
def test_bad_classroom_files(tmp_path, text, fragment):
    path = tmp_path / "classes.yaml"
    path.write_text(text)
    with pytest.raises(MatfoldInputError, match=fragment):
        load_classrooms(path)


def test_notebooks_copied_without_overwriting_edits(tmp_path):
    home = tmp_path / "home"
    first = copy_notebooks(ROOT / "notebooks", home)
    assert any(p.name == "01_crystal_quickstart.ipynb" for p in first)
    mine = home / "matfold-notebooks" / "01_crystal_quickstart.ipynb"
    mine.write_text(json.dumps({"edited": True}))
    again = copy_notebooks(ROOT / "notebooks", home)
    assert again == [] and json.loads(mine.read_text()) == {"edited": True}
    mine.unlink()
    assert copy_notebooks(ROOT / "notebooks", home) == [mine]


def test_hub_password_generated_once_and_checked(tmp_path, monkeypatch):
    from matfold_hub.launcher import hub_password

    monkeypatch.delenv("MATFOLD_HUB_PASSWORD", raising=False)
    first, generated = hub_password(tmp_path)
    assert generated and len(first) >= 16
    assert hub_password(tmp_path) == (first, True)  # kept across restarts
    assert (tmp_path / "hub_password").stat().st_mode & 0o077 == 0  # readable by the owner only
    monkeypatch.setenv("MATFOLD_HUB_PASSWORD", "short")
    with pytest.raises(MatfoldInputError, match="has 5 characters; .* needs at least 8"):
        hub_password(tmp_path)
    monkeypatch.setenv("MATFOLD_HUB_PASSWORD", "long-enough-password")
    assert hub_password(tmp_path) == ("long-enough-password", False)


def test_jupyter_config_turns_the_news_prompt_off(monkeypatch, tmp_path):
    """JupyterLab's own reader finds the announcements plugin disabled on matfold's config path."""
    from jupyterlab_server.config import get_static_page_config

    from matfold_hub.lab import JUPYTER_CONFIG_DIR, jupyter_config_path

    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "/elsewhere")
    path = jupyter_config_path()
    assert path == os.pathsep.join([str(JUPYTER_CONFIG_DIR), "/elsewhere"])  # first; what was there is kept
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", path)
    page = get_static_page_config(level="all")
    assert page["disabledExtensions"]["@jupyterlab/apputils-extension:announcements"] is True
    c = load_config(monkeypatch, tmp_path)  # user servers get it
    assert c.Spawner.environment["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0] == str(JUPYTER_CONFIG_DIR)
