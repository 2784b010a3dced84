"""MEGNet (Chen et al., Chem. Mater. 31, 3564 (2019)) through matgl 4.x, with matgl's published weights.

matgl 4.x is PyTorch Geometric only and ships no weights; the published
``state.pt`` files load into its :class:`matgl.models.MEGNet` key for key. One
thing must change for the numbers to be right: **where edge messages are
averaged**. The weights were trained with matgl's DGL code, whose node update
was ``graph.update_all(fn.copy_e("e", "e"), fn.mean("e", "ve"))``: each edge's
updated feature (computed from ``[v_src, v_dst, e, u]``) is averaged at its
*destination* node. matgl 4.1's PyG port averages at the *source* node
(``scatter_mean(edge_feat, edge_index[0])``). The graph holds both directions of
every bond, so only the mean's receiver differs; but ``e_ij`` and ``e_ji`` differ
after the first update, and the port feeds every node the wrong mean. With matgl
4.1 as is, the formation energies of 25 well-known compounds come out on average
0.44 eV/atom above Materials Project's 2018 values, the training target (CsCl
-1.924 eV/atom, the value matgl's own documentation prints, against MP's -2.245);
averaged at the destination as in training, the mean error is +0.007 eV/atom and
the MAE 0.022 eV/atom (0.10 against experiment, 0.055 against CHGNet), in line
with the published test MAE of 0.028. ``DestinationMeanConv`` restores the trained
convention; nothing else in matgl's MEGNet needed changing (element list, Gaussian
basis 0-5 Å width 0.5, cutoff 4 Å, state [0, 0] and the normaliser direction all
check out).

The multi-fidelity band-gap weights (``MEGNet-MP-2019.4.1-BandGap-mfi``) are
loaded the same way, but **fail verification**: with the fix, halides come out
right (NaCl 5.03 eV vs. Materials Project's PBE 5.00, CsCl 5.25 vs. 4.99), yet
many oxides, nitrides and carbides do not (MgO 0.31 vs. 4.44, CaO 0.05 vs. 3.63,
cubic BaTiO3 0.01 vs. 1.67), and the MgO gap jumps between 0.1 and 3.6 eV as the
lattice parameter moves by 0.05 Å. Neither cutoff, Gaussian width, element
order, fidelity index nor aggregation (mean/sum, source/destination) repairs it.
:func:`load_megnet` therefore refuses the band-gap model unless
``allow_unverified=True``.

Units: formation energy eV/atom (MP 2018.6.1 formation energies, i.e. MP's
corrections of that time; elemental ground states at 0), band gap eV.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import MatfoldDependencyError, MatfoldInputError
from .deps import require
from .base import PROPERTIES, ModelCard, Prediction, PropertyModel
from .graphs import as_structure, crystal_graph
from .weights import fetch_weights

__all__ = [
    "FIDELITIES",
    "MEGNET_MODELS",
    "MEGNetModel",
    "MEGNetSpec",
    "load_megnet",
    "load_megnet_network",
    "megnet_graph",
]

#: Band-gap fidelities of the multi-fidelity model, as its state index (matgl's README).
FIDELITIES = {"pbe": 0, "gllb-sc": 1, "hse": 2, "scan": 3}


@dataclass(frozen=True)
class MEGNetSpec:
    """One published matgl MEGNet model."""

    name: str  # folder in matgl's pretrained_models
    property: str
    training_data: str
    val_mae: float
    verified: bool
    reference: str


_CHEN_2019 = ("Chen, C.; Ye, W.; Zuo, Y.; Zheng, C.; Ong, S. P. Chem. Mater. 2019, 31, 3564-3572. "
              "doi:10.1021/acs.chemmater.9b01294")
_CHEN_2021 = ("Chen, C.; Zuo, Y.; Ye, W.; Li, X.; Ong, S. P. Nat. Comput. Sci. 2021, 1, 46-53. "
              "doi:10.1038/s43588-020-00002-x")

#: The MEGNet models matfold knows, by property.
MEGNET_MODELS: dict[str, MEGNetSpec] = {
    "formation_energy": MEGNetSpec(
        "MEGNet-MP-2018.6.1-Eform", "formation_energy",
        "Materials Project 2018.6.1 formation energies (62,315 train / 3,461 val / 3,463 test)",
        0.029, True, _CHEN_2019),
    "band_gap": MEGNetSpec(
        "MEGNet-MP-2019.4.1-BandGap-mfi", "band_gap",
        "Materials Project 2019.4.1 band gaps, four fidelities (PBE, GLLB-SC, HSE, SCAN; 48,912 train)",
        0.314, False, _CHEN_2021),
}


def _torch():
    torch = require("MEGNet", ["torch", "torch_geometric", "matgl.models"],
                    "'torch==2.13.0' torch_geometric 'matgl>=4.1,<5'")
    return torch


_CONV_CLASS = None


def _destination_mean_conv():
    """matgl's MEGNetGraphConv with the node update of the DGL code the weights were trained with."""
    global _CONV_CLASS
    if _CONV_CLASS is None:
        torch = _torch()
        from matgl.layers._graph_convolution import MEGNetGraphConv, scatter_mean

        class DestinationMeanConv(MEGNetGraphConv):
            """MEGNet graph convolution whose node update averages each edge at its destination.

            DGL's ``update_all(copy_e, mean)`` (matgl < 2, where the published weights
            come from); matgl 4.1 averages at the source instead.
            """

            def node_update_(self, edge_index, edge_feat, node_feat, u_per_node, num_nodes):
                ve = scatter_mean(edge_feat, edge_index[1], dim_size=num_nodes, dim=0)
                return self.node_func(torch.hstack([node_feat, ve, u_per_node]))

        _CONV_CLASS = DestinationMeanConv
    return _CONV_CLASS


