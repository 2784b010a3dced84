"""Dask clients from matfold: real LocalClusters, sized from the server's limits."""

from __future__ import annotations

import pytest
from distributed import Client, LocalCluster

from matfold_kernel import MatfoldInputError, get_client
from matfold_kernel.compute import gpus_visible, local_resources


def _square(x):
    return x * x


def test_local_cluster_sized_from_hub_limits(monkeypatch):
    monkeypatch.setenv("CPU_LIMIT", "1")  # what JupyterHub sets for a 1-CPU server
    monkeypatch.setenv("MEM_LIMIT", str(2 * 1024**3))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv("MATFOLD_DASK_SCHEDULER", raising=False)
    monkeypatch.delenv("DASK_GATEWAY__ADDRESS", raising=False)
    assert local_resources() == (1, 2 * 1024**3)
    client = get_client()
    try:
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 1
        assert next(iter(workers.values()))["memory_limit"] == 2 * 1024**3
        assert sum(client.gather(client.map(_square, range(10)))) == 285
    finally:
        client.close()
        client.cluster.close()


def test_existing_scheduler_by_address_and_by_cluster(monkeypatch):
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster:
        for target in (cluster.scheduler_address, cluster):
            with get_client(target) as client:
                assert client.scheduler.address == cluster.scheduler_address
                assert client.submit(_square, 7).result() == 49
        monkeypatch.setenv("MATFOLD_DASK_SCHEDULER", cluster.scheduler_address)
        with get_client() as client:
            assert client.scheduler.address == cluster.scheduler_address
        with Client(cluster) as given:
            assert get_client(given) is given


def test_gpu_count_from_environment(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert gpus_visible() == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert gpus_visible() == 0


@pytest.mark.parametrize("target, fragment", [
    ("slurm", "unknown compute target 'slurm'"),
    (42, "not a int"),
])
def test_bad_targets(target, fragment):
    with pytest.raises(MatfoldInputError, match=fragment):
        get_client(target)


def test_gateway_without_configuration(monkeypatch):
    monkeypatch.delenv("DASK_GATEWAY__ADDRESS", raising=False)
    with pytest.raises(MatfoldInputError, match="no dask-gateway is configured"):
        get_client("gateway")
