"""The kernel's store API on a laptop: the real service as a child process, on real Postgres.

The first tests run the store on the tests' shared Postgres (``DATABASE_URL``); the
process tests start "kernels" (separate Python processes) on a data folder of their
own, so the service starts the embedded Postgres, and check that nothing of it is left
once the kernel is gone, however it ends.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil
import pytest

import matfold_kernel as mk
from matfold_kernel import MatfoldInputError
from matfold_kernel.store import StoreError

from tests.support.processes import in_folder


@pytest.fixture
def store(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("MATFOLD_SERVICE_URL", raising=False)
    store = mk.store.connect(user="laptop-user")
    yield store
    store.service.stop()


def test_local_store_is_the_service_in_a_child_process(store):
    assert store.service is not None and store.service.pid != os.getpid()
    child = psutil.Process(store.service.pid)
    assert child.ppid() == os.getpid() and "matfold_services" in child.cmdline()
    assert store.whoami() == {"name": "laptop-user", "kind": "user", "admin": False, "groups": []}
    health = store.health()
    assert (health["status"], health["auth"], health["hub"]) == ("ok", "local", False)
    assert health["version"] == importlib.metadata.version("matfold")  # the distribution's, not the library's
    again = mk.store.connect(user="laptop-user")
    assert again.service is store.service  # one child per user and database, shared


def test_local_store_round_trip(store, lifepo4_cif, batio3_cif):
    project = store.create_project("Cathodes", target_properties=["band_gap"])
    assert project.role == "owner" and store.projects() == [project]
    saved = store.save_material(project, lifepo4_cif, source_database="mp", source_id="mp-19017")
    store.save_material(project, batio3_cif)
    assert (saved.reduced_formula, saved.spacegroup_number) == ("LiFePO4", 62)
    again = store.material(saved)
    assert again.structure.composition.reduced_formula == "LiFePO4"  # a pymatgen Structure
    assert [m.reduced_formula for m in store.materials(project, elements=["Fe", "O"])] == ["LiFePO4"]
    store.save_prediction(saved, "band_gap", 3.6, "eV", uncertainty=0.2, model="cgcnn", model_version="1")
    store.save_prediction(saved, "band_gap", 3.7, "eV", uncertainty=0.2, model="cgcnn", model_version="2")
    history = store.predictions(saved)
    assert [(p.value, p.model_version) for p in history] == [(3.7, "2"), (3.6, "1")]
    assert [m.id for m in store.materials(project, property="band_gap", min=3.65)] == [saved.id]
    assert store.usage()["plan"] == "free"


def test_local_store_errors_are_matfold_errors(store, tmp_path):
    project = store.create_project("P")
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a 4\n")
    with pytest.raises(MatfoldInputError, match="broken.cif"):
        store.save_material(project, bad)  # refused before it is sent
    with pytest.raises(MatfoldInputError, match="uncertainty"):
        store.save_prediction(store.save_material(project, mk.read_structure(
            "tests/data/structures/POSCAR-Cmcm")), "band_gap", 1.0, "eV", uncertainty=-1)
    with pytest.raises(StoreError, match="not found"):
        store.material(123456)


def test_hub_store_needs_a_hub(monkeypatch):
    monkeypatch.delenv("MATFOLD_SERVICE_URL", raising=False)
    with pytest.raises(StoreError, match="not inside a matfold hub server"):
        mk.store.connect(local=False)


def test_similar_materials_through_the_store(store, lifepo4_cif, batio3_cif, structures_dir):
    import numpy as np

    project = store.create_project("Search")
    other = store.create_project("Other")
    rng = np.random.default_rng(0)
    base = rng.normal(size=128)
    query = store.save_material(project, lifepo4_cif, embedding=base)
    near = store.save_material(project, batio3_cif, embedding=base + 0.05 * rng.normal(size=128))
    far = store.save_material(other, structures_dir / "POSCAR-Cmcm", embedding=-base)
    store.save_material(project, structures_dir / "POSCAR-Pc")  # no embedding: never a hit
    hits = store.similar(query, k=5)
    assert [r.id for r, _ in hits] == [near.id, far.id]  # itself excluded, nearest first
    assert hits[0][1] < 0.01 and hits[1][1] > 1.9  # cosine distances
    with pytest.raises(StoreError, match="has no embedding"):
        store.similar(store.materials(project, formula="SnPSe3")[0])


# --- the service as a child of a kernel: started, shared, stopped ---------------------------

KERNEL = """
import json, os, sys, time
t0 = time.perf_counter()
import matfold_kernel as mk
t1 = time.perf_counter()
store = mk.store.connect(user="kernel-user")
t2 = time.perf_counter()
project = store.create_project("from a kernel")
t3 = time.perf_counter()
material = store.save_material(project, sys.argv[2])
t4 = time.perf_counter()
store.whoami()
t5 = time.perf_counter()
pgdata = os.path.join(os.environ["MATFOLD_DATA_DIR"], "postgres")
with open(os.path.join(pgdata, "postmaster.pid")) as f:
    postgres = int(f.readline())
