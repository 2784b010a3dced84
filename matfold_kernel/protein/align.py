"""Structural alignment with TM-align semantics (biotite, BSD-3).

biotite's ``superimpose_structural_homologs`` finds the residue correspondence and
superposition; ``tm_score`` scores it normalised by either chain's length. The
project is BSD-licensed, so the GPL TM-align wrapper (tmtools) is not used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import MatfoldInputError

__all__ = ["Alignment", "align_structures"]


@dataclass(frozen=True)
class Alignment:
    """Result of aligning chain 2 (mobile) onto chain 1 (fixed).

    Attributes
    ----------
    tm_score_1, tm_score_2 : float
        TM-score normalised by the length of chain 1 / chain 2 (0-1).
    rmsd : float
        RMSD of the aligned Cα pairs after superposition, Å.
    aligned_length : int
        Number of aligned residue pairs.
    rotation : ndarray, shape=(3, 3)
        Applied to chain 2's coordinates (``x @ rotation.T + translation``).
    translation : ndarray, shape=(3,)
        Å.
    pairs : list of ((str, int), (str, int))
        Aligned residues as (chain, residue number) of chain 1 and chain 2.
    distances : ndarray, shape=(aligned_length,)
        Cα-Cα distance of each pair after superposition, Å.
    """

    tm_score_1: float
    tm_score_2: float
    rmsd: float
    aligned_length: int
    rotation: np.ndarray = field(repr=False)
    translation: np.ndarray = field(repr=False)
    pairs: list = field(repr=False)
    distances: np.ndarray = field(repr=False)
    superposed: object = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """JSON-ready (the ``matfold align --json`` keys)."""
        return {
            "tm_score_1": round(self.tm_score_1, 4), "tm_score_2": round(self.tm_score_2, 4),
            "rmsd": round(self.rmsd, 3), "aligned_length": self.aligned_length,
            "rotation": np.round(self.rotation, 6).tolist(), "translation": np.round(self.translation, 4).tolist(),
            "pairs": [[list(a), list(b)] for a, b in self.pairs],
            "distances": np.round(self.distances, 3).tolist(),
        }


def _ca(atoms, chain: str | None, label: str):
    import biotite.structure as struc

    protein = atoms[struc.filter_amino_acids(atoms) & (atoms.atom_name == "CA")]
    if chain is None:
        chains = list(dict.fromkeys(protein.chain_id.tolist()))
        if not chains:
            raise MatfoldInputError("has no protein Cα atoms", label)
        chain = chains[0]
    selected = protein[protein.chain_id == chain]
    if len(selected) < 5:
        available = ", ".join(dict.fromkeys(protein.chain_id.tolist())) or "none"
        raise MatfoldInputError(
            f"chain {chain!r} has {len(selected)} Cα atoms (need at least 5); protein chains here: {available}",
            label)
    # one Cα per residue (alternate locations were already reduced by the reader)
    return selected


def align_structures(fixed, mobile, chain1: str | None = None, chain2: str | None = None, *,
                     names=("structure 1", "structure 2")) -> Alignment:
    """Align `mobile` (chain2) onto `fixed` (chain1); both biotite AtomArrays.

    Chains default to the first protein chain of each structure.
    """
    import biotite.structure as struc

    a = _ca(fixed, chain1, names[0])
    b = _ca(mobile, chain2, names[1])
    fitted, transform, ia, ib = struc.superimpose_structural_homologs(a, b, max_iterations=1)
    if len(ia) < 3:
        raise MatfoldInputError(f"{names[0]} and {names[1]} share too little structure to align "
                                f"({len(ia)} residue pairs)")
    tm1 = float(struc.tm_score(a, fitted, ia, ib, reference_length="reference"))
    tm2 = float(struc.tm_score(a, fitted, ia, ib, reference_length=len(b)))
    distances = np.linalg.norm(a.coord[ia] - fitted.coord[ib], axis=1)
    matrix = transform.as_matrix()[0] if hasattr(transform, "as_matrix") else None
    rotation, translation = (matrix[:3, :3], matrix[:3, 3]) if matrix is not None else (np.eye(3), np.zeros(3))
    pairs = [((str(a.chain_id[i]), int(a.res_id[i])), (str(b.chain_id[j]), int(b.res_id[j]))) for i, j in zip(ia, ib)]
    superposed = transform.apply(mobile)
    return Alignment(tm1, tm2, float(np.sqrt(np.mean(distances**2))), int(len(ia)), rotation, translation, pairs,
                     distances, superposed)
