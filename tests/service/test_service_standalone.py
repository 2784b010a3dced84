"""`matfold service` alone, on a fresh data folder: it starts its own Postgres and answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from matfold_hub.launcher import free_port


def test_service_alone_starts_the_embedded_database(tmp_path):
    port = free_port()
    data = tmp_path / "new" / "matfold"  # does not exist yet
    env = dict(os.environ, MATFOLD_DATA_DIR=str(data))
    env.pop("DATABASE_URL", None)
    exe = Path(sys.executable).parent / "matfold"
    process = subprocess.Popen([str(exe), "service", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline, health = time.monotonic() + 60, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/services/matfold/health", timeout=2).json()
                break
            except requests.RequestException:
                time.sleep(0.3)
        assert health is not None, process.stdout.read() if process.poll() is not None else "no answer in 60 s"
        assert health["database"]["ok"] is True and health["database"]["pgvector"]
        assert (data / "postgres").is_dir()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