def _set_aggregation(net, aggregation: str) -> None:
    from matgl.layers._graph_convolution import MEGNetGraphConv

    cls = _destination_mean_conv() if aggregation == "destination" else MEGNetGraphConv
    for block in net.blocks:
        conv = block.conv
        block.conv = cls(conv.edge_func, conv.node_func, conv.state_func)


def load_megnet_network(property: str = "formation_energy", *, aggregation: str = "destination",
                        download: bool = True):
    """matgl ``MEGNet`` with the published weights, and the target's mean and std.

    Parameters
    ----------
    property : {"formation_energy", "band_gap"}
    aggregation : {"destination", "source"}
        Where the node update averages edge features: "destination" as the weights
        were trained; "source" is matgl 4.1 unchanged (kept for comparison only).
    download : bool
        Fetch missing weights from matgl's GitHub (else raise).

    Returns
    -------
    (net, mean, std) : (matgl.models.MEGNet, float, float)
        The network in eval mode; its raw output times ``std`` plus ``mean`` is the property.
    """
    spec = _spec(property)
    if aggregation not in ("destination", "source"):
        raise MatfoldInputError(f"unknown aggregation {aggregation!r}; use 'destination' or 'source'")
    torch = _torch()
    from matgl.models import MEGNet

    cfg_path = fetch_weights(f"matgl/{spec.name}/model.json", download=download)
    state_path = fetch_weights(f"matgl/{spec.name}/state.pt", download=download)
    cfg = json.loads(cfg_path.read_text())
    args = dict(cfg["kwargs"]["model"]["init_args"])
    match = re.search(r"Mean=\s*([-+\d.eE]+),\s*Std:\s*([-+\d.eE]+)", cfg["kwargs"]["target_transformer"])
    if match is None:  # pragma: no cover - the checksum pins the file
        raise MatfoldDependencyError(f"{cfg_path}: no 'Normalizer: Mean=..., Std: ...' in target_transformer")
    mean, std = float(match.group(1)), float(match.group(2))
    args.pop("graph_transformations", None)
    args = {k: v for k, v in args.items() if v is not None}  # None means matgl's default
    net = MEGNet(**args)
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    state = {k.removeprefix("model."): v for k, v in state.items()}
    net.load_state_dict(state, strict=True)
    _set_aggregation(net, aggregation)
    net.eval()
    return net, mean, std


def _spec(property: str) -> MEGNetSpec:
    key = property.replace("-", "_").lower()
    if key not in MEGNET_MODELS:
        raise MatfoldInputError(f"no MEGNet model for {property!r}; choose one of {sorted(MEGNET_MODELS)}")
    return MEGNET_MODELS[key]


