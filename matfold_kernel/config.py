"""The library's settings: one table, one place that reads the environment.

Every setting of :mod:`matfold_kernel` is a row of :data:`SETTINGS` with its environment
variable, its default and its meaning; the accessors below read the environment on each
call (so a notebook can change a variable without restarting its kernel). The hub and
the service keep their own settings as traitlets (the hub's ``settings`` module); they take
their folders from :func:`data_dir` so that one rule places everything.

Folders follow the XDG base directory rule:

- data (the laptop store's Postgres, the local hub's state): ``$MATFOLD_DATA_DIR``, else
  ``$XDG_DATA_HOME/matfold``, else ``~/.local/share/matfold``;
- cache (downloads, folds): ``$MATFOLD_CACHE_DIR``, else ``$XDG_CACHE_HOME/matfold``,
  else ``~/.cache/matfold``;
- models (weights): ``$MATFOLD_MODEL_DIR``, else ``<cache>/models``.

``python -m matfold_kernel.config`` prints the table with the values in effect.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import MatfoldInputError

__all__ = ["Setting", "SETTINGS", "get", "data_dir", "cache_dir", "model_dir", "service_url", "service_token",
           "predict_backend", "device", "source_url", "settings_table"]


@dataclass(frozen=True)
class Setting:
    """One library setting: its environment variable, default (as text) and meaning."""

    name: str
    variable: str
    default: str
    meaning: str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "MATFOLD_DATA_DIR", "$XDG_DATA_HOME/matfold (~/.local/share/matfold)",
            "State: the laptop store's Postgres (`postgres/`), the local hub (`hub/`)."),
    Setting("cache_dir", "MATFOLD_CACHE_DIR", "$XDG_CACHE_HOME/matfold (~/.cache/matfold)",
            "Downloads (`downloads/`) and folded structures (`folds/`); safe to delete."),
    Setting("model_dir", "MATFOLD_MODEL_DIR", "<cache_dir>/models",
            "Weight files, checked against their sha256 before use."),
    Setting("service_url", "MATFOLD_SERVICE_URL", "(set by the hub)",
            "The matfold service the store talks to; unset outside a hub (then the store starts its own)."),
    Setting("service_token", "JUPYTERHUB_API_TOKEN", "(set by the hub)",
            "The user's hub token, sent to the service."),
    Setting("predict_backend", "MATFOLD_PREDICT_BACKEND", "torch",
            "Backend of the composition ensembles when `backend='auto'`: `torch` or `onnx`."),
    Setting("device", "MATFOLD_DEVICE", "auto",
            "Where torch models run: `auto` (CUDA when present, else CPU), `cpu`, `cuda`, `cuda:1`."),
    Setting("esm2_model", "MATFOLD_ESM2_MODEL", "facebook/esm2_t33_650M_UR50D",
            "ESM-2 checkpoint (a folder or a Hugging Face id) for protein embeddings."),
    Setting("esmfold_model", "MATFOLD_ESMFOLD_MODEL", "facebook/esmfold_v1",
            "ESMFold checkpoint (a folder or a Hugging Face id) for `fold()`."),
    Setting("rcsb_url", "MATFOLD_RCSB_URL", "https://files.rcsb.org", "Where `fetch_pdb` downloads from."),
    Setting("uniprot_url", "MATFOLD_UNIPROT_URL", "https://rest.uniprot.org", "Where `fetch_uniprot` reads from."),
    Setting("alphafold_url", "MATFOLD_ALPHAFOLD_URL", "https://alphafold.ebi.ac.uk",
            "Where `fetch_alphafold` downloads from."),
    Setting("dask_scheduler", "MATFOLD_DASK_SCHEDULER", "(none)",
            "A Dask scheduler address for `compute`; else dask-gateway when configured, else local."),
    Setting("debug", "MATFOLD_DEBUG", "(off)", "`1`: the CLI prints tracebacks instead of one-line errors."),
)
_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str | None:
    """The raw value of setting `name` from the environment (None when unset or empty)."""
    try:
        setting = _BY_NAME[name]
    except KeyError:
        raise MatfoldInputError(f"unknown setting {name!r}; the settings are {', '.join(_BY_NAME)}") from None
    value = os.environ.get(setting.variable, "").strip()
    return value or None


def _xdg(variable: str, fallback: str) -> Path:
    base = os.environ.get(variable, "").strip()
    # the XDG rule: a relative path is invalid and ignored
    return Path(base) if base and os.path.isabs(base) else Path.home() / fallback


def data_dir() -> Path:
    """The data folder (state that must be kept): see the module's folder rule."""
    value = get("data_dir")
    return Path(value).expanduser() if value else _xdg("XDG_DATA_HOME", ".local/share") / "matfold"


def cache_dir() -> Path:
    """The cache folder (what can be fetched or computed again)."""
    value = get("cache_dir")
    return Path(value).expanduser() if value else _xdg("XDG_CACHE_HOME", ".cache") / "matfold"


def model_dir() -> Path:
    """The weight cache folder: ``$MATFOLD_MODEL_DIR`` or ``<cache_dir>/models``."""
    value = get("model_dir")
    return Path(value).expanduser() if value else cache_dir() / "models"


def service_url() -> str | None:
    """The service's base URL (``.../services/matfold/``) inside a hub server, else None."""
    url = get("service_url")
    return None if url is None else url.rstrip("/") + "/"


def service_token() -> str | None:
    """The user's hub token inside a hub server, else None."""
    return get("service_token")


def predict_backend() -> str:
    """``torch`` or ``onnx``: the backend that ``backend="auto"`` means."""
    value = (get("predict_backend") or "torch").lower()
    if value not in ("torch", "onnx"):
        raise MatfoldInputError(f"MATFOLD_PREDICT_BACKEND={value!r}; use 'torch' or 'onnx'")
    return value


def device(requested=None) -> str:
    """The torch device to use: `requested` (a string or a ``torch.device``), else
    ``$MATFOLD_DEVICE``, else CUDA when present.

    Returns a device string such as ``"cpu"`` or ``"cuda"`` (torch is imported only for
    ``auto``).
    """
    value = (str(requested) if requested is not None else get("device") or "auto").strip().lower()
    if value == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if value not in ("cpu", "mps") and not (value == "cuda" or (value.startswith("cuda:") and value[5:].isdigit())):
        raise MatfoldInputError(f"device {value!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
    return value


def source_url(name: str) -> str:
    """Base URL of a download source (``rcsb``, ``uniprot``, ``alphafold``), without a trailing ``/``."""
    setting = _BY_NAME.get(f"{name}_url")
    if setting is None:
        raise MatfoldInputError(f"unknown source {name!r}; use rcsb, uniprot or alphafold")
    return (get(setting.name) or setting.default).rstrip("/")


def settings_table(values: bool = False) -> str:
    """The settings as a Markdown table (with the values in effect when `values`)."""
    head = "| setting | variable | default | meaning |" + (" value |" if values else "")
    rule = "|---|---|---|---|" + ("---|" if values else "")
    rows = []
    for s in SETTINGS:
        row = f"| `{s.name}` | `{s.variable}` | {s.default} | {s.meaning} |"
        if values:
            row += f" {get(s.name) or ''} |"
        rows.append(row)
    return "\n".join([head, rule, *rows])


if __name__ == "__main__":
    print(settings_table(values=True))
