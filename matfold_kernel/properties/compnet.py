"""The composition model: attention over the elements of a formula.

A formula is a set of (element, fraction) pairs. Each element starts from a learned
embedding plus a projection of its tabulated properties (:mod:`.elements`); its
fraction is added as Fourier features of the fraction and of its logarithm (as in
CrabNet, Wang et al., npj Comput. Mater. 7, 77 (2021)). Transformer layers let the
elements attend to each other; a fraction-aware attention pool (as in Roost,
Goodall & Lee, Nat. Commun. 11, 6280 (2020)) gives one vector per formula, and a
small network returns the mean and the log of a Laplace scale (aleatoric
uncertainty) of the standardised target.

With ``cell_size`` the network also reads how many atoms the formula has as written
(``"Cl4Hg4N4"``: 12, ``"HgNCl"``: 3). The task formulas are those of the computed
unit cells, and the cell is a hint of the polymorph: the small cells of the Materials
Project data are mostly hypothetical prototypes, far less stable than large cells of
the same elements. Such a network takes the amounts as written in place of the fractions
(``encode_compositions(..., amounts=True)``) and normalises them itself.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping

import numpy as np

from .composition import ELEMENTS, MAX_Z, amounts as amounts_of, fractions
from .elements import element_embedding, element_table

__all__ = ["CompNetConfig", "CompNet", "encode_compositions", "MAX_ELEMENTS"]

#: Formulas with more distinct elements than this are refused.
MAX_ELEMENTS = 12
_INDEX = {s: i + 1 for i, s in enumerate(ELEMENTS)}  # 0 is padding


@dataclass
class CompNetConfig:
    """Size of a :class:`CompNet`; stored beside the weights."""

    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    d_ff: int = 256
    dropout: float = 0.1
    n_fourier: int = 16
    #: read the number of atoms of the formula as written (see the module docstring)
    cell_size: bool = False
    #: the network predicts the formation energy *above* the hull of the training phases, which
    #: the ensemble adds back (:mod:`.formation_hull`); the network itself is the same
    hull_offset: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def encode_compositions(compositions: Iterable[Mapping[str, float] | str],
                        amounts: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Element indices (1..94, 0 = padding) and fractions, both of shape (n, L), L ≤ MAX_ELEMENTS.

    With ``amounts`` the second array holds the amounts as written (atoms per formula)
    instead of fractions: the input of a ``cell_size`` network. Elements are in order of
    falling amount either way.
    """
    read = amounts_of if amounts else fractions
    rows = [sorted(read(c).items(), key=lambda kv: -kv[1]) for c in compositions]
    width = max((len(r) for r in rows), default=1)
    idx = np.zeros((len(rows), width), dtype=np.int64)
    frac = np.zeros((len(rows), width), dtype=np.float32)
    for i, row in enumerate(rows):
        for j, (sym, f) in enumerate(row):
            idx[i, j] = _INDEX[sym]
            frac[i, j] = f
    return idx, frac


def _torch():
    import torch

    return torch


def CompNet(config: CompNetConfig | None = None):  # noqa: N802 - a factory that reads like a class
    """Build the composition network (a ``torch.nn.Module``) for ``config``."""
    torch = _torch()
    nn = torch.nn
    cfg = config or CompNetConfig()

    table = element_table().astype(np.float32)
    mu, sd = table.mean(axis=0), table.std(axis=0) + 1e-6
    table = (table - mu) / sd
    table = np.concatenate([table, element_embedding()], axis=1)
    table = np.concatenate([np.zeros((1, table.shape[1]), np.float32), table])  # padding row

    class _CompNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = cfg
            d = cfg.d_model
            self.register_buffer("element_properties", torch.from_numpy(table), persistent=False)
            self.register_buffer(
                "freqs", torch.pi * 2.0 ** torch.linspace(0, 6, cfg.n_fourier), persistent=False
            )
            self.embed = nn.Embedding(MAX_Z + 1, d, padding_idx=0)
            self.project = nn.Linear(table.shape[1], d)
            self.frac_encode = nn.Sequential(nn.Linear(4 * cfg.n_fourier + 2, d), nn.SiLU(), nn.Linear(d, d))
            if cfg.cell_size:
                self.cell_encode = nn.Sequential(nn.Linear(2 * cfg.n_fourier + 1, d), nn.SiLU(), nn.Linear(d, d))
            layer = nn.TransformerEncoderLayer(
                d, cfg.n_heads, cfg.d_ff, cfg.dropout, activation="gelu", batch_first=True, norm_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d)
            self.gate = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, 1))
            self.head = nn.Sequential(nn.Linear(d, 2 * d), nn.SiLU(), nn.Dropout(cfg.dropout),
                                      nn.Linear(2 * d, d), nn.SiLU(), nn.Linear(d, 2))

        def forward(self, idx, frac):
            """idx: (B, L) int64 element indices; frac: (B, L) float32 fractions → (B, 2): mean, log scale.

            A ``cell_size`` network takes the amounts (atoms per formula) as ``frac``.
            """
            mask = idx == 0
            x = self.embed(idx) + self.project(self.element_properties[idx])
            if cfg.cell_size:
                atoms = frac.sum(dim=-1, keepdim=True)  # (B, 1)
                frac = frac / atoms
                cell = torch.log(atoms.clamp(1.0, 1000.0)) / math.log(1000.0)  # 0..1
                ang = cell * self.freqs
                x = x + self.cell_encode(torch.cat([torch.sin(ang), torch.cos(ang), cell], dim=-1)).unsqueeze(1)
            f = frac.unsqueeze(-1)
            logf = torch.log(f.clamp_min(1e-6)) / math.log(1e-6) # 0..1
            ang = torch.cat([f * self.freqs, logf * self.freqs], dim=-1)
            x = x + self.frac_encode(torch.cat([torch.sin(ang), torch.cos(ang), f, logf], dim=-1))
            x = self.norm(self.encoder(x, src_key_padding_mask=mask))
            logits = self.gate(x).squeeze(-1) + torch.log(frac.clamp_min(1e-6))
            logits = logits.masked_fill(mask, -1e9)
            weights = torch.softmax(logits, dim=-1).unsqueeze(-1)
            pooled = (weights * x).sum(dim=1)
            return self.head(pooled)

    return _CompNet()