def megnet_graph(structure, element_types: Sequence[str], cutoff: float):
    """A PyG ``Data`` graph of ``structure`` in matgl's MEGNet layout.

    Nodes carry ``node_type`` (index into ``element_types``) and ``pos`` (Å); each
    bond within ``cutoff`` appears in both directions, ``pbc_offshift`` (Å) being the
    translation of the destination's periodic image.

    Raises
    ------
    MatfoldInputError
        A disordered site, or an element outside ``element_types``.
    """
    torch = _torch()
    from torch_geometric.data import Data

    graph = crystal_graph(structure, cutoff=cutoff, max_neighbors=None)
    index = {el: i for i, el in enumerate(element_types)}
    symbols = [site.specie.symbol for site in structure]
    missing = sorted({s for s in symbols if s not in index}, key=symbols.index)
    if missing:
        raise MatfoldInputError(
            f"element(s) {', '.join(missing)} not covered by MEGNet (it knows H-Bi and Ac-Pu, "
            "without Po, At, Rn, Fr, Ra); use a composition model for this material"
        )
    # crystal_graph: row 0 the neighbour (its image shifted by `images`), row 1 the centre.
    # MEGNet: source = centre, destination = neighbour image; the bond set is the same.
    src, dst = graph.edge_index[1], graph.edge_index[0]
    lattice = np.asarray(structure.lattice.matrix, dtype=np.float64)
    return Data(
        node_type=torch.as_tensor([index[s] for s in symbols], dtype=torch.long),
        pos=torch.as_tensor(structure.cart_coords, dtype=torch.float32),
        edge_index=torch.as_tensor(np.stack([src, dst]), dtype=torch.long),
        pbc_offshift=torch.as_tensor(graph.images @ lattice, dtype=torch.float32),
        num_nodes=len(symbols),
    ), graph


class MEGNetModel(PropertyModel):
    """A published matgl MEGNet model behind matfold's :class:`PropertyModel` interface.

    ``predict_batch`` takes pymatgen Structures (ASE Atoms and structure files work
    too); ``std`` is NaN (one network, no uncertainty). Band gaps are clipped at 0 eV.
    """

    #: Structures per forward pass.
    batch_size = 64

    def __init__(self, net, mean: float, std: float, spec: MEGNetSpec, card: ModelCard, fidelity: str = "pbe"):
        self.net = net
        self.mean = float(mean)
        self.std = float(std)
        self.spec = spec
        self.card = card
        self.fidelity = fidelity

    def __repr__(self) -> str:
        extra = f", {self.fidelity}" if self.spec.property == "band_gap" else ""
        return f"<MEGNetModel {self.spec.name} ({self.card.unit}{extra})>"

    def _state(self, n: int):
        torch = _torch()
        if self.spec.property == "band_gap":
            return torch.full((n,), FIDELITIES[self.fidelity], dtype=torch.long)
        return torch.zeros((n, 2), dtype=torch.float32)  # the formation model's state: [0, 0]

    def graphs(self, inputs: Sequence[Any]):
        """MEGNet graphs of ``inputs`` and per-input warnings.

        Raises
        ------
        MatfoldInputError
            Naming the input (by position) that cannot be used.
        """
        graphs, warnings = [], []
        for k, obj in enumerate(inputs):
            try:
                structure = as_structure(obj)
                data, graph = megnet_graph(structure, self.net.element_types, self.net.cutoff)
            except MatfoldInputError as exc:
                raise MatfoldInputError(f"input {k}: {exc}") from None
            warns = []
            lonely = np.flatnonzero(graph.counts == 0)
            if lonely.size:
                warns.append(f"{lonely.size} site(s) (first: site {lonely[0] + 1}) have no neighbour within "
                             f"{self.net.cutoff:g} Å; MEGNet was trained on bonded crystals")
            graphs.append(data)
            warnings.append(warns)
        return graphs, warnings

    def predict_raw(self, inputs: Sequence[Any]) -> np.ndarray:
        """Predictions in the trained unit, band gaps not clipped."""
        graphs, _ = self.graphs(list(inputs))
        return self._run(graphs)

    def _run(self, graphs) -> np.ndarray:
        torch = _torch()
        from torch_geometric.data import Batch

        out = []
        for i in range(0, len(graphs), self.batch_size):
            chunk = graphs[i:i + self.batch_size]
            batch = Batch.from_data_list(chunk)
            with torch.inference_mode():
                y = self.net(g=batch, state_attr=self._state(len(chunk)))
            out.append(y.reshape(-1).double().numpy() * self.std + self.mean)
        return np.concatenate(out) if out else np.zeros(0)

    def predict_batch(self, inputs: Sequence[Any]) -> Prediction:
        inputs = list(inputs)
        if not inputs:
            return Prediction(np.zeros(0), np.zeros(0), [])
        graphs, warnings = self.graphs(inputs)
        mean = self._run(graphs)
        if self.spec.property == "band_gap":
            for k in np.flatnonzero(mean < 0):
                warnings[k].append(f"raw band gap {mean[k]:.3f} eV clipped to 0")
            mean = np.maximum(mean, 0.0)
        if not self.spec.verified:
            for w in warnings:
                w.append(f"{self.spec.name} failed matfold's verification (see the model card); "
                         "do not trust these numbers")
        return Prediction(mean=mean, std=np.full(mean.shape, np.nan), warnings=warnings)

    def predict(self, structure) -> float:
        """The property of one structure, in :attr:`card.unit`."""
        return float(self.predict_batch([structure]).mean[0])


