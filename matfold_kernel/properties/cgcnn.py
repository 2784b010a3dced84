"""CGCNN (Xie & Grossman, PRL 120, 145301 (2018)) on PyTorch Geometric, with the published weights.

The network is the original ``cgcnn/model.py`` (txie-93/cgcnn, MIT): a linear
embedding of 92-d atom features, ``n_conv`` gated graph convolutions

    z_ij = W [v_i, v_j, u_ij] + b          (fc_full, then batch norm bn1)
    v_i <- softplus(v_i + bn2(sum_j sigmoid(z_f) * softplus(z_c)))

mean pooling over the atoms of each crystal, then softplus -> conv_to_fc ->
softplus -> (fcs) -> fc_out. The original's module names are kept, so its
``state_dict`` loads key for key (:func:`map_state_dict`).

The crystal graph is the original's too (``cgcnn/data.py``): the 12 nearest
neighbours within 8 Å of each site (periodic images included), distances expanded
on 41 Gaussians centred at 0, 0.2, ..., 8 Å with width 0.2 Å. A site with fewer
than 12 neighbours within 8 Å is padded as the original pads it: extra edges from
the structure's first site at 9 Å.

Outputs are de-normalised with the checkpoint's ``normalizer`` inside the network,
so the torch module and its ONNX export return the trained target: eV/atom
(formation energy), eV (band gap), log10 GPa (moduli). :class:`CGCNNModel`
converts moduli to GPa and clips negative band gaps to 0.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MatfoldDependencyError, MatfoldInputError
from .base import PROPERTIES, ModelCard, Prediction, PropertyModel
from .deps import require
from .graphs import CrystalGraph, GraphBatch, as_structure, collate, crystal_graph, gaussian_centers
from .onnx_export import OnnxRunner, export_structure_model
from .weights import WEIGHTS, fetch_weights, model_dir

__all__ = [
    "CGCNN_MODELS",
    "CGCNNConv",  # noqa: F822 - built on first use (module __getattr__) so importing needs no torch
    "CGCNNModel",
    "CGCNNSpec",
    "CrystalGraphConvNet",  # noqa: F822
    "TorchBackend",
    "cgcnn_graph",
    "example_batch",
    "load_cgcnn",
    "load_cgcnn_network",
    "map_state_dict",
]

#: CGCNN graph parameters (``cgcnn/data.py`` defaults used for the pre-trained models).
RADIUS = 8.0  # Å
MAX_NEIGHBORS = 12
DMIN, STEP, WIDTH = 0.0, 0.2, 0.2  # Å
#: Distance given to padding edges of sites with fewer than 12 neighbours (original: radius + 1).
PAD_DISTANCE = RADIUS + 1.0
#: Highest Z in Materials Project data (the training set); atom_init.json goes to 100.
MAX_TRAINED_Z = 94


@dataclass(frozen=True)
class CGCNNSpec:
    """One published CGCNN model: matfold property, file name, the paper's test MAE."""

    property: str
    file: str
    paper_mae: float
    paper_mae_unit: str
    log10: bool = False

    @property
    def weights(self) -> str:
        """Key of the checkpoint in :data:`~matfold_kernel.properties.weights.WEIGHTS`."""
        return f"cgcnn/{self.file}.pth.tar"


#: The published regression models matfold uses, by matfold property key.
#: Paper MAEs: Xie & Grossman 2018, Table I (test set).
CGCNN_MODELS: dict[str, CGCNNSpec] = {
    s.property: s
    for s in [
        CGCNNSpec("formation_energy", "formation-energy-per-atom", 0.039, "eV/atom"),
        CGCNNSpec("band_gap", "band-gap", 0.388, "eV"),
        CGCNNSpec("bulk_modulus", "bulk-moduli", 0.054, "log10 GPa", log10=True),
        CGCNNSpec("shear_modulus", "shear-moduli", 0.087, "log10 GPa", log10=True),
    ]
}
_ALIASES = {s.file: k for k, s in CGCNN_MODELS.items()}
_ALIASES.update({"formation-energy": "formation_energy", "bandgap": "band_gap",
                 "bulk-modulus": "bulk_modulus", "shear-modulus": "shear_modulus"})


# --------------------------------------------------------------------------- network

def _torch():
    return require("CGCNN", ["torch", "torch_geometric"], "'torch==2.13.0' torch_geometric")


