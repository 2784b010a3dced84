"""A hub that owns its folder (issue #27, item 3).

One ``matfold hub`` per data folder (an ``fcntl.flock`` on ``<data_dir>/hub.lock``): a
second one exits 2 with one line naming the first's pid and URL and ``--data-dir``; a
dead hub's lock is taken over. Ctrl-C (SIGINT to the launcher's process group, as a
terminal sends it) stops hub, proxy, service, idle culler, user servers and Postgres
within 5 s, with no traceback, leaving no process. JupyterLab asks nobody about news.
The hub tests run the real thing as root, like CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import psutil
import pytest
import requests

from matfold_hub.launcher import free_port
from matfold_hub.lock import LOCK_FILE, HubLock, HubLockHeld
from matfold_hub.settings import default_data_dir
from matfold_hub.supervise import marked_processes
from tests.support.hub_process import HubProcess
from tests.support.processes import describe, in_folder

STOP_LIMIT = 5.0
"""Seconds Ctrl-C may take to stop everything (the issue's bound)."""

hub_test = pytest.mark.hub


# --- the lock alone (no hub) --------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import subprocess, sys, time
    from matfold_hub.lock import HubLock
    HubLock(sys.argv[1]).acquire("http://127.0.0.1:4242")
    child = subprocess.Popen(["sleep", "60"])  # a child of the holder (as JupyterHub is)
    print(child.pid, flush=True)
    time.sleep(60)
""")


def test_lock_refuses_a_second_holder_and_is_free_when_the_holder_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    child = int(holder.stdout.readline())
    try:
        info = json.loads((tmp_path / LOCK_FILE).read_text())
        assert info["pid"] == holder.pid and info["url"] == "http://127.0.0.1:4242" and info["started"]
        with pytest.raises(HubLockHeld) as refused:
            HubLock(tmp_path).acquire("http://127.0.0.1:1")
        message = str(refused.value)
        assert "\n" not in message
        assert f"pid {holder.pid}" in message and "http://127.0.0.1:4242" in message and "--data-dir" in message

        holder.kill()  # kill -9: no cleanup ran; the holder's child lives on
        holder.wait()
        assert psutil.pid_exists(child)
        lock = HubLock(tmp_path)
        lock.acquire("http://127.0.0.1:4343")  # the child did not inherit the lock
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
        lock.release()
        assert not lock.held and (tmp_path / LOCK_FILE).read_text() == ""
    finally:
        holder.kill()
        holder.wait()
        os.kill(child, signal.SIGKILL)


def test_default_hub_folder_follows_the_one_data_folder_rule(monkeypatch, tmp_path):
    for name in ("MATFOLD_HUB_DIR", "MATFOLD_DATA_DIR", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "matfold" / "hub"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "matfold" / "hub"
    monkeypatch.setenv("MATFOLD_DATA_DIR", str(tmp_path / "data"))
    assert default_data_dir() == tmp_path / "data" / "hub"
    monkeypatch.setenv("MATFOLD_HUB_DIR", str(tmp_path / "elsewhere"))  # the hub's own override wins
    assert default_data_dir() == tmp_path / "elsewhere"


# --- the real hub ---------------------------------------------------------------------------

@pytest.fixture
def hub_dir():
    """A data folder outside ``/tmp/pytest-of-root`` (see tests/hub/test_hub.py); nothing survives."""
    tmp_path = Path(tempfile.mkdtemp(prefix="matfold-lock-"))
    tmp_path.chmod(0o755)
    started: list[HubProcess] = []

    def start(**kwargs) -> HubProcess:
        hub = HubProcess(tmp_path / "hub", log=tmp_path / f"hub{len(started)}.log", **kwargs)
        started.append(hub)
        hub.start()
        hub.instance = json.loads((tmp_path / "hub" / "launcher.json").read_text())["instance"]
        return hub

    start.data_dir = tmp_path / "hub"
    yield start
    for hub in started:
        if hub.process is not None and hub.process.poll() is None:
            hub.stop(timeout=40)
        for proc in marked_processes(getattr(hub, "instance", "-")):
            proc.kill()
        hub.remove_accounts()
    shutil.rmtree(tmp_path, ignore_errors=True)


def _page_config(html: str) -> dict:
    match = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)
    assert match, html[:2000]
    return json.loads(match.group(1))


def _left(hub: HubProcess) -> list[str]:
    """Processes of `hub` still running: carrying its marker, or working in its folder."""
    found = {p.pid: p for p in marked_processes(hub.instance)} | {p.pid: p for p in in_folder(hub.data_dir)}
    return describe(found.values())


@hub_test
def test_second_hub_is_refused_and_ctrl_c_stops_everything_within_5_s(hub_dir):
    hub = hub_dir()
    api = hub.api
    api.create_user("alice")
    api.spawn("alice")
    server = api.wait_ready("alice")
    token = api.user_token("alice")
    lab = requests.get(f"{hub.url}{server['url']}lab", headers={"Authorization": f"token {token}"}, timeout=30)
    assert lab.status_code == 200, lab.text[:500]
    page = _page_config(lab.text)  # no "Jupyter news" prompt: the announcements plugin is off
    disabled = page["disabledExtensions"]
    disabled = [k for k, v in disabled.items() if v] if isinstance(disabled, dict) else disabled
    assert "@jupyterlab/apputils-extension:announcements" in disabled, disabled
    assert page["news"] == {"disabled": True}

    second = subprocess.run(
        [sys.executable, "-m", "matfold_kernel", "hub", "--port", str(free_port()), "--data-dir",
         str(hub_dir.data_dir)], env=dict(hub.env), capture_output=True, text=True, timeout=60)
    lines = [line for line in (second.stdout + second.stderr).splitlines() if line.strip()]
    assert second.returncode == 2, second.stdout + second.stderr
    assert len(lines) == 1, lines
    assert str(hub.process.pid) in lines[0] and hub.url in lines[0] and "--data-dir" in lines[0], lines[0]
    # the running hub was not touched: its proxy, service, database and user server all answer
    assert hub.process.poll() is None and hub.database_ok()
    assert api.wait_ready("alice", timeout=5)
    assert requests.get(f"{hub.url}{server['url']}api", headers={"Authorization": f"token {token}"},
                        timeout=10).status_code == 200

    assert hub.stop(timeout=60) == 0
    print(f"\nCtrl-C -> matfold hub exited: {hub.stop_seconds:.1f} s")
    log = hub.log_path.read_text()
    assert hub.stop_seconds <= STOP_LIMIT, log[-4000:]
    assert "Traceback" not in log, log
    assert "ECONNREFUSED" not in log, log  # no proxy stack trace while it started
    assert "matfold: hub stopped" in log
    assert _left(hub) == []
    assert not (hub_dir.data_dir / "postgres" / "postmaster.pid").exists()


@hub_test
def test_lock_of_a_killed_hub_is_taken_over(hub_dir):
    first = hub_dir()
    os.kill(first.process.pid, signal.SIGKILL)  # no clean stop: the lock file still names it
    first.process.wait()
    assert json.loads((hub_dir.data_dir / LOCK_FILE).read_text())["pid"] == first.process.pid

    hub = hub_dir()
    info = json.loads((hub_dir.data_dir / LOCK_FILE).read_text())
    assert info["pid"] == hub.process.pid and info["url"] == hub.url
    assert marked_processes(first.instance) == []  # the take-over (or the watchdog) stopped them all
    assert hub.database_ok()
    assert hub.stop() == 0
    assert _left(hub) == [] and _left(first) == []