def _card(spec: MEGNetSpec, net, fidelity: str) -> ModelCard:
    prop = PROPERTIES[spec.property]
    n_params = sum(p.numel() for p in net.parameters())
    notes = [
        (f"matgl 4.x MEGNet with the published weights; crystal graph: all neighbours within "
         f"{net.cutoff:g} Å, Gaussian bond basis to {net.cutoff + 1:g} Å (width 0.5)."),
        ("matgl 4.1 averages edge messages at the source node; the weights were trained with "
         "the DGL code that averages at the destination, which matfold restores (without it, "
         "formation energies come out ~0.4 eV/atom too high)."),
        "Single network: no uncertainty (std is NaN).",
    ]
    if spec.property == "formation_energy":
        notes.insert(0, "Formation energy per atom as Materials Project computed it in 2018 (GGA/GGA+U "
                        "with MP's corrections of that time; elemental ground states at 0). Verified on "
                        "25 compounds: MAE 0.022 eV/atom vs. MP 2018, 0.10 vs. experiment, 0.055 vs. CHGNet.")
    else:
        notes.insert(0, f"Band gap at the {fidelity.upper()} fidelity; negative outputs clipped to 0 eV. "
                        "FAILS VERIFICATION: halides match MP (NaCl 5.03 vs 5.00 eV) but many oxides do "
                        "not (MgO 0.31 vs 4.44 eV, BaTiO3 0.01 vs 1.67 eV); not a default model.")
    return ModelCard(
        name=spec.name,
        version="matgl pretrained_models (BSD-3), run on matgl 4.x with destination-mean aggregation",
        property=spec.property,
        unit=prop.unit,
        input="structure",
        training_data=spec.training_data,
        size=f"{n_params:,} parameters",
        val_mae=spec.val_mae,
        licence="BSD-3-Clause",
        reference=spec.reference,
        notes=" ".join(notes),
        extra={"verified": spec.verified, "cutoff": float(net.cutoff),
               "fidelity": fidelity if spec.property == "band_gap" else None},
    )


def load_megnet(property: str = "formation_energy", *, fidelity: str = "pbe", download: bool = True,
                allow_unverified: bool = False, aggregation: str = "destination") -> MEGNetModel:
    """Load a published MEGNet model as a :class:`MEGNetModel`.

    Parameters
    ----------
    property : {"formation_energy", "band_gap"}
        Formation energy per atom (eV/atom) or band gap (eV).
    fidelity : {"pbe", "gllb-sc", "hse", "scan"}
        Band-gap fidelity (state of the multi-fidelity model); ignored for formation energy.
    download : bool
        Fetch missing weights from matgl's GitHub (else raise).
    allow_unverified : bool
        Load a model that failed matfold's verification (the band-gap model).
    aggregation : {"destination", "source"}
        See :func:`load_megnet_network`; "source" reproduces matgl 4.1's wrong numbers.

    Raises
    ------
    MatfoldInputError
        Unknown property or fidelity, or an unverified model without ``allow_unverified``.
    MatfoldDependencyError
        Weights missing and not downloadable, or torch / torch_geometric / matgl not installed.
    """
    spec = _spec(property)
    fid = fidelity.lower()
    if fid not in FIDELITIES:
        raise MatfoldInputError(f"unknown band-gap fidelity {fidelity!r}; choose one of {list(FIDELITIES)}")
    if not spec.verified and not allow_unverified:
        raise MatfoldInputError(
            f"{spec.name} failed matfold's verification (MgO PBE gap 0.31 eV against Materials "
            "Project's 4.44 eV, BaTiO3 0.01 against 1.67); pass allow_unverified=True to load it anyway"
        )
    net, mean, std = load_megnet_network(spec.property, aggregation=aggregation, download=download)
    return MEGNetModel(net, mean, std, spec, _card(spec, net, fid), fidelity=fid)
