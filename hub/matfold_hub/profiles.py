"""Server profiles (CPU and GPU) offered at spawn, for every spawner.

One list of profiles feeds KubeSpawner's ``profile_list`` and, for the local and
systemd spawners, a small options form of our own.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field

__all__ = ["Profile", "PROFILES", "gpus_visible", "kubespawner_profile_list", "make_apply_user_options",
           "offered", "options_form", "options_from_form"]


@dataclass(frozen=True)
class Profile:
    """One choice on the spawn page.

    Attributes
    ----------
    slug : str
    name : str
        Shown to the user.
    description : str
    cpus : float
        CPU limit (cores).
    memory : str
        Memory limit, e.g. ``"4G"``.
    gpus : int
        GPUs requested (``nvidia.com/gpu`` on Kubernetes).
    """

    slug: str
    name: str
    description: str
    cpus: float
    memory: str
    gpus: int = 0
    env: dict = field(default_factory=dict)


PROFILES = (
    Profile("cpu-small", "CPU, small", "2 cores, 4 GB: notebooks, viewers, single predictions", 2, "4G"),
    Profile("cpu-large", "CPU, large", "8 cores, 32 GB: screening on a local Dask cluster", 8, "32G"),
    Profile("gpu", "GPU", "1 NVIDIA GPU, 8 cores, 48 GB: ESMFold, GNN training", 8, "48G", gpus=1,
            env={"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "compute,utility",
                 "MATFOLD_DEVICE": "cuda"}),
)


def gpus_visible() -> bool:
    """True when ``nvidia-smi -L`` lists at least one GPU."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "GPU" in out


def kubespawner_profile_list(profiles=PROFILES, gpu: bool = True) -> list[dict]:
    """KubeSpawner ``profile_list`` entries; GPU profiles request ``nvidia.com/gpu``."""
    result = []
    for i, p in enumerate(profiles):
        if p.gpus and not gpu:
            continue
        overrides = {"cpu_limit": p.cpus, "mem_limit": p.memory, "environment": dict(p.env)}
        if p.gpus:
            overrides["extra_resource_limits"] = {"nvidia.com/gpu": str(p.gpus)}
            overrides["extra_resource_guarantees"] = {"nvidia.com/gpu": str(p.gpus)}
            overrides["node_selector"] = {"matfold.io/node-pool": "gpu"}
            overrides["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        result.append({"display_name": p.name, "slug": p.slug, "description": p.description,
                       "default": i == 0, "kubespawner_override": overrides})
    return result


def offered(gpu: bool, profiles=PROFILES) -> list[Profile]:
    """The profiles to offer: GPU ones only when `gpu`."""
    return [p for p in profiles if gpu or not p.gpus]


def options_form(gpu: bool, profiles=PROFILES) -> str:
    """HTML radio buttons for the spawn page (empty when there is only one choice)."""
    choices = offered(gpu, profiles)
    if len(choices) < 2:
        return ""
    rows = "".join(
        f'<label style="display:block;margin:.4em 0"><input type="radio" name="profile" '
        f'value="{p.slug}"{" checked" if i == 0 else ""}> <b>{p.name}</b> &mdash; {p.description}</label>'
        for i, p in enumerate(choices)
    )
    return f"<div class='matfold-profiles'>{rows}</div>"


def options_from_form(formdata: dict) -> dict:
    """Spawn-page form data → ``user_options`` (``{"profile": slug}``)."""
    values = formdata.get("profile") or []
    return {"profile": values[0]} if values else {}


def make_apply_user_options(gpu: bool, profiles=PROFILES):
    """A ``Spawner.apply_user_options`` hook applying the chosen profile.

    Unknown slugs (the REST API accepts anything) fall back to the first profile.
    Sets ``cpu_limit``/``mem_limit`` (enforced by SystemdSpawner, advisory for local
    processes) and the CUDA environment of GPU profiles.
    """
    choices = offered(gpu, profiles)

    def apply_user_options(spawner, user_options):
        slug = (user_options or {}).get("profile")
        profile = next((p for p in choices if p.slug == slug), choices[0])
        spawner.cpu_limit = float(profile.cpus)
        spawner.mem_limit = profile.memory
        spawner.environment.update(profile.env)
        spawner.environment["MATFOLD_PROFILE"] = profile.slug

    return apply_user_options