def _build_classes():
    torch = _torch()
    from torch import nn
    from torch.nn import functional as F
    from torch_geometric.nn import MessagePassing

    class CGCNNConv(MessagePassing):
        """CGCNN's gated convolution (the original ``ConvLayer``) as a PyG ``MessagePassing``.

        Message from neighbour j to centre i: ``sigmoid(z_f) * softplus(z_c)`` with
        ``[z_f, z_c] = bn1(fc_full([x_i, x_j, e_ij]))``; summed at i, then
        ``softplus(x_i + bn2(sum))``.
        """

        def __init__(self, atom_fea_len: int, nbr_fea_len: int):
            super().__init__(aggr="add", flow="source_to_target")
            self.atom_fea_len = atom_fea_len
            self.nbr_fea_len = nbr_fea_len
            self.fc_full = nn.Linear(2 * atom_fea_len + nbr_fea_len, 2 * atom_fea_len)
            self.bn1 = nn.BatchNorm1d(2 * atom_fea_len)
            self.bn2 = nn.BatchNorm1d(atom_fea_len)

        def forward(self, x, edge_index, edge_attr):
            summed = self.propagate(edge_index, x=x, edge_attr=edge_attr)
            return F.softplus(x + self.bn2(summed))

        def message(self, x_i, x_j, edge_attr):
            gated = self.bn1(self.fc_full(torch.cat([x_i, x_j, edge_attr], dim=-1)))
            nbr_filter, nbr_core = gated.chunk(2, dim=-1)
            return torch.sigmoid(nbr_filter) * F.softplus(nbr_core)

    class CrystalGraphConvNet(nn.Module):
        """The CGCNN regression network, taking a :class:`~.graphs.GraphBatch` as tensors.

        Inputs (all batch-level, any number of atoms N, edges E, crystals G):
        ``atomic_numbers`` (N,) int64, ``edge_index`` (2, E) int64,
        ``distances`` (E,) float32 in Å, ``batch`` (N,) int64, ``num_atoms`` (G,) int64.
        Output: (G,) float32, the target in its trained unit.
        """

        def __init__(self, orig_atom_fea_len: int = 92, nbr_fea_len: int = 41, atom_fea_len: int = 64,
                     n_conv: int = 3, h_fea_len: int = 128, n_h: int = 1, *,
                     atom_table: np.ndarray | None = None, centers: np.ndarray | None = None,
                     width: float = WIDTH, target_mean: float = 0.0, target_std: float = 1.0):
            super().__init__()
            self.embedding = nn.Linear(orig_atom_fea_len, atom_fea_len)
            self.convs = nn.ModuleList([CGCNNConv(atom_fea_len, nbr_fea_len) for _ in range(n_conv)])
            self.conv_to_fc = nn.Linear(atom_fea_len, h_fea_len)
            if n_h > 1:
                self.fcs = nn.ModuleList([nn.Linear(h_fea_len, h_fea_len) for _ in range(n_h - 1)])
            self.fc_out = nn.Linear(h_fea_len, 1)
            table = np.zeros((1, orig_atom_fea_len)) if atom_table is None else atom_table
            mu = gaussian_centers(DMIN, RADIUS, STEP) if centers is None else centers
            if len(mu) != nbr_fea_len:
                raise ValueError(f"{len(mu)} Gaussian centres for nbr_fea_len={nbr_fea_len}")
            # Not in the state dict: the checkpoint's keys stay exactly the original's.
            self.register_buffer("atom_table", torch.as_tensor(table, dtype=torch.float32), persistent=False)
            self.register_buffer("centers", torch.as_tensor(mu, dtype=torch.float32), persistent=False)
            self.register_buffer("target_mean", torch.tensor(float(target_mean)), persistent=False)
            self.register_buffer("target_std", torch.tensor(float(target_std)), persistent=False)
            self.width = float(width)

        def crystal_features(self, atomic_numbers, edge_index, distances, batch, num_atoms):
            """Mean-pooled atom features per crystal after the convolutions, (G, atom_fea_len)."""
            x = self.embedding(self.atom_table[atomic_numbers])
            edge_attr = torch.exp(-((distances.unsqueeze(-1) - self.centers) ** 2) / self.width**2)
            for conv in self.convs:
                x = conv(x, edge_index, edge_attr)
            pooled = x.new_zeros((num_atoms.shape[0], x.shape[1])).index_add(0, batch, x)
            return pooled / num_atoms.unsqueeze(-1).to(x.dtype)

        def forward(self, atomic_numbers, edge_index, distances, batch, num_atoms):
            crys = self.crystal_features(atomic_numbers, edge_index, distances, batch, num_atoms)
            crys = F.softplus(self.conv_to_fc(F.softplus(crys)))
            if hasattr(self, "fcs"):
                for fc in self.fcs:
                    crys = F.softplus(fc(crys))
            out = self.fc_out(crys).squeeze(-1)
            return out * self.target_std + self.target_mean

    return CGCNNConv, CrystalGraphConvNet


