"""Dask for matfold: a client in one call, sized to this server.

``get_client()`` answers the question "where do I run 10,000 predictions?":

- inside a hub server with ``MATFOLD_DASK_SCHEDULER`` set: that scheduler;
- with dask-gateway configured (``DASK_GATEWAY__ADDRESS``, as daskhub sets it):
  a new gateway cluster;
- with GPUs visible: a ``LocalCUDACluster`` (dask-cuda), one worker per GPU;
- otherwise: a ``LocalCluster`` sized to the server's CPU and memory limits
  (``CPU_LIMIT`` / ``MEM_LIMIT`` set by JupyterHub, cgroup quota, CPU affinity).

No home-made scheduler: these are Dask's own clusters.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

from . import config
from .errors import MatfoldDependencyError, MatfoldInputError

__all__ = ["get_client", "local_resources", "gpus_visible"]


def _cgroup_cpus() -> float | None:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def local_resources() -> tuple[int, int | None]:
    """CPUs (whole, ≥ 1) and memory in bytes (None: no limit) this server may use."""
    cpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    for limit in (os.environ.get("CPU_LIMIT"), _cgroup_cpus()):
        try:
            if limit and float(limit) > 0:
                cpus = min(cpus, float(limit))
        except ValueError:
            pass
    memory = None
    if os.environ.get("MEM_LIMIT", "").isdigit() and int(os.environ["MEM_LIMIT"]) > 0:
        memory = int(os.environ["MEM_LIMIT"])
    return max(1, math.floor(cpus)), memory


def gpus_visible() -> int:
    """Number of CUDA GPUs this process may use (``CUDA_VISIBLE_DEVICES``, else nvidia-smi)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    if not shutil.which("nvidia-smi"):
        return 0

    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def get_client(target=None, *, n_workers: int | None = None, threads_per_worker: int = 1, **cluster_kwargs):
    """A ``distributed.Client`` for matfold work.

    Parameters
    ----------
    target : None, str, cluster or Client
        ``None``: choose as the module docstring says. ``"local"`` / ``"gpu"`` /
        ``"gateway"``: that kind. ``"tcp://host:port"``: an existing scheduler.
        Anything with ``scheduler_address`` (a cluster object): connect to it. A
        ``Client``: returned as it is.
    n_workers : int, optional
        Local workers (default: one per CPU, or one per GPU).
    threads_per_worker : int
        Threads per local worker.
    **cluster_kwargs
        Passed to ``LocalCluster`` / ``LocalCUDACluster``.

    Returns
    -------
    distributed.Client
    """
    from distributed import Client, LocalCluster

    if isinstance(target, Client):
        return target
    if target is None:
        if config.get("dask_scheduler"):
            target = config.get("dask_scheduler")
        elif os.environ.get("DASK_GATEWAY__ADDRESS"):
            target = "gateway"
        elif gpus_visible():
            target = "gpu"
        else:
            target = "local"
    if hasattr(target, "scheduler_address"):
        return Client(target)
    if not isinstance(target, str):
        raise MatfoldInputError(
            f"get_client() takes None, 'local', 'gpu', 'gateway', a scheduler address or a "
            f"cluster, not a {type(target).__name__}"
        )
    if target == "local":
        cpus, memory = local_resources()
        workers = n_workers or max(1, cpus // max(1, threads_per_worker))
        if memory and "memory_limit" not in cluster_kwargs:
            cluster_kwargs["memory_limit"] = memory // workers
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                               dashboard_address=cluster_kwargs.pop("dashboard_address", ":0"),
                               **cluster_kwargs)
        return Client(cluster)
    if target == "gpu":
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            raise MatfoldDependencyError(
                "GPUs are visible but dask-cuda is not installed; pip install dask-cuda "
                "(or call get_client('local'))"
            ) from None
        return Client(LocalCUDACluster(n_workers=n_workers, **cluster_kwargs))
    if target == "gateway":
        try:
            from dask_gateway import Gateway
        except ImportError:
            raise MatfoldDependencyError("dask-gateway is not installed; pip install dask-gateway") from None
        if not (os.environ.get("DASK_GATEWAY__ADDRESS") or cluster_kwargs.get("address")):
            raise MatfoldInputError(
                "no dask-gateway is configured here (DASK_GATEWAY__ADDRESS is not set); "
                "use get_client() for a local cluster"
            )
        gateway = Gateway(address=cluster_kwargs.pop("address", None))
        cluster = gateway.new_cluster()
        cluster.adapt(minimum=cluster_kwargs.pop("minimum", 1), maximum=cluster_kwargs.pop("maximum", 20))
        return cluster.get_client()
    if "://" in target:
        return Client(target)
    raise MatfoldInputError(
        f"unknown compute target {target!r}; use 'local', 'gpu', 'gateway' or a scheduler "
        "address such as 'tcp://127.0.0.1:8786'"
    )
