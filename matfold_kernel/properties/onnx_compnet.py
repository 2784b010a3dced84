"""ONNX export of composition ensembles, run on ONNX Runtime.

Members of one kind (the same width and depth, reading the cell size or not) share one
graph: inputs ``idx`` (int64, batch × elements) and ``frac`` (float32, same shape:
fractions, or the amounts as written for a ``cell_size`` network), output (batch × 2);
they differ only in their weights. Exported with the
dynamo exporter (``torch.onnx.export(..., dynamo=True)``); the session uses the CUDA
execution provider when ONNX Runtime has it, else the CPU.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..errors import MatfoldDependencyError

__all__ = ["export_ensemble", "OnnxEnsembleSession", "providers"]


def providers() -> list[str]:
    """ONNX Runtime execution providers to use, best first."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class OnnxEnsembleSession:
    """ONNX Runtime sessions over an exported ensemble: one graph, one set of weights per member."""

    def __init__(self, member_models: list[bytes], threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MatfoldDependencyError(
                "the ONNX backend needs onnxruntime: pip install 'matfold[ml]' (or onnxruntime-gpu on CUDA)"
            ) from exc
        options = ort.SessionOptions()
        # batches vary in size: ONNX Runtime's arena would keep the largest one's buffers
        # for every member (2.9 GB after 20,000 formulas), so release memory between runs
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.member_models = member_models
        self.sessions = [ort.InferenceSession(m, options, providers=providers()) for m in member_models]

    def run(self, idx: np.ndarray, frac: np.ndarray) -> np.ndarray:
        """Member outputs (n, M, 2) for encoded compositions."""
        feed = {"idx": idx.astype(np.int64), "frac": frac.astype(np.float32)}
        return np.stack([s.run(None, feed)[0] for s in self.sessions], axis=1)

    def save(self, folder: str | Path) -> list[Path]:
        """Write ``member-K.onnx`` files into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for k, data in enumerate(self.member_models):
            paths.append(folder / f"member-{k}.onnx")
            paths[-1].write_bytes(data)
        return paths

    @classmethod
    def load(cls, folder: str | Path, threads: int | None = None) -> "OnnxEnsembleSession":
        files = sorted(Path(folder).glob("member-*.onnx"), key=lambda p: int(p.stem.split("-")[1]))
        return cls([p.read_bytes() for p in files], threads)


def export_ensemble(ensemble, threads: int | None = None, cache: str | Path | None = None) -> OnnxEnsembleSession:
    """Export ``ensemble`` (a :class:`~.ensemble.CompositionEnsemble`) and open it in ONNX Runtime.

    The first member of each kind (width and depth, reading the cell size or not) is traced
    once with the dynamo exporter; every member's weights are then applied to its kind's graph. With
    ``cache`` (a folder), the ONNX files are written there and reused next time.
    """
    if cache is not None and len(list(Path(cache).glob("member-*.onnx"))) == len(ensemble.module.members):
        return OnnxEnsembleSession.load(cache, threads)
    import torch

    try:
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError as exc:
        raise MatfoldDependencyError("ONNX export needs onnx and onnxscript: pip install 'matfold[ml]'") from exc
    stack = ensemble.module.to("cpu").eval()
    # every member as the module that takes the ensemble's input; members of one kind share a graph
    members = stack.runners
    # members of one kind (width, depth, reading the cell size or not) share a graph; dropout
    # acts only in training, and the hull offset is added after the network
    kinds = [tuple(sorted({**m.config.to_dict(), "dropout": 0.0, "hull_offset": False}.items()))
             for m in stack.members]
    idx = torch.tensor([[8, 26, 3, 15], [14, 8, 0, 0]], dtype=torch.int64)
    frac = torch.tensor([[0.57, 0.14, 0.14, 0.14], [0.33, 0.67, 0.0, 0.0]], dtype=torch.float32)
    if ensemble.takes_amounts:
        frac = torch.tensor([[16.0, 4.0, 4.0, 4.0], [1.0, 2.0, 0.0, 0.0]])
    batch, width = torch.export.Dim("batch", min=1), torch.export.Dim("elements", min=1, max=64)
    programs = {}
    blobs = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (member, kind) in enumerate(zip(members, kinds)):
            if kind not in programs:
                programs[kind] = _export(member, idx, frac, batch, width)
            program = programs[kind]
            program.apply_weights({n: p.detach() for n, p in member.state_dict().items()})
            path = Path(tmp) / f"member-{k}.onnx"
            program.save(str(path), include_initializers=True)
            blobs.append(path.read_bytes())
    ensemble.module.to(ensemble.device)
    session = OnnxEnsembleSession(blobs, threads)
    if cache is not None:
        session.save(cache)
    return session


def _export(member, idx, frac, batch, width):
    """Trace ``member`` with the dynamo exporter into a program whose weights can be replaced."""
    import torch

    program = torch.onnx.export(
        member, (idx, frac), dynamo=True, input_names=["idx", "frac"], output_names=["out"],
        dynamic_shapes={"idx": {0: batch, 1: width}, "frac": {0: batch, 1: width}},
        external_data=False, verbose=False,
        # no exporter-side optimisation: constant folding would bake member 0's weights into the
        # graph where apply_weights cannot replace them (ONNX Runtime optimises the graph itself)
        optimize=False,
    )
    names = set(program.model.graph.initializers)
    missing = [k for k in member.state_dict() if k not in names]
    if missing:
        raise RuntimeError(f"ONNX export lost weights {missing[:5]}: cannot share the graph between members")
    return program
