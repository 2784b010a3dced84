"""End to end: ``matfold hub`` with a user, a server, a kernel and the service.

The real thing on free ports of 127.0.0.1: JupyterHub, configurable-http-proxy,
the matfold service, the embedded Postgres, a JupyterLab user server and an
ipykernel, stopped by Ctrl-C with no process left behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import pytest
import requests
import websocket

from tests.support.hub_process import HubProcess

pytestmark = pytest.mark.hub


@pytest.fixture
def hub_tmp():
    """A folder for a hub's data outside pytest's ``/tmp/pytest-of-root`` (removed after).

    The hub's per-user accounts must traverse the folders above their homes, and every
    pytest run (ours or a neighbour's) chmods ``pytest-of-<user>`` back to 0700.
    (HubProcess gives the accounts a prefix of its own and deletes them on stop.)
    """
    path = Path(tempfile.mkdtemp(prefix="matfold-hub-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _execute(base: str, token: str, code: str, timeout: float = 60) -> str:
    """Start a kernel on a user server, run `code`, return its stdout."""
    headers = {"Authorization": f"token {token}"}
    kernel = requests.post(f"{base}/api/kernels", headers=headers, json={"name": "python3"}, timeout=30)
    kernel.raise_for_status()
    kid = kernel.json()["id"]
    ws_url = base.replace("http://", "ws://") + f"/api/kernels/{kid}/channels"
    ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"], timeout=timeout)
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                   "session": uuid.uuid4().hex, "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False},
    }))
    out, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind == "stream":
            out.append(msg["content"]["text"])
        elif kind == "error":
            raise AssertionError("kernel error: " + "\n".join(msg["content"]["traceback"]))
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            break
    ws.close()
    requests.delete(f"{base}/api/kernels/{kid}", headers=headers, timeout=30)
    return "".join(out)


def _left_behind(data_dir, ports) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            cwd = proc.info["cwd"] or ""
        except (psutil.Error, TypeError):
            continue
        if str(data_dir) in cmd or cwd.startswith(str(data_dir)) or any(f":{p}" in cmd for p in ports):
            found.append(f"{proc.info['pid']} {cmd[:120]}")
    return found


def test_hub_user_server_kernel_service_and_clean_stop(hub_tmp):
    data_dir = hub_tmp / "hub"
    hub = HubProcess(data_dir).start()
    try:
        api = hub.api
        assert api.create_user("alice")["name"] == "alice"
        started = time.monotonic()
        api.spawn("alice")
        server = api.wait_ready("alice")
        spawn_seconds = time.monotonic() - started
        token = api.user_token("alice")
        base = hub.url + server["url"].rstrip("/")

        # the user's home got the notebooks on first spawn, owned by the user's own account
        notebook = data_dir / "users" / "alice" / "matfold-notebooks" / "01_crystal_quickstart.ipynb"
        assert notebook.is_file()
        assert notebook.owner() == hub.throwaway_prefix + "alice"

        # a kernel in the user's server imports matfold and finds the service via the hub env
        out = _execute(base, token, "import matfold_kernel as mk\n"
                                    "store = mk.store.connect()\n"
                                    "me = store.whoami()\n"
                                    "p = store.create_project('From the kernel')\n"
                                    "m = store.save_material(p, 'matfold-notebooks/data/POSCAR-Cmcm')\n"
                                    "print(mk.__version__, me['name'], store.service, "
                                    "store.material(m).structure.composition.reduced_formula)")
        assert out.split() == [__import__("matfold_kernel").__version__, "alice", "None", "TlCl"]  # the hub's service

        # the service through the proxy, with the user's token
        headers = {"Authorization": f"token {token}"}
        health = requests.get(f"{hub.url}/services/matfold/health", headers=headers, timeout=10)
        assert health.status_code == 200
        assert health.json()["database"]["ok"] is True and health.json()["database"]["pgvector"]
        who = requests.get(f"{hub.url}/services/matfold/whoami", headers=headers, timeout=10)
        assert who.json()["name"] == "alice" and who.json()["admin"] is False
        # no token, or a wrong one: 401, never data
        assert requests.get(f"{hub.url}/services/matfold/whoami", timeout=10).status_code == 401
        assert requests.get(f"{hub.url}/services/matfold/whoami",
                            headers={"Authorization": "token nope"}, timeout=10).status_code == 401
        openapi = requests.get(f"{hub.url}/services/matfold/openapi.json", timeout=10).json()
        assert "/services/matfold/health" in openapi["paths"]
        assert spawn_seconds < 120
    finally:
        code = hub.stop()
    assert code == 0, hub.log_path.read_text()[-3000:]
    time.sleep(1)
    assert _left_behind(data_dir, [hub.port]) == []
    log = hub.log_path.read_text()
    assert "matfold: hub stopped" in log


def test_classroom_instructor_manages_students_servers(hub_tmp):
    classes = hub_tmp / "classes.yaml"
    classes.write_text("chem101:\n  instructors: [ines]\n  students: [sam, sara]\n")
    outsider = "olga"
    hub = HubProcess(hub_tmp / "hub", env={"MATFOLD_HUB_CLASSROOMS": str(classes)}).start()
    try:
        api = hub.api
        api.create_user(outsider)  # class members exist already: the hub loaded the group
        group = api.request("GET", "groups/chem101").json()
        assert sorted(group["users"]) == ["ines", "sam", "sara"]
        instructor = {"Authorization": f"token {api.user_token('ines')}"}
        student = {"Authorization": f"token {api.user_token('sam')}"}

        def hub_call(method, path, headers):
            return requests.request(method, f"{hub.url}/hub/api/{path}", headers=headers, timeout=30)

        # the instructor starts a student's server, sees it, and stops it
        assert hub_call("POST", "users/sara/server", instructor).status_code in (201, 202)
        api.wait_ready("sara")
        seen = hub_call("GET", "users/sara", instructor).json()
        assert seen["servers"][""]["ready"] is True
        assert hub_call("DELETE", "users/sara/server", instructor).status_code in (202, 204)
        # ... but not someone outside the class, and a student cannot touch classmates
        assert hub_call("POST", f"users/{outsider}/server", instructor).status_code in (403, 404)
        assert hub_call("POST", "users/sara/server", student).status_code in (403, 404)
        # the service sees the group (classroom quotas are computed from it)
        who = requests.get(f"{hub.url}/services/matfold/whoami", headers=student, timeout=10).json()
        assert who["groups"] == ["chem101"]
    finally:
        assert hub.stop() == 0


def test_shared_server_two_users_one_live_notebook(hub_tmp):
    hub = HubProcess(hub_tmp / "hub").start()
    try:
        api = hub.api
        for name in ("alice", "bob"):
            api.create_user(name)
        api.spawn("alice")
        server = api.wait_ready("alice")
        alice = {"Authorization": f"token {api.user_token('alice')}"}
        bob = {"Authorization": f"token {api.user_token('bob')}"}
        base = hub.url + server["url"].rstrip("/")
        path = "matfold-notebooks/01_crystal_quickstart.ipynb"
        # before sharing, bob cannot open alice's server
        assert requests.get(f"{base}/api/contents/{path}", headers=bob, timeout=30,
                            allow_redirects=False).status_code in (302, 403, 404)
        # alice shares her server with bob (JupyterHub sharing, scope shares!user)
        shared = requests.post(f"{hub.url}/hub/api/shares/alice/", headers=alice, timeout=30,
                               json={"user": "bob"})
        assert shared.status_code in (200, 201), shared.text
        # (the user server caches a token's permissions for up to 5 s, MatfoldHub.auth_cache_seconds:
        # bob's earlier token is refused until then, a fresh one sees the share at once)
        bob = {"Authorization": f"token {api.user_token('bob', note='after share')}"}
        sessions = []
        for who in (alice, bob):
            r = requests.put(f"{base}/api/collaboration/session/{path}", headers=who, timeout=30,
                             json={"format": "json", "type": "notebook"})
            assert r.status_code in (200, 201), (who is bob, r.text)
            sessions.append(r.json())
        # jupyter-collaboration puts both in the same document room
        assert sessions[0]["fileId"] == sessions[1]["fileId"]
    finally:
        assert hub.stop() == 0
