"""Structure models on ONNX: export with the dynamo exporter, run with onnxruntime.

Export always goes through ``torch.onnx.export(..., dynamo=True)``: the legacy
TorchScript exporter silently mis-exports ``index_add``/scatter message passing
(wrong numbers, no error). Graph inputs have dynamic sizes: any number of atoms,
edges and crystals per call. Parity with PyTorch is tested, not assumed
(``tests/test_onnx.py``).

:class:`OnnxRunner` is a backend for the structure models: it takes a
:class:`~matfold_kernel.properties.graphs.GraphBatch` (or a dict of arrays) and
returns the first output as float64. It uses the CUDA execution provider when
onnxruntime offers it, else the CPU one.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MatfoldDependencyError, MatfoldInputError
from .graphs import GraphBatch

__all__ = ["STRUCTURE_DIMS", "OnnxRunner", "default_providers", "export_onnx", "export_structure_model"]

#: Dynamic dimensions of the structure-model inputs (GraphBatch.NAMES order) and output.
STRUCTURE_DIMS: dict[str, dict[int, str]] = {
    "atomic_numbers": {0: "atoms"},
    "edge_index": {1: "edges"},
    "distances": {0: "edges"},
    "batch": {0: "atoms"},
    "num_atoms": {0: "crystals"},
    "prediction": {0: "crystals"},
}

_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


def _ort():
    try:
        import onnxruntime
    except ImportError:  # pragma: no cover - depends on the install
        raise MatfoldDependencyError(
            "onnxruntime is not installed; pip install onnxruntime (or onnxruntime-gpu on CUDA machines)"
        ) from None
    return onnxruntime


def default_providers() -> list[str]:
    """``["CUDAExecutionProvider", "CPUExecutionProvider"]`` when CUDA is offered, else CPU only."""
    available = _ort().get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def export_onnx(module, args: tuple, path: str | os.PathLike, *, input_names: Sequence[str],
                output_names: Sequence[str], dims: Mapping[str, Mapping[int, str]],
                opset_version: int | None = None) -> Path:
    """Export ``module(*args)`` to one self-contained ONNX file with the dynamo exporter.

    Parameters
    ----------
    module : torch.nn.Module
        Put in eval mode before export.
    args : tuple of torch.Tensor
        Example inputs; sizes meant to be dynamic should be > 1 and differ from each other.
    path : path-like
        Target file; written atomically (a temporary file, then renamed).
    input_names, output_names : sequence of str
    dims : mapping
        ``{input name: {axis: dimension name}}``; inputs sharing a name share the size.

    Returns
    -------
    pathlib.Path
    """
    try:
        import onnx  # noqa: F401  (the exporter needs onnx and onnxscript)
        import onnxscript  # noqa: F401
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MatfoldDependencyError(f"ONNX export needs torch, onnx and onnxscript ({exc})") from None
    from torch.export import Dim

    named: dict[str, Any] = {}
    dynamic_shapes = []
    for name in input_names:
        axes = dims.get(name, {})
        dynamic_shapes.append({axis: named.setdefault(dim, Dim(dim)) for axis, dim in axes.items()} or None)
    module.eval()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)  # "torchvision is not installed" notices
    try:
        with warnings.catch_warnings():
            # Inputs sharing a dimension (edge_index/distances) trigger a benign renaming notice.
            warnings.filterwarnings("ignore", message=".*axis name.*will not be used.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            program = torch.onnx.export(
                module,
                tuple(args),
                dynamo=True,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_shapes=tuple(dynamic_shapes),
                external_data=False,
                opset_version=opset_version,
                optimize=True,
                verbose=False,
            )
    finally:
        registration.setLevel(level)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        program.save(tmp, external_data=False)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def export_structure_model(module, example: GraphBatch, path: str | os.PathLike) -> Path:
    """Export a structure network taking :attr:`GraphBatch.NAMES` tensors and returning (G,) values.

    Atoms, edges and crystals are dynamic dimensions. ``example`` should hold at least
    two crystals of different sizes.
    """
    import torch

    with torch.no_grad():
        return export_onnx(module, example.to_torch(), path, input_names=GraphBatch.NAMES,
                           output_names=["prediction"], dims=STRUCTURE_DIMS)


class OnnxRunner:
    """An onnxruntime session usable as a structure-model backend.

    Parameters
    ----------
    path : path-like
        The ``.onnx`` file.
    providers : sequence of str, optional
        Execution providers in order of preference (default :func:`default_providers`).
    threads : int, optional
        ``intra_op_num_threads`` for the CPU provider (default: onnxruntime's choice).

    Examples
    --------
    >>> runner = OnnxRunner("cgcnn.onnx", threads=1)          # doctest: +SKIP
    >>> runner(batch)                                        # doctest: +SKIP
    array([-2.118, ...])
    """

    def __init__(self, path: str | os.PathLike, *, providers: Sequence[str] | None = None,
                 threads: int | None = None):
        ort = _ort()
        self.path = Path(path)
        if not self.path.is_file():
            raise MatfoldInputError(f"ONNX file {self.path} does not exist; export the model first")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.path), sess_options=options, providers=list(providers or default_providers())
        )
        self.inputs = {i.name: _NUMPY_TYPES.get(i.type, None) for i in self.session.get_inputs()}
        self.output_names = [o.name for o in self.session.get_outputs()]

    @property
    def providers(self) -> list[str]:
        """The providers the session actually uses (CUDA falls back to CPU if its libraries are missing)."""
        return self.session.get_providers()

    @property
    def name(self) -> str:
        return f"onnxruntime ({self.providers[0]})"

    def run(self, inputs: Mapping[str, np.ndarray] | GraphBatch) -> dict[str, np.ndarray]:
        """All outputs by name; inputs are cast to the dtypes the model declares."""
        arrays = inputs.as_dict() if isinstance(inputs, GraphBatch) else dict(inputs)
        missing = [n for n in self.inputs if n not in arrays]
        if missing:
            raise MatfoldInputError(f"ONNX model {self.path.name} needs inputs {missing}")
        feed = {}
        for name, dtype in self.inputs.items():
            value = np.asarray(arrays[name])
            feed[name] = np.ascontiguousarray(value if dtype is None else value.astype(dtype, copy=False))
        outputs = self.session.run(self.output_names, feed)
        return dict(zip(self.output_names, outputs))

    def __call__(self, batch: Mapping[str, np.ndarray] | GraphBatch) -> np.ndarray:
        """The first output as float64 (the backend interface of the structure models)."""
        return np.asarray(self.run(batch)[self.output_names[0]], dtype=np.float64)

    def __repr__(self) -> str:
        return f"<OnnxRunner {self.path.name} on {', '.join(self.providers)}>"
