"""Binding pockets with druggability scores (fpocket algorithm, through fpocket-rs).

`fpocket-rs <https://pypi.org/project/fpocket-rs/>`_ (MIT) is a Rust port of fpocket
(Le Guilloux, Schmidtke & Tuffery, BMC Bioinformatics 2009): alpha spheres from a
Voronoi tessellation of the heavy atoms, clustered into pockets, ranked by fpocket's
pocket score, with a druggability score in [0, 1]. It ships as a wheel (no qhull, no
conda) and reads PDB text, so structures are written to PDB in memory first: mmCIF
input and AtomArrays work the same way, and only the chosen model is searched.

What to expect (measured on fpocket's own examples 1UYD, 3LKF, 7TAA against fpocket
4's output, see ``tests/test_pockets.py``):

* the top-ranked pocket is the same pocket as fpocket's (same lining residues by
  their polarity, charge and hydrophobicity scores; alpha spheres and volume within
  15 %), and 72-83 % of fpocket's pockets are found, though below rank 1 they are
  ranked differently;
* ``drug_score`` and ``score`` are *not* fpocket 4's numbers: fpocket-rs 0.1 computes
  the pocket surfaces differently and gives lower druggability to large pockets (1UYD's
  ATP site: 0.18 against fpocket's 0.86). Compare scores between pockets found by
  this function, not with published fpocket values;
* pocket volumes are Monte-Carlo estimates that change from call to call (about 1 %),
  and ``score`` with them (a few hundredths), so pockets with nearly equal scores can
  swap ranks between calls; residues, centres and drug scores do not change;
* HETATM ligands in the input change the ranking: a bound ligand covers its pocket's
  surface, which raises the pocket's score (1UYD's ATP site is pocket 1 of 14 with its
  ligand PU8, as fpocket also ranks it, and pocket 14 of 14 without). Pass an
  AtomArray without the ligand (e.g. ``atoms[~atoms.hetero]``) for an apo search.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import MatfoldDependencyError, MatfoldInputError
from .structure import read_protein

__all__ = ["Pocket", "find_pockets", "ligand_atoms", "ligand_pocket_rank"]

_INSTALL_HINT = "pocket detection needs fpocket-rs; install it with `pip install fpocket-rs`"


@dataclass(frozen=True)
class Pocket:
    """One pocket found by fpocket.

    Attributes
    ----------
    rank : int
        1 = best fpocket score in the structure. Ranks are those of the full search:
        filtering with ``min_drug_score`` does not renumber them.
    score : float
        fpocket pocket score (unitless; higher is a more likely binding site).
    drug_score : float
        Druggability, 0-1 (above 0.5: druggable).
    volume : float
        Pocket volume, Å³ (Monte-Carlo estimate).
    center : tuple of float
        (x, y, z) of the mean of the pocket's alpha-sphere centres, Å.
    residues : list of (str, int)
        Residues lining the pocket as (chain, residue number), sorted.
    n_alpha_spheres : int
        Number of alpha spheres in the pocket.
    descriptors : dict
        The other fpocket descriptors (hydrophobicity_score, polarity_score,
        charge_score, alpha_sphere_density, ...), as fpocket-rs names them.
    """

    rank: int
    score: float
    drug_score: float
    volume: float
    center: tuple
    residues: list
    n_alpha_spheres: int = 0
    descriptors: dict = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict:
        """JSON-ready (the ``matfold pockets --json`` keys)."""
        return {
            "rank": self.rank, "score": round(self.score, 4), "drug_score": round(self.drug_score, 4),
            "volume": round(self.volume, 2), "center": [round(c, 3) for c in self.center],
            "residues": [[chain, number] for chain, number in self.residues],
        }


def _fpocket():
    try:
        import fpocket_rs
    except ImportError:
        raise MatfoldDependencyError(_INSTALL_HINT) from None
    return fpocket_rs


def _atoms_and_name(source, name: str | None = None):
    """(AtomArray, label for messages) from an AtomArray or anything `read_protein` reads."""
    import biotite.structure as struc

    if isinstance(source, struc.AtomArrayStack):
        raise MatfoldInputError("got an AtomArrayStack (several models); pass one model, e.g. stack[0]",
                                name or "<atoms>")
    if isinstance(source, struc.AtomArray):
        if len(source) == 0:
            raise MatfoldInputError("contains no atoms", name or "<atoms>")
        return source, name or "<atoms>"

    if name:
        label = name
    elif isinstance(source, (bytes, bytearray, memoryview)):
        label = "<bytes>"
    elif isinstance(source, str) and ("\n" in source or "\r" in source):
        label = "<text>"
    elif isinstance(source, (str, os.PathLike)):
        label = str(source)
    else:
        label = getattr(source, "name", None) or "<stream>"
    return read_protein(source, name=name), str(label)


def _pdb_text(atoms, label: str) -> str:
    import biotite.structure as struc
    from biotite.structure.io.pdb import PDBFile

    pdb = PDBFile()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pdb.set_structure(atoms)
    except struc.BadStructureError as exc:
        raise MatfoldInputError(f"cannot be written as PDB for fpocket ({exc}); "
                                "rename long chain IDs to one character", label) from None
    out = io.StringIO()
    pdb.write(out)
    return out.getvalue()


def find_pockets(source_or_atoms, *, min_drug_score: float | None = None,
                 max_pockets: int | None = None) -> list[Pocket]:
    """Find binding pockets with fpocket (fpocket-rs) and rank them.

    Parameters
    ----------
    source_or_atoms : str, os.PathLike, bytes or biotite.structure.AtomArray
        A PDB or mmCIF file (path, text or bytes; model 1 is used) or one model as an
        AtomArray. Waters are ignored by fpocket; other HETATM residues are kept
        in the input, as fpocket does.
    min_drug_score : float, optional
        Keep only pockets with ``drug_score`` >= this (0-1).
    max_pockets : int, optional
        Keep at most this many pockets (the best ranked, after ``min_drug_score``).

    Returns
    -------
    list of Pocket
        Best first (rank 1 = highest fpocket score); empty if there is none.

    Raises
    ------
    MatfoldInputError
        Unreadable input, no protein atoms, or an out-of-range option.
    MatfoldDependencyError
        fpocket-rs is not installed.
    """
    import biotite.structure as struc

    if min_drug_score is not None and not (0.0 <= float(min_drug_score) <= 1.0):
        raise MatfoldInputError(f"min_drug_score={min_drug_score!r} is outside 0-1; give a druggability "
                                "threshold such as 0.5")
    if max_pockets is not None and (isinstance(max_pockets, bool) or int(max_pockets) != max_pockets
                                    or max_pockets < 1):
        raise MatfoldInputError(f"max_pockets={max_pockets!r} must be a positive integer (or None for all)")
    atoms, label = _atoms_and_name(source_or_atoms)
    if not np.any(struc.filter_amino_acids(atoms)):
        names = ", ".join(sorted(set(atoms.res_name.tolist()))[:8])
        raise MatfoldInputError(f"has no protein atoms (residues here: {names}); pockets are searched "
                                "on protein structures", label)
    if not np.all(np.isfinite(atoms.coord)):
        raise MatfoldInputError("has atoms with NaN or infinite coordinates", label)
    fpocket_rs = _fpocket()
    text = _pdb_text(atoms, label)
    try:
        result = fpocket_rs.detect_pockets(text)
    except (ValueError, RuntimeError, TypeError) as exc:  # what fpocket-rs raises on input it cannot use
        raise MatfoldInputError(f"fpocket-rs could not search this structure ({exc})", label) from None

    pockets = []
    for raw in sorted(result.get("pockets", []), key=lambda p: p["rank"]):
        drug = min(max(float(raw["drug_score"]), 0.0), 1.0)
        if min_drug_score is not None and drug < min_drug_score:
            continue
        spheres = np.asarray(raw.get("alpha_spheres") or [], dtype=float).reshape(-1, 4)
        center = tuple(float(c) for c in spheres[:, :3].mean(axis=0)) if len(spheres) else (np.nan,) * 3
        residues = sorted({(str(chain), int(number)) for chain, number in raw["residues"]})
        descriptors = {k: v for k, v in raw.items()
                       if k not in ("pocket_id", "rank", "score", "drug_score", "volume", "residues",
                                    "alpha_spheres", "n_alpha_spheres")}
        pockets.append(Pocket(rank=int(raw["rank"]), score=float(raw["score"]), drug_score=drug,
                              volume=float(raw["volume"]), center=center, residues=residues,
                              n_alpha_spheres=int(raw.get("n_alpha_spheres", len(spheres))),
                              descriptors=descriptors))
        if max_pockets is not None and len(pockets) >= max_pockets:
            break
    return pockets


def ligand_atoms(atoms, ligand_resname: str | None = None):
    """Heavy atoms of the bound ligand(s) of `atoms` (an AtomArray).

    Parameters
    ----------
    ligand_resname : str, optional
        Residue name of the ligand (e.g. ``"PU8"``). By default every HETATM residue
        except waters, polymer residues written as HETATM (MSE, modified
        nucleotides) and single-atom ions (CA, ZN, NA...): name an ion here to use it.

    Returns
    -------
    biotite.structure.AtomArray
        Possibly empty.
    """
    import biotite.structure as struc

    heavy = ~np.isin(np.char.upper(atoms.element.astype(str)), ["H", "D"])
    if ligand_resname is not None:
        mask = (atoms.res_name == ligand_resname.strip().upper()) & ~struc.filter_solvent(atoms)
    else:
        mask = (atoms.hetero & ~struc.filter_solvent(atoms) & ~struc.filter_amino_acids(atoms)
                & ~struc.filter_nucleotides(atoms) & ~struc.filter_monoatomic_ions(atoms))
    return atoms[mask & heavy]


def ligand_pocket_rank(atoms, pockets, ligand_resname: str | None = None, cutoff: float = 4.0) -> int | None:
    """Rank of the best pocket that touches the bound ligand, or None if none does.

    A pocket touches the ligand when a ligand heavy atom is within `cutoff` Å of an
    atom of one of the pocket's residues. Used to check that a known ligand sits in a
    top-ranked pocket (rank 1 = the best pocket).

    Parameters
    ----------
    atoms : biotite.structure.AtomArray or path
        The structure the pockets were found in, with its ligand.
    pockets : list of Pocket
        From :func:`find_pockets`.
    ligand_resname : str, optional
        Which HETATM residue is the ligand; see :func:`ligand_atoms` for the default.
    cutoff : float
        Contact distance, Å.

    Raises
    ------
    MatfoldInputError
        The structure has no such ligand.
    """
    atoms, label = _atoms_and_name(atoms)
    ligand = ligand_atoms(atoms, ligand_resname)
    if len(ligand) == 0:
        het = sorted(set(atoms.res_name[atoms.hetero].tolist()) - {"HOH", "WAT", "DOD"})
        what = f"no residue named {ligand_resname!r}" if ligand_resname else "no ligand (non-water HETATM residue)"
        raise MatfoldInputError(f"has {what}; HETATM residues here: {', '.join(het) or 'none'}", label)
    if cutoff <= 0:
        raise MatfoldInputError(f"cutoff={cutoff!r} Å must be positive")
    keys = list(zip(atoms.chain_id.tolist(), atoms.res_id.tolist()))
    by_residue: dict = {}
    for index, key in enumerate(keys):
        by_residue.setdefault(key, []).append(index)
    ligand_keys = set(zip(ligand.chain_id.tolist(), ligand.res_id.tolist()))
    for pocket in sorted(pockets, key=lambda p: p.rank):
        indices = [i for res in pocket.residues if tuple(res) not in ligand_keys
                   for i in by_residue.get(tuple(res), ())]
        if not indices:
            continue
        diff = atoms.coord[indices][:, None, :] - ligand.coord[None, :, :]
        if np.min(np.einsum("ijk,ijk->ij", diff, diff)) <= cutoff**2:
            return pocket.rank
    return None
