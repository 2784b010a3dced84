"""Hub spawn times and memory, against a bare JupyterLab start in the same run.

    .venv/bin/python benchmarks/hub.py [--users 20] [--record]

Prints: seconds for a plain ``jupyter lab`` to answer (baseline), seconds from a
spawn request to a ready server through ``matfold hub`` (5 spawns of one user),
and for N users spawned at once: time until all are ready and memory (RSS) per
user server. ``--record`` also writes ``benchmarks/results/hub.json`` (DESIGN.md's figures
table is built from it by ``benchmarks/design_table.py``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import requests

from matfold_hub.launcher import free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the hub harness lives with the tests
from tests.support.hub_process import HubProcess  # noqa: E402


def baseline_lab_start(root: Path) -> float:
    port = free_port()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}",
               "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=x", f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/api/status?token=x", timeout=1).ok:
                    return time.perf_counter() - start
            except requests.RequestException:
                time.sleep(0.05)
    finally:
        process.terminate()
        process.wait()


def server_rss(data_dir: Path) -> list[float]:
    """RSS in MB of each user server process (cwd in the user's home)."""
    sizes = []
    for proc in psutil.process_iter(["cmdline", "cwd", "memory_info"]):
        try:
            if "jupyterhub.singleuser" in " ".join(proc.info["cmdline"] or []) and \
                    (proc.info["cwd"] or "").startswith(str(data_dir / "users")):
                sizes.append(proc.info["memory_info"].rss / 2**20)
        except (psutil.Error, TypeError):
            continue
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/hub.json")
    args = parser.parse_args()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = [baseline_lab_start(tmp) for _ in range(3)]
        print(f"baseline: plain JupyterLab answers after {statistics.median(base):.2f} s (median of 3)")
        with HubProcess(tmp / "hub") as hub:
            api = hub.api
            api.create_user("bench")
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                api.spawn("bench")
                api.wait_ready("bench", timeout=180)
                times.append(time.perf_counter() - start)
                api.stop("bench")
                while api.request("GET", "users/bench").json()["servers"]:
                    time.sleep(0.2)
            out.update(bare_lab_start_s=round(statistics.median(base), 2),
                       spawn_ready_median_s=round(statistics.median(times), 2), spawn_ready_max_s=round(max(times), 2))
            print(f"hub spawn -> ready, one user: median {statistics.median(times):.2f} s, "
                  f"max {max(times):.2f} s over {args.repeats} spawns "
                  f"({statistics.median(times) / statistics.median(base):.2f}x the bare start)")
            names = [f"user{i:02d}" for i in range(args.users)]
            for name in names:
                api.create_user(name)
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.users) as pool:
                list(pool.map(api.spawn, names))
                ready = list(pool.map(lambda n: api.wait_ready(n, timeout=600), names))
            total = time.perf_counter() - start
            rss = server_rss(tmp / "hub")
            out.update(users=args.users, all_users_ready_s=round(total, 1),
                       rss_per_server_mb=round(statistics.median(rss)) if rss else None)
            print(f"{args.users} users spawned at once: all ready after {total:.1f} s "
                  f"({len(ready)} servers)")
            if rss:
                print(f"memory per user server (RSS): median {statistics.median(rss):.0f} MB, "
                      f"max {max(rss):.0f} MB, total {sum(rss) / 1024:.2f} GB for {len(rss)} servers")
    if args.record:
        from record import record

        print("recorded in", record("hub", out, "benchmarks/hub.py", f"one run, --users {args.users} --repeats {args.repeats}"))


if __name__ == "__main__":
    main()
