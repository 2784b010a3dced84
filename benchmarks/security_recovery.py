"""Crash recovery of ``matfold hub``: how long until it is whole again, with no hands.

A real local hub (JupyterHub, proxy, matfold service, idle culler, one user server,
embedded Postgres) on free ports, in a fresh folder:

* ``postgres_kill_to_healthy_s``: kill -9 of the postmaster → the service's
  ``/services/matfold/health`` reports the database ok again (the launcher restarts it);
* ``launcher_kill_to_last_gone_s``: kill -9 of the launcher's process group → the last
  process of that hub (marker or data folder) is gone;
* ``restart_after_crash_ready_s``: ``matfold hub`` on the same folder after that crash →
  hub API and service health answer (includes the take-over and Postgres crash recovery);
* ``ctrl_c_stop_s``: Ctrl-C (SIGINT to the process group) with a user server running →
  the launcher has exited.

Run ``python benchmarks/security_recovery.py`` (about a minute; as root, like CI).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path


from matfold_hub.supervise import marked_processes

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the hub harness lives with the tests
from tests.support.hub_process import HubProcess  # noqa: E402
from tests.support.processes import in_folder  # noqa: E402

__all__ = ["run"]


def _left(data_dir: Path, instance: str) -> list[int]:
    return sorted({p.pid for p in marked_processes(instance)} | {p.pid for p in in_folder(data_dir)})


def _user_server(hub: HubProcess, name: str = "alice") -> None:
    api = hub.api
    if name not in {u["name"] for u in api.request("GET", "users").json()}:
        api.create_user(name)
    api.spawn(name)
    api.wait_ready(name)


def run() -> dict:
    """Measure the four recovery times (seconds) on a fresh hub; everything is stopped after."""
    root = Path(tempfile.mkdtemp(prefix="matfold-bench-recovery-"))
    root.chmod(0o755)  # Postgres runs as the pgserver account under root
    data_dir = root / "hub"
    result: dict = {}
    instances = set()
    hub = None
    try:
        hub = HubProcess(data_dir, log=root / "hub0.log").start()
        instances.add(json.loads((data_dir / "launcher.json").read_text())["instance"])
        _user_server(hub)

        postmaster = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
        started = time.monotonic()
        time.sleep(0.1)
        while not hub.database_ok() and time.monotonic() - started < 60:
            time.sleep(0.1)
        result["postgres_kill_to_healthy_s"] = round(time.monotonic() - started, 2)

        instance = json.loads((data_dir / "launcher.json").read_text())["instance"]
        os.killpg(hub.process.pid, signal.SIGKILL)
        started = time.monotonic()
        hub.process.wait()
        while _left(data_dir, instance) and time.monotonic() - started < 60:
            time.sleep(0.05)
        result["launcher_kill_to_last_gone_s"] = round(time.monotonic() - started, 2)
        result["orphans_after_launcher_kill"] = len(_left(data_dir, instance))
        hub.stop()

        started = time.monotonic()
        hub = HubProcess(data_dir, log=root / "hub1.log").start()
        result["restart_after_crash_ready_s"] = round(time.monotonic() - started, 2)
        instance = json.loads((data_dir / "launcher.json").read_text())["instance"]
        instances.add(instance)
        _user_server(hub)

        started = time.monotonic()
        code = hub.stop(timeout=90)
        result["ctrl_c_stop_s"] = round(time.monotonic() - started, 2)
        result["ctrl_c_exit_code"] = code
        time.sleep(1)
        result["left_after_ctrl_c"] = len(_left(data_dir, instance))
    finally:
        if hub is not None and hub.process is not None and hub.process.poll() is None:
            hub.stop(timeout=60)
        for instance in instances:
            for pid in _left(data_dir, instance):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        shutil.rmtree(root, ignore_errors=True)
        if root.exists():  # a process that was stopping wrote into it meanwhile
            time.sleep(1)
            shutil.rmtree(root, ignore_errors=True)
    return result


if __name__ == "__main__":
    figures = run()
    labels = {
        "postgres_kill_to_healthy_s": "Postgres kill -9 -> service reports the database ok (s)",
        "launcher_kill_to_last_gone_s": "launcher process group kill -9 -> last process gone (s)",
        "orphans_after_launcher_kill": "processes left after that",
        "restart_after_crash_ready_s": "restart after the crash -> hub and service ready (s)",
        "ctrl_c_stop_s": "Ctrl-C with a user server running -> launcher exited (s)",
        "ctrl_c_exit_code": "its exit code",
        "left_after_ctrl_c": "processes left after Ctrl-C",
    }
    for key, label in labels.items():
        print(f"{label:60s} {figures.get(key)}")
