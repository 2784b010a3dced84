"""Crash recovery of ``matfold hub`` without hands (issue #26, item 8).

The real thing, run as root like CI: JupyterHub, its proxy, the matfold service, the
idle culler, a user server and the embedded Postgres on free ports of 127.0.0.1.
Postgres killed with SIGKILL comes back by itself; a launcher killed with SIGKILL
(alone, or with its whole process group) leaves no process behind; a restart on the
same folder takes over from a dead hub (its data intact) and refuses a live one; dead
pids in pgserver's ``.handle_pids.json`` are pruned so a clean stop stops Postgres.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import requests

from traitlets.config.loader import PyFileConfigLoader

from tests.support.hub_process import HubProcess
from tests.support.processes import describe, in_folder
from matfold_hub.launcher import config_file
from matfold_hub.supervise import MARKER, marked_processes

hub_test = pytest.mark.hub


def _left(data_dir: Path, instances) -> list[psutil.Process]:
    procs = {p.pid: p for p in in_folder(data_dir)}
    for instance in instances:
        procs.update({p.pid: p for p in marked_processes(instance)})
    return list(procs.values())


def _instance(data_dir: Path) -> str:
    return json.loads((data_dir / "launcher.json").read_text())["instance"]


@pytest.fixture
def hubs():
    """Start hubs on one data folder; whatever happens, nothing of them survives the test.

    The folder is not under pytest's ``tmp_path``: a pytest session starting meanwhile
    makes ``/tmp/pytest-of-root`` 0700 again, and the ``pgserver`` account Postgres runs
    as (under root) could no longer read its own data.
    """
    tmp_path = Path(tempfile.mkdtemp(prefix="matfold-recovery-"))
    tmp_path.chmod(0o755)
    data_dir = tmp_path / "hub"
    started: list[HubProcess] = []
    instances: set[str] = set()

    def start(**kwargs) -> HubProcess:
        hub = HubProcess(data_dir, log=tmp_path / f"hub{len(started)}.log", **kwargs)
        started.append(hub)
        hub.start()
        instances.add(_instance(data_dir))
        return hub

    start.data_dir = data_dir
    start.instances = instances
    yield start
    for hub in started:
        if hub.process is not None and hub.process.poll() is None:
            hub.stop(timeout=40)
    for proc in _left(data_dir, instances):
        try:
            proc.kill()
        except psutil.Error:
            pass
    for hub in started:  # a hub killed with SIGKILL never ran its stop(): its accounts are still there
        hub.remove_accounts()
    shutil.rmtree(tmp_path, ignore_errors=True)


def _user(hub: HubProcess, name: str = "alice", spawn: bool = False) -> dict:
    api = hub.api
    if name not in {u["name"] for u in api.request("GET", "users").json()}:
        api.create_user(name)
    if spawn:
        api.spawn(name)
        api.wait_ready(name)
    return {"Authorization": f"token {api.user_token(name)}"}


def _service(hub: HubProcess) -> str:
    return f"{hub.url}/services/matfold"


def _wait_gone(data_dir: Path, instances, limit: float) -> tuple[float, list[str]]:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        left = _left(data_dir, instances)
        if not left:
            return time.monotonic() - started, []
        time.sleep(0.1)
    return time.monotonic() - started, describe(_left(data_dir, instances))


@hub_test
def test_postgres_killed_comes_back_by_itself(hubs):
    hub = hubs()
    headers = _user(hub)
    made = requests.post(f"{_service(hub)}/api/projects", json={"name": "before the crash"},
                         headers=headers, timeout=30)
    assert made.status_code == 201, made.text
    pgdata = hubs.data_dir / "postgres"
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])

    os.kill(postmaster, signal.SIGKILL)
    killed = time.monotonic()
    time.sleep(0.2)
    while not hub.database_ok() and time.monotonic() - killed < 60:
        time.sleep(0.2)
    recovered = time.monotonic() - killed
    print(f"\nPostgres kill -9 -> service health reports the database ok: {recovered:.1f} s")
    assert hub.database_ok(), hub.log_path.read_text()[-3000:]
    assert recovered <= 30
    # a new postmaster, and the service's own pool reconnects: reads and writes work
    assert int((pgdata / "postmaster.pid").read_text().split()[0]) != postmaster
    listed = requests.get(f"{_service(hub)}/api/projects", headers=headers, timeout=30)
    assert listed.status_code == 200 and "before the crash" in {p["name"] for p in listed.json()}
    again = requests.post(f"{_service(hub)}/api/projects", json={"name": "after"}, headers=headers, timeout=30)
    assert again.status_code == 201, again.text
    line = f"Postgres (pid {postmaster}) died; restarted as pid"
    deadline = time.monotonic() + 30  # the launcher logs once pgserver saw it ready
    while line not in hub.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert line in hub.log_path.read_text(), hub.log_path.read_text()[-5000:]

    # the restarted Postgres is the one a clean stop stops
    assert hub.stop() == 0
    gone, left = _wait_gone(hubs.data_dir, hubs.instances, 10)
    assert left == [], left


@hub_test
@pytest.mark.parametrize("how", ["launcher", "process group"])
def test_launcher_killed_leaves_no_orphan_and_restart_keeps_data(hubs, how):
    hub = hubs()
    headers = _user(hub, spawn=True)
    made = requests.post(f"{_service(hub)}/api/projects", json={"name": "kept"}, headers=headers, timeout=30)
    assert made.status_code == 201, made.text
    instance = _instance(hubs.data_dir)
    kinds = " ".join(" ".join(p.cmdline()) for p in marked_processes(instance))
    for part in ("jupyterhub -f", "configurable-http-proxy", "matfold_services", "jupyterhub_idle_culler",
                 "jupyterhub.singleuser", "postgres"):
        assert part in kinds, f"{part} does not carry the marker: {kinds}"

    if how == "launcher":
        os.kill(hub.process.pid, signal.SIGKILL)
    else:
        os.killpg(hub.process.pid, signal.SIGKILL)
    hub.process.wait()
    gone, left = _wait_gone(hubs.data_dir, hubs.instances, 10)
    print(f"\nkill -9 of the {how} -> last process gone: {gone:.1f} s")
    assert left == [], f"left after 10 s: {left}"

    # a restart on the same folder works and finds the data
    hub = hubs()
    listed = requests.get(f"{_service(hub)}/api/projects", headers=_user(hub), timeout=30)
    assert "kept" in {p["name"] for p in listed.json()}
    assert hub.stop() == 0


@hub_test
@pytest.mark.parametrize("record", ["launcher.json", "none (a hub from before the marker)"])
def test_restart_takes_over_from_a_dead_hub_whose_watchdog_died_too(hubs, record):
    hub = hubs()
    _user(hub, spawn=True)
    old = _instance(hubs.data_dir)
    watchdog = [p for p in marked_processes(old) if "matfold_hub.supervise" in " ".join(p.cmdline())]
    assert len(watchdog) == 1
    watchdog[0].kill()  # it stays a zombie of the launcher until the launcher goes
    # JupyterHub runs in a session of its own (the launcher alone gets a terminal's Ctrl-C
    # and signals it once); kill -9 it too, else it stops its children cleanly itself.
    jupyterhub = int((hubs.data_dir / "jupyterhub.pid").read_text())
    os.killpg(hub.process.pid, signal.SIGKILL)
    os.killpg(jupyterhub, signal.SIGKILL)
    hub.process.wait()
    time.sleep(1)
    orphans = marked_processes(old)
    kinds = " ".join(" ".join(p.cmdline()) for p in orphans)
    assert "matfold_services" in kinds and "jupyterhub.singleuser" in kinds and "postgres" in kinds, kinds
    if record != "launcher.json":
        (hubs.data_dir / "launcher.json").unlink()  # the new hub cannot know the old marker

    hub = hubs()  # would crash-loop or run beside the orphans without the take-over
    assert marked_processes(old) == [], describe(marked_processes(old))
    log = hub.log_path.read_text()
    assert "leftover process(es) of a previous hub" in log
    assert hub.database_ok()
    assert hub.stop() == 0


@hub_test
def test_second_hub_on_a_live_folder_is_refused(hubs):
    hub = hubs()
    second = subprocess.run(
        [sys.executable, "-m", "matfold_kernel", "hub", "--port", "1", "--data-dir", str(hubs.data_dir)],
        env=dict(hub.env), capture_output=True, text=True, timeout=60)
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and str(hub.process.pid) in lines[0] and "--data-dir" in lines[0], second.stderr
    # the live hub was not touched
    assert hub.process.poll() is None and hub.database_ok()
    assert _instance(hubs.data_dir) in hubs.instances
    assert hub.stop() == 0


@hub_test
def test_dead_pids_in_handle_list_are_pruned_so_a_clean_stop_stops_postgres(hubs):
    hub = hubs()
    assert hub.stop() == 0
    handle_list = hubs.data_dir / "postgres" / ".handle_pids.json"
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert not psutil.pid_exists(dead.pid)
    handle_list.write_text(json.dumps([dead.pid]))  # as a killed process leaves it

    hub = hubs()
    pids = json.loads(handle_list.read_text())
    assert dead.pid not in pids and hub.process.pid in pids
    assert hub.stop() == 0
    gone, left = _wait_gone(hubs.data_dir, hubs.instances, 10)
    assert left == [], f"a clean stop left these running: {left}"
    assert not (hubs.data_dir / "postgres" / "postmaster.pid").exists()


def test_hub_config_gives_the_marker_to_every_service_and_user_server(monkeypatch, tmp_path):
    monkeypatch.setenv("MATFOLD_HUB_DIR", str(tmp_path / "hub"))
    monkeypatch.setenv(MARKER, "run-1234")
    c = PyFileConfigLoader(config_file().name, path=str(config_file().parent)).load_config()
    assert c.Spawner.environment[MARKER] == "run-1234"
    assert c.Spawner.environment["MATFOLD_SERVICE_URL"]  # what was there is kept
    managed = [s for s in c.JupyterHub.services if s.get("command")]
    assert {s["name"] for s in managed} >= {"matfold", "idle-culler"}
    for service in managed:
        assert service["environment"][MARKER] == "run-1234", service["name"]
    assert c.JupyterHub.services[0]["environment"]["MATFOLD_SERVICE_PORT"]

    monkeypatch.delenv(MARKER)  # plain `jupyterhub -f`: nothing added
    c = PyFileConfigLoader(config_file().name, path=str(config_file().parent)).load_config()
    assert MARKER not in c.Spawner.environment
    assert all(MARKER not in (s.get("environment") or {}) for s in c.JupyterHub.services)
