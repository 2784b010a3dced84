"""Solvent accessibility and secondary structure, per residue."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ResidueProperties", "residue_properties", "MAX_ASA"]

#: Maximum accessible surface area of each residue type in Å² (Tien et al. 2013,
#: theoretical), for relative SASA.
MAX_ASA = {"ALA": 129.0, "ARG": 274.0, "ASN": 195.0, "ASP": 193.0, "CYS": 167.0, "GLN": 225.0, "GLU": 223.0,
           "GLY": 104.0, "HIS": 224.0, "ILE": 197.0, "LEU": 201.0, "LYS": 236.0, "MET": 224.0, "PHE": 240.0,
           "PRO": 159.0, "SER": 155.0, "THR": 172.0, "TRP": 285.0, "TYR": 263.0, "VAL": 174.0}


@dataclass(frozen=True)
class ResidueProperties:
    """Per-residue arrays of one structure's amino acids (all of length n_residues).

    Attributes
    ----------
    chain, res_id, res_name : ndarray
    sasa : ndarray
        Solvent accessible surface area, Å² (Shrake-Rupley, probe 1.4 Å).
    relative_sasa : ndarray
        `sasa` over the residue type's maximum (0-1+; NaN for unknown types).
    secondary_structure : ndarray of str
        ``"a"`` helix, ``"b"`` strand, ``"c"`` coil (P-SEA, from Cα geometry).
    """

    chain: np.ndarray
    res_id: np.ndarray
    res_name: np.ndarray
    sasa: np.ndarray = field(repr=False)
    relative_sasa: np.ndarray = field(repr=False)
    secondary_structure: np.ndarray = field(repr=False)

    def buried(self, threshold: float = 0.2) -> np.ndarray:
        """True where less than `threshold` of the residue's surface is exposed."""
        return self.relative_sasa < threshold


def residue_properties(atoms) -> ResidueProperties:
    """SASA (absolute and relative) and secondary structure of each amino-acid residue."""
    import biotite.structure as struc

    protein = atoms[struc.filter_amino_acids(atoms) & (atoms.element != "H")]
    atom_sasa = struc.sasa(protein, vdw_radii="ProtOr")
    res_sasa = struc.apply_residue_wise(protein, np.nan_to_num(atom_sasa), np.nansum)
    starts = struc.get_residue_starts(protein)
    names = protein.res_name[starts]
    max_asa = np.array([MAX_ASA.get(n, np.nan) for n in names])
    sse = np.concatenate([struc.annotate_sse(protein[protein.chain_id == c])
                          for c in dict.fromkeys(protein.chain_id[starts].tolist())])
    return ResidueProperties(chain=protein.chain_id[starts], res_id=protein.res_id[starts], res_name=names,
                             sasa=res_sasa, relative_sasa=res_sasa / max_asa, secondary_structure=sse)
