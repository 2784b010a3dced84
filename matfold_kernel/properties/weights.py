"""Third-party model weights: a download cache with checksums.

Weights that matfold does not train itself (CGCNN, matgl's MEGNet) are fetched on
first use from their public URLs into ``MATFOLD_MODEL_DIR`` (default
``~/.cache/matfold/models``) and checked against a SHA-256 recorded here. Offline,
copy the files into that folder by hand (or call :func:`seed_cache`); a missing or
corrupt file raises :class:`~matfold_kernel.errors.MatfoldDependencyError` that
says where the file should go and where it comes from.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..errors import MatfoldDependencyError

__all__ = ["WeightFile", "model_dir", "fetch_weights", "seed_cache", "WEIGHTS"]

_CGCNN = "https://raw.githubusercontent.com/txie-93/cgcnn/master/pre-trained/"
_MATGL = "https://raw.githubusercontent.com/materialsvirtuallab/matgl/main/pretrained_models/"


@dataclass(frozen=True)
class WeightFile:
    """One file of third-party weights.

    ``path`` is relative to the cache folder; ``url`` is where it is downloaded from;
    ``sha256`` is the checksum of the published file; ``licence`` its licence.
    """

    path: str
    url: str
    sha256: str
    licence: str


def _w(path: str, base: str, remote: str, sha: str, licence: str) -> WeightFile:
    return WeightFile(path, base + remote, sha, licence)


#: Every third-party file matfold knows, by cache path.
WEIGHTS: dict[str, WeightFile] = {
    w.path: w
    for w in [
        _w("cgcnn/atom_init.json", "https://raw.githubusercontent.com/txie-93/cgcnn/master/", "data/sample-regression/atom_init.json",
           "cb90bd2257dbf8cfc4e6b2b6d4348d4616e8e9680f1339b1461137032e0f1894", "MIT"),
        _w("cgcnn/formation-energy-per-atom.pth.tar", _CGCNN, "formation-energy-per-atom.pth.tar",
           "e2f8bb910744f2c2f21d968285b6fd4316d795d0f3e7465ed0e3b4f3c92651a1", "MIT"),
        _w("cgcnn/band-gap.pth.tar", _CGCNN, "band-gap.pth.tar",
           "d269775b9be0995c046abed3dd6556c281a3eff7b2e1d73cf81b99e2a1d4aa6c", "MIT"),
        _w("cgcnn/bulk-moduli.pth.tar", _CGCNN, "bulk-moduli.pth.tar",
           "0a3f66b9a0ee6acef11bb852717424a6c3560073239c17bdbea568cc43816dd3", "MIT"),
        _w("cgcnn/shear-moduli.pth.tar", _CGCNN, "shear-moduli.pth.tar",
           "34173bc59a0a8f9f74021155b304b74d9e709b1ff241d3f02e83031c9deb216c", "MIT"),
        _w("matgl/MEGNet-MP-2018.6.1-Eform/state.pt", _MATGL, "MEGNet-MP-2018.6.1-Eform/state.pt",
           "35381368b17a2783f9ee09af5556cf1d84b74bf786b82d3fadd4acb38c51d040", "BSD-3-Clause"),
        _w("matgl/MEGNet-MP-2018.6.1-Eform/model.json", _MATGL, "MEGNet-MP-2018.6.1-Eform/model.json",
           "d858219134667d55e3c183435475ba248231a67311573373ed7298191f05d0a4", "BSD-3-Clause"),
        _w("matgl/MEGNet-MP-2019.4.1-BandGap-mfi/state.pt", _MATGL,
           "MEGNet-MP-2019.4.1-BandGap-mfi/state.pt",
           "2927ab9646ec3e099a3e42b1358a3c477db7356e2413bfa540fe0106cde628f9", "BSD-3-Clause"),
        _w("matgl/MEGNet-MP-2019.4.1-BandGap-mfi/model.json", _MATGL,
           "MEGNet-MP-2019.4.1-BandGap-mfi/model.json",
           "9f8f4b8709e97c6ce25353f6b6c322ce3b5e031c71115cf6b94d5cd794f39bc2", "BSD-3-Clause"),
    ]
}


def model_dir() -> Path:
    """The weight cache folder: ``$MATFOLD_MODEL_DIR``, else ``<cache_dir>/models``
    (:func:`matfold_kernel.config.model_dir`)."""
    return config.model_dir()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_weights(path: str, *, download: bool = True, timeout: float = 30.0) -> Path:
    """Local path of the weight file ``path`` (a key of :data:`WEIGHTS`), downloading it if needed.

    Raises
    ------
    MatfoldDependencyError
        The file is not cached and cannot be downloaded, or its checksum is wrong.
    """
    spec = WEIGHTS[path]
    target = model_dir() / spec.path
    if target.is_file():
        if _sha256(target) == spec.sha256:
            return target
        problem = f"{target} is corrupt (SHA-256 differs from the published file)"
    else:
        problem = f"{target} is missing"
    if download:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with urllib.request.urlopen(spec.url, timeout=timeout) as resp, tempfile.NamedTemporaryFile(
                dir=target.parent, delete=False
            ) as tmp:
                shutil.copyfileobj(resp, tmp)
            if _sha256(Path(tmp.name)) != spec.sha256:
                os.unlink(tmp.name)
                problem += f"; the download from {spec.url} has a different checksum"
            else:
                os.replace(tmp.name, target)
                return target
        except OSError as exc:  # URLError, timeouts and read-only folders are OSErrors
            problem += f"; downloading {spec.url} failed ({exc})"
    raise MatfoldDependencyError(
        f"model weights {spec.path}: {problem}. Download {spec.url} and put it at {target} "
        f"(or point MATFOLD_MODEL_DIR at a folder that has it)"
    )


def seed_cache(source: str | os.PathLike, *, prefix: str = "") -> list[Path]:
    """Copy the known weight files found under ``source`` into the cache (offline installs, CI).

    ``source`` is laid out like the cache (``cgcnn/...``, ``matgl/...``); ``prefix`` is
    prepended to each cache path when looking under ``source``. Files whose checksum
    does not match are skipped. Returns the cache paths written.
    """
    written = []
    for key, spec in WEIGHTS.items():
        src = Path(source) / prefix / key
        if not src.is_file() or _sha256(src) != spec.sha256:
            continue
        dst = model_dir() / key
        if dst.is_file() and _sha256(dst) == spec.sha256:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        written.append(dst)
    return written