print(json.dumps({"kernel": os.getpid(), "service": store.service.pid, "postgres": postgres,
                  "url": store.service.url, "token": store.service.token, "material": material.id,
                  "connect_s": t2 - t1, "create_project_s": t3 - t2, "save_material_s": t4 - t3,
                  "whoami_s": t5 - t4}), flush=True)
if sys.argv[1] == "exit":
    sys.exit(0)
if sys.argv[1] == "reconnect":  # the test kills our service; a new connect() starts another, then we exit
    sys.stdin.readline()
    again = mk.store.connect(user="kernel-user")
    print(json.dumps({"service": again.service.pid, "projects": len(again.projects())}), flush=True)
    sys.exit(0)
time.sleep(600)
"""
#: Seconds within which the service and Postgres of a kernel that ended must be gone (the issue's bound).
GONE_WITHIN = 10.0


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """One data folder for this module's kernels: the first start is cold, the others warm."""
    return tmp_path_factory.mktemp("kernel-data") / "matfold"


def _start_kernel(data_dir, mode: str, structure) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("JUPYTERHUB_") and k not in ("MATFOLD_SERVICE_URL", "DATABASE_URL")}
    env["MATFOLD_DATA_DIR"] = str(data_dir)
    env["TMPDIR"] = str(_tmp(data_dir))  # the kernel's temporary files, to check that none is left
    return subprocess.Popen([sys.executable, "-c", KERNEL, mode, str(structure)], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _tmp(data_dir):
    folder = data_dir.parent / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _kernel(data_dir, mode: str, structure, process=None) -> tuple[subprocess.Popen, dict]:
    """A kernel (started here unless `process`) and what it printed once its store worked."""
    process = process or _start_kernel(data_dir, mode, structure)
    ready, _, _ = select.select([process.stdout], [], [], 240)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        pytest.fail(f"the kernel printed nothing (exit {process.wait()}): {process.stderr.read()[-3000:]}")
    return process, json.loads(line)


def _call(info: dict, path: str, token: str | None = None, body=None):
    request = urllib.request.Request(info["url"] + path, method="POST" if body is not None else "GET",
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {token or info['token']}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _assert_all_gone(data_dir, *pids: int) -> float:
    """Wait up to GONE_WITHIN s for `pids` and every process naming `data_dir` to end; the time it took."""
    started = time.monotonic()
    while time.monotonic() - started < GONE_WITHIN:
        if all(_gone(pid) for pid in pids) and not in_folder(data_dir):
            return time.monotonic() - started
        time.sleep(0.1)
    left = [(p.pid, " ".join(p.cmdline())[:120]) for p in in_folder(data_dir)]
    pytest.fail(f"{GONE_WITHIN} s after the kernel ended these still run: {left}; pids alive: "
                f"{[pid for pid in pids if not _gone(pid)]}")


@pytest.mark.parametrize("ending", ["exit", "SIGTERM", "SIGINT", "SIGHUP", "SIGKILL"])
def test_the_service_and_postgres_end_with_the_kernel(data_dir, lifepo4_cif, ending):
    kernel, info = _kernel(data_dir, "exit" if ending == "exit" else "wait", lifepo4_cif)
    try:
        print(f"\n{ending}: connect() {info['connect_s']:.2f} s (the module's first kernel: a new folder), "
              f"create_project {info['create_project_s'] * 1000:.0f} ms, save_material "
              f"{info['save_material_s'] * 1000:.0f} ms, whoami {info['whoami_s'] * 1000:.0f} ms")
        assert info["service"] != info["kernel"] and info["postgres"] not in (info["service"], info["kernel"])
        service = psutil.Process(info["service"])
        assert service.ppid() == info["kernel"]
        assert "matfold_services" in service.cmdline() and info["token"] not in " ".join(service.cmdline())
        assert (data_dir / "postgres" / "PG_VERSION").is_file()  # the embedded Postgres, in the kernel's folder
        # the service's own children (its structure workers) and Postgres' backends must go too
        family = [p.pid for p in service.children(recursive=True) + psutil.Process(info["postgres"]).children()]
        assert any("matfold_services" in " ".join(psutil.Process(pid).cmdline()) for pid in family)
        if ending != "exit":
            status, me = _call(info, "whoami")  # the kernel's token works from anywhere on this machine ...
            assert (status, me["name"]) == (200, "kernel-user")
            for wrong in ("x" * 43, info["token"][:-1] + ("A" if info["token"][-1] != "A" else "B")):
                with pytest.raises(urllib.error.HTTPError) as refused:  # ... and no other token does
                    _call(info, "whoami", token=wrong)
                assert refused.value.code in (401, 403)
            os.kill(info["kernel"], getattr(signal, ending))
        kernel.wait(timeout=30)
        took = _assert_all_gone(data_dir, info["service"], info["postgres"], *family)
        print(f"{ending}: service and Postgres gone {took:.1f} s after the kernel ended")
        assert not list(_tmp(data_dir).glob("matfold-service-*"))  # nor a file of theirs in the temporary folder
        assert "kernel-user" in (data_dir / "logs" / "service.log").read_text()  # the service's log is kept
    finally:
        kernel.kill()
        kernel.wait()


def test_two_kernels_share_one_postgres_and_one_leaving_keeps_the_other(data_dir, lifepo4_cif):
    first, a = _kernel(data_dir, "wait", lifepo4_cif)
    second, b = None, None
    try:
        second, b = _kernel(data_dir, "wait", lifepo4_cif)
        assert a["service"] != b["service"] and a["postgres"] == b["postgres"]  # two services, one database
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
        deadline = time.monotonic() + GONE_WITHIN
        while not _gone(a["service"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(a["service"]) and not _gone(b["postgres"])
        status, made = _call(b, "api/projects", body={"name": "after the other kernel left"})
        assert status == 201 and made["role"] == "owner"
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
        _assert_all_gone(data_dir, b["service"], b["postgres"])
    finally:
        for kernel in (first, second):
            if kernel is not None:
                kernel.kill()
                kernel.wait()


def test_a_killed_service_is_replaced_and_postgres_still_stops_at_the_end(data_dir, lifepo4_cif):
    kernel, info = _kernel(data_dir, "reconnect", lifepo4_cif)
    try:
        os.kill(info["service"], signal.SIGKILL)  # it never lets go of Postgres: pgserver still lists its pid
        while not _gone(info["service"]):
            time.sleep(0.05)
        kernel.stdin.write("go\n")
        kernel.stdin.flush()
        again = json.loads(kernel.stdout.readline())
        assert again["service"] != info["service"] and again["projects"] >= 1  # same database, new service
        assert kernel.wait(timeout=60) == 0
        _assert_all_gone(data_dir, again["service"], info["postgres"])  # the dead pid did not keep Postgres up
    finally:
        kernel.kill()
        kernel.wait()


def test_two_kernels_starting_together_on_a_new_folder_both_work(tmp_path, lifepo4_cif):
    data_dir = tmp_path / "matfold"  # new: one initdb, the migrations once (the other waits for them)
    kernels = [_start_kernel(data_dir, "wait", lifepo4_cif) for _ in range(2)]
    try:
        infos = [_kernel(data_dir, "wait", lifepo4_cif, process=kernel)[1] for kernel in kernels]
        assert infos[0]["postgres"] == infos[1]["postgres"] and infos[0]["material"] != infos[1]["material"]
        for kernel in kernels:
            kernel.send_signal(signal.SIGTERM)
            kernel.wait(timeout=30)
        _assert_all_gone(data_dir, *(i["service"] for i in infos), infos[0]["postgres"])
    finally:
        for kernel in kernels:
            kernel.kill()
            kernel.wait()


def test_a_service_that_cannot_start_is_one_error_with_its_log(monkeypatch, tmp_path):
    monkeypatch.setenv("MATFOLD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nothing")  # nobody listens there
    refused = r"(?s)exited with code 1 while starting; its last log lines \(.*service\.log\):.*127\.0\.0\.1"
    with pytest.raises(StoreError, match=refused):
        mk.store.connect(user="laptop-user")


def test_without_the_service_installed_the_store_says_what_to_install(monkeypatch, tmp_path):
    from matfold_kernel.store import local

    monkeypatch.setenv("MATFOLD_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(local, "SERVICE_ENTRY_POINT", ("matfold.subcommands", "no-such-service"))
    with pytest.raises(mk.MatfoldDependencyError, match=r"pip install 'matfold\[hub\]'"):
        mk.store.connect(user="someone-new")


def test_the_service_is_found_through_its_entry_point():
    from matfold_kernel.store import local

    assert local.service_package() == "matfold_services"


def test_the_local_service_wants_its_token_from_the_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MATFOLD_SERVICE_LOCAL_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "matfold_services", "--local-user", "me", "--port", "0"],
                          env=env | {"MATFOLD_DATA_DIR": str(tmp_path)}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and "MATFOLD_SERVICE_LOCAL_TOKEN" in done.stderr.splitlines()[-1]
    assert not (tmp_path / "postgres").exists()  # refused before anything started