_CLASSES: tuple | None = None


def _classes():
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _build_classes()
    return _CLASSES


def __getattr__(name):  # CGCNNConv / CrystalGraphConvNet without importing torch at module import
    if name == "CGCNNConv":
        return _classes()[0]
    if name == "CrystalGraphConvNet":
        return _classes()[1]
    raise AttributeError(name)


def map_state_dict(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Original CGCNN checkpoint keys -> :class:`CrystalGraphConvNet` keys.

    The names are the original's (``embedding``, ``convs.<k>.fc_full``, ``.bn1``,
    ``.bn2``, ``conv_to_fc``, ``fcs.<k>``, ``fc_out``); only a ``module.`` prefix
    (checkpoints saved from ``DataParallel``) is stripped. Batch-norm
    ``num_batches_tracked`` counters, absent from the 2018 files, are kept if present.
    """
    mapped = {}
    for key, value in state_dict.items():
        mapped[key.removeprefix("module.")] = value
    return mapped


def _atom_table(path: Path) -> np.ndarray:
    with open(path) as fh:
        raw = json.load(fh)
    features = {int(k): np.asarray(v, dtype=np.float32) for k, v in raw.items()}
    width = {len(v) for v in features.values()}
    if len(width) != 1:
        raise MatfoldDependencyError(f"{path}: atom feature vectors have different lengths {sorted(width)}")
    table = np.full((max(features) + 1, width.pop()), np.nan, dtype=np.float32)
    for z, vec in features.items():
        table[z] = vec
    table[0] = 0.0
    return table


def _read_checkpoint(path: Path) -> dict:
    torch = _torch()
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise MatfoldDependencyError(f"cannot read CGCNN checkpoint {path}: {exc}") from None


def load_cgcnn_network(property: str, *, download: bool = True):
    """The published CGCNN network for ``property`` in eval mode, and its checkpoint metadata.

    Returns
    -------
    (CrystalGraphConvNet, dict)
        The network (outputs in the trained unit) and ``{"spec", "normalizer", "args",
        "epoch", "best_mae_error", "weights", "sha256"}``.
    """
    spec = _spec(property)
    ckpt_path = fetch_weights(spec.weights, download=download)
    table = _atom_table(fetch_weights("cgcnn/atom_init.json", download=download))
    ckpt = _read_checkpoint(ckpt_path)
    args = dict(ckpt.get("args") or {})
    state = map_state_dict(ckpt["state_dict"])
    n_conv = len({k.split(".")[1] for k in state if k.startswith("convs.")})
    atom_fea_len, orig_len = state["embedding.weight"].shape
    h_fea_len = state["conv_to_fc.weight"].shape[0]
    nbr_fea_len = state["convs.0.fc_full.weight"].shape[1] - 2 * atom_fea_len
    n_h = 1 + len({k.split(".")[1] for k in state if k.startswith("fcs.")})
    if orig_len != table.shape[1]:
        raise MatfoldDependencyError(
            f"{ckpt_path} expects {orig_len}-d atom features, atom_init.json has {table.shape[1]}"
        )
    if state["fc_out.weight"].shape[0] != 1:
        raise MatfoldDependencyError(f"{ckpt_path} is not a regression model (fc_out has "
                                     f"{state['fc_out.weight'].shape[0]} outputs)")
    norm = ckpt["normalizer"]
    Net = _classes()[1]
    net = Net(orig_len, nbr_fea_len, atom_fea_len, n_conv, h_fea_len, n_h, atom_table=table,
              target_mean=float(norm["mean"]), target_std=float(norm["std"]))
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise MatfoldDependencyError(
            f"{ckpt_path} does not match CGCNN's layout: missing {missing}, unexpected {unexpected}"
        )
    net.eval()
    meta = {
        "spec": spec,
        "normalizer": {"mean": float(norm["mean"]), "std": float(norm["std"])},
        "args": args,
        "epoch": ckpt.get("epoch"),
        "best_mae_error": float(ckpt["best_mae_error"]) if "best_mae_error" in ckpt else None,
        "weights": spec.weights,
        "sha256": WEIGHTS[spec.weights].sha256,
        "atom_table_size": int(table.shape[0] - 1),
    }
    return net, meta


def _spec(property: str) -> CGCNNSpec:
    key = str(property).strip().replace(" ", "_")
    key = _ALIASES.get(key, _ALIASES.get(key.replace("_", "-"), key))
    if key not in CGCNN_MODELS:
        raise MatfoldInputError(
            f"no CGCNN model for property {property!r}; choose one of {', '.join(CGCNN_MODELS)}"
        )
    return CGCNN_MODELS[key]


# --------------------------------------------------------------------------- graphs

def cgcnn_graph(structure, *, max_z: int = 100) -> tuple[CrystalGraph, list[str]]:
    """CGCNN's crystal graph of one structure, and warnings about it.

    12 nearest neighbours within 8 Å; sites with fewer get padding edges from site 0
    at 9 Å, as the original ``CIFData`` does (so predictions match the published
    model); a warning says so.

    Raises
    ------
    MatfoldInputError
        Disordered sites, dummy species, or an element beyond ``max_z`` (the atom table's last Z).
    """
    graph = crystal_graph(structure, cutoff=RADIUS, max_neighbors=MAX_NEIGHBORS)
    warnings: list[str] = []
    z = graph.atomic_numbers
    if z.min() < 1:
        site = int(np.argmin(z))
        raise MatfoldInputError(
            f"site {site + 1} ({structure[site].species_string}) is not a chemical element; "
            "CGCNN needs real elements on every site"
        )
    if z.max() > max_z:
        site = int(np.argmax(z > max_z))
        raise MatfoldInputError(
            f"site {site + 1} is {structure[site].species_string} (Z={int(z[site])}); CGCNN's atom "
            f"features stop at Z={max_z}"
        )
    beyond = sorted({structure[int(i)].species_string for i in np.flatnonzero(z > MAX_TRAINED_Z)})
    if beyond:
        warnings.append(f"{', '.join(beyond)} beyond Pu: absent from the Materials Project training data")
    sparse = graph.sparse_centers()
    if sparse.size:
        missing = MAX_NEIGHBORS - graph.counts[sparse]
        pad_src = np.zeros(int(missing.sum()), dtype=np.int64)
        pad_dst = np.repeat(sparse, missing)
        graph.edge_index = np.concatenate([graph.edge_index, np.stack([pad_src, pad_dst])], axis=1)
        graph.distances = np.concatenate([graph.distances, np.full(pad_src.size, PAD_DISTANCE)])
        graph.images = np.concatenate([graph.images, np.zeros((pad_src.size, 3), dtype=np.int64)])
        warnings.append(
            f"{sparse.size} of {graph.num_atoms} sites have fewer than {MAX_NEIGHBORS} neighbours "
            f"within {RADIUS:g} Å (padded as the original CGCNN does); the structure is unusually "
            "sparse for this model"
        )
    return graph, warnings


def example_batch() -> GraphBatch:
    """A small batch of three crystals of different sizes (for exports and smoke tests)."""
    from pymatgen.core import Lattice, Structure

    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.69), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    si = Structure(Lattice(5.47 * 0.5 * (1 - np.eye(3))), ["Si", "Si"],
                   [[0, 0, 0], [0.25, 0.25, 0.25]])
    sto = Structure(Lattice.cubic(3.94), ["Sr", "Ti", "O", "O", "O"],
                    [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    return collate([cgcnn_graph(s)[0] for s in (si, sto, nacl)])


# --------------------------------------------------------------------------- property model

class TorchBackend:
    """Runs a torch structure network on a :class:`GraphBatch` (no gradients)."""

    def __init__(self, net, device: str | None = None):
        torch = _torch()
        self.device = torch.device(device or "cpu")
        self.net = net.to(self.device).eval()
        self.name = f"torch ({self.device})"

    def __call__(self, batch: GraphBatch) -> np.ndarray:
        torch = _torch()
        with torch.inference_mode():
            out = self.net(*batch.to_torch(self.device))
        return out.detach().cpu().numpy().astype(np.float64)


class CGCNNModel(PropertyModel):
    """A published CGCNN model behind matfold's :class:`PropertyModel` interface.

    ``predict_batch`` takes pymatgen Structures (ASE Atoms and file paths work too)
    and returns the property in matfold's unit; ``std`` is NaN (one network, no
    uncertainty). The computation runs on ``backend``: :class:`TorchBackend` by
    default, or an :class:`~matfold_kernel.properties.onnx_export.OnnxRunner`
    (:meth:`use_onnx`).
    """

    #: Structures per forward pass, at most.
    batch_size = 256
    #: Edges per forward pass, at most (12 per site; bounds memory to ~100 MB per layer).
    max_edges = 120_000

    def __init__(self, net, meta: dict, card: ModelCard, backend: Callable[[GraphBatch], np.ndarray] | None = None):
        self.net = net
        self.meta = meta
        self.card = card
        self.spec: CGCNNSpec = meta["spec"]
        self.backend = backend if backend is not None else TorchBackend(net)

    def __repr__(self) -> str:
        return f"<CGCNNModel {self.spec.property} ({self.card.unit}) on {getattr(self.backend, 'name', self.backend)}>"

    def graphs(self, inputs: Sequence[Any]) -> tuple[list[CrystalGraph], list[list[str]]]:
        """CGCNN graphs of ``inputs`` and per-input warnings.

        Raises
        ------
        MatfoldInputError
            Naming the input (by position) that cannot be used.
        """
        graphs, warnings = [], []
        max_z = self.meta.get("atom_table_size", 100)
        for k, obj in enumerate(inputs):
            try:
                structure = as_structure(obj)
                graph, warns = cgcnn_graph(structure, max_z=max_z)
            except MatfoldInputError as exc:
                raise MatfoldInputError(f"input {k}: {exc}") from None
            graphs.append(graph)
            warnings.append(warns)
        return graphs, warnings

    def predict_raw(self, inputs: Sequence[Any]) -> np.ndarray:
        """Network outputs in the trained unit (log10 GPa for moduli; band gaps not clipped)."""
        graphs, _ = self.graphs(inputs)
        return self._run(graphs)

    def _run(self, graphs: list[CrystalGraph]) -> np.ndarray:
        out, chunk, edges = [], [], 0
        for graph in graphs:
            if chunk and (len(chunk) >= self.batch_size or edges + graph.num_edges > self.max_edges):
                out.append(self.backend(collate(chunk)))
                chunk, edges = [], 0
            chunk.append(graph)
            edges += graph.num_edges
        if chunk:
            out.append(self.backend(collate(chunk)))
        return np.concatenate(out) if out else np.zeros(0)

    def _to_unit(self, raw: np.ndarray) -> np.ndarray:
        if self.spec.log10:
            return np.power(10.0, raw)
        if self.spec.property == "band_gap":
            return np.maximum(raw, 0.0)
        return raw

    def predict_batch(self, inputs: Sequence[Any]) -> Prediction:
        inputs = list(inputs)
        if not inputs:
            return Prediction(np.zeros(0), np.zeros(0), [])
        graphs, warnings = self.graphs(inputs)
        raw = self._run(graphs)
        if self.spec.property == "band_gap":
            for k in np.flatnonzero(raw < 0):
                warnings[k].append(f"raw band gap {raw[k]:.3f} eV clipped to 0")
        mean = self._to_unit(raw)
        return Prediction(mean=mean, std=np.full(mean.shape, np.nan), warnings=warnings)

    def predict(self, structure) -> float:
        """The property of one structure, in :attr:`card.unit`."""
        return float(self.predict_batch([structure]).mean[0])

    # ---------------------------------------------------------------- ONNX

    def onnx_path(self) -> Path:
        """Where the ONNX export of this model is cached (beside the weights)."""
        import torch

        tag = hashlib.sha256(f"{self.meta['sha256']}|{torch.__version__}|cgcnn-v1".encode()).hexdigest()[:16]
        return model_dir() / "cgcnn" / "onnx" / f"{self.spec.file}-{tag}.onnx"

    def export_onnx(self, path: str | Path | None = None) -> Path:
        """Export the network to ONNX (dynamo exporter; dynamic atoms/edges/crystals)."""
        target = Path(path) if path is not None else self.onnx_path()
        return export_structure_model(self.net, example_batch(), target)

    def use_onnx(self, path: str | Path | None = None, *, providers: Sequence[str] | None = None,
                 threads: int | None = None) -> CGCNNModel:
        """Switch to onnxruntime (CUDA provider when present), exporting first if needed. Returns self."""
        target = Path(path) if path is not None else self.onnx_path()
        if not target.is_file():
            self.export_onnx(target)
        self.backend = OnnxRunner(target, providers=providers, threads=threads)
        return self

    def use_torch(self, device: str | None = None) -> CGCNNModel:
        """Switch back to PyTorch (``device`` e.g. "cuda"). Returns self."""
        self.backend = TorchBackend(self.net, device)
        return self


def _card(meta: dict, net) -> ModelCard:
    spec: CGCNNSpec = meta["spec"]
    prop = PROPERTIES[spec.property]
    args = meta["args"]
    sizes = ", ".join(f"{args[k]:,} {k.split('_')[0]}" for k in ("train_size", "val_size", "test_size") if k in args)
    n_params = sum(p.numel() for p in net.parameters())
    notes = [
        ("Crystal graph: 12 nearest neighbours within 8 Å, 41 Gaussians (0-8 Å, width 0.2 Å); "
         "sites with fewer neighbours padded as the original."),
        "Single network: no uncertainty (std is NaN).",
        ("Trained on Materials Project's ICSD-derived, mostly stable crystals: expect larger "
         "errors on hypothetical or unstable structures."),
    ]
    val_mae = meta["best_mae_error"]
    if spec.log10:
        notes.insert(0, "The network predicts log10(modulus / GPa) (MP VRH average); matfold returns "
                        f"10**prediction in GPa. Errors are multiplicative: paper MAE {spec.paper_mae} "
                        f"log10 units (a factor of about {10 ** spec.paper_mae:.2f}).")
        val_mae = None
    if spec.property == "band_gap":
        notes.insert(0, "PBE band gap (MP). Trained only on MP's non-metals (the checkpoint's "
                        "'20170419_semi' set): it gives metals gaps of 0.4-1.5 eV (Cu 1.5, Al 1.0), so "
                        "check metallicity separately. Negative outputs are clipped to 0 eV.")
    if spec.property == "formation_energy":
        notes.insert(0, "Formation energy per atom from MP's 2017 GGA/GGA+U energies with MP's "
                        "corrections of that time (elemental ground states at 0).")
    return ModelCard(
        name=f"CGCNN {spec.file}",
        version="Xie & Grossman 2018, pre-trained (txie-93/cgcnn)",
        property=spec.property,
        unit=prop.unit,
        input="structure",
        training_data=f"Materials Project (2017 snapshot, 2017-04-19; {sizes})" if sizes
        else "Materials Project (2017 snapshot)",
        size=f"{n_params:,} parameters",
        val_mae=val_mae,
        licence="MIT",
        reference="T. Xie and J. C. Grossman, Phys. Rev. Lett. 120, 145301 (2018); "
                  "weights: github.com/txie-93/cgcnn pre-trained/ (MIT)",
        notes=" ".join(notes),
        extra={
            "weights": meta["weights"],
            "sha256": meta["sha256"],
            "trained_unit": spec.paper_mae_unit,
            "paper_test_mae": spec.paper_mae,
            "checkpoint_val_mae": meta["best_mae_error"],
            "normalizer": meta["normalizer"],
            "epoch": meta["epoch"],
            "radius_A": RADIUS,
            "max_neighbors": MAX_NEIGHBORS,
            "gaussian": {"dmin_A": DMIN, "dmax_A": RADIUS, "step_A": STEP, "width_A": WIDTH},
        },
    )


def load_cgcnn(property: str, *, backend: str = "torch", device: str | None = None,
               threads: int | None = None, download: bool = True) -> CGCNNModel:
    """Load a published CGCNN model as a :class:`CGCNNModel`.

    Parameters
    ----------
    property : str
        ``"formation_energy"`` (eV/atom), ``"band_gap"`` (eV), ``"bulk_modulus"`` or
        ``"shear_modulus"`` (GPa); the original file names (``"band-gap"``, ...) work too.
    backend : {"torch", "onnx"}
        PyTorch, or onnxruntime on an ONNX export cached beside the weights.
    device : str, optional
        Torch device for the torch backend (default CPU).
    threads : int, optional
        onnxruntime intra-op threads for the onnx backend (torch: use ``torch.set_num_threads``).
    download : bool
        Fetch missing weights from GitHub (else raise).

    Raises
    ------
    MatfoldInputError
        Unknown property or backend.
    MatfoldDependencyError
        Weights missing and not downloadable, or torch / torch_geometric not installed.
    """
    if backend not in ("torch", "onnx"):
        raise MatfoldInputError(f"unknown backend {backend!r}; use 'torch' or 'onnx'")
    net, meta = load_cgcnn_network(property, download=download)
    model = CGCNNModel(net, meta, _card(meta, net), TorchBackend(net, device))
    if backend == "onnx":
        model.use_onnx(threads=threads)
    return model
