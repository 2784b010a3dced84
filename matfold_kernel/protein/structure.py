"""Protein structures from PDB and mmCIF files, as biotite ``AtomArray`` objects."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import MatfoldInputError
from ..textsource import read_text_source

__all__ = ["ChainInfo", "ProteinInfo", "read_protein", "protein_info", "chain_sequence", "guess_protein_format"]


def guess_protein_format(text: str, name: str = "") -> str | None:
    """``"pdb"``, ``"mmcif"``, ``"fasta"`` or None (not a protein file)."""
    base = Path(name).name.lower() if name and not name.startswith("<") else ""
    head = text.lstrip()[:20000]
    if head.startswith(">") or base.endswith((".fasta", ".fa", ".faa", ".fas")):
        return "fasta"
    if re.search(r"^_atom_site\.", text, re.M) or base.endswith((".mmcif", ".bcif")):
        return "mmcif"
    if base.endswith((".pdb", ".ent")) or re.search(r"^(ATOM  |HETATM|HEADER|CRYST1|MODEL )", head, re.M):
        return "pdb"
    return None


def read_protein(source, format: str | None = None, *, name: str | None = None, model: int = 1):
    """Read a PDB or mmCIF file into a biotite ``AtomArray`` (one model).

    Parameters
    ----------
    source : str, os.PathLike or bytes
        Path, file text (with a newline) or bytes.
    format : {"pdb", "mmcif"}, optional
        Skip detection.
    model : int
        Model number (1-based) for multi-model files (NMR).

    Returns
    -------
    biotite.structure.AtomArray
        Coordinates in Å; ``b_factor`` is kept (pLDDT for predicted models).
    """
    src = read_text_source(source, name=name)
    fmt = format or guess_protein_format(src.text, src.name)
    if fmt not in ("pdb", "mmcif"):
        raise MatfoldInputError("is not a PDB or mmCIF file (no ATOM records or _atom_site loop)", src.name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt == "pdb":
                from biotite.structure.io.pdb import PDBFile

                pdb_file = PDBFile.read(io.StringIO(src.text))
                n_models = pdb_file.get_model_count()
                if n_models == 0:
                    raise MatfoldInputError("contains no atoms (no ATOM or HETATM records)", src.name)
                if not 1 <= model <= n_models:
                    raise MatfoldInputError(f"has {n_models} model(s); model {model} does not exist", src.name)
                atoms = pdb_file.get_structure(model=model, extra_fields=["b_factor", "occupancy"])
            else:
                from biotite.structure.io.pdbx import CIFFile, get_structure

                atoms = get_structure(CIFFile.read(io.StringIO(src.text)), model=model,
                                      extra_fields=["b_factor", "occupancy"])
    except MatfoldInputError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise MatfoldInputError(f"is not a readable {fmt.upper()} file ({reason})", src.name) from None
    if len(atoms) == 0:
        raise MatfoldInputError("contains no atoms", src.name)
    if not np.all(np.isfinite(atoms.coord)):
        raise MatfoldInputError("has atoms with NaN or infinite coordinates", src.name)
    return atoms


def chain_sequence(atoms, chain_id: str) -> str:
    """One-letter sequence of the amino-acid residues of a chain (X for unknown ones)."""
    import biotite.structure as struc
    from biotite.sequence import ProteinSequence

    chain = atoms[(atoms.chain_id == chain_id) & struc.filter_amino_acids(atoms)]
    _, names = struc.get_residues(chain)
    letters = []
    for res in names:
        try:
            letters.append(ProteinSequence.convert_letter_3to1(res))
        except KeyError:
            letters.append("X")
    return "".join(letters)


@dataclass(frozen=True)
class ChainInfo:
    id: str
    length: int
    sequence: str


@dataclass(frozen=True)
class ProteinInfo:
    """Chains of a structure (protein chains only: waters and ligands are left out)."""

    chains: list
    natoms: int

    def to_dict(self) -> dict:
        return {"chains": [asdict(c) for c in self.chains], "natoms": self.natoms}


def protein_info(atoms) -> ProteinInfo:
    """Chain ids, lengths (residues) and sequences of the protein chains."""
    chains = []
    for chain_id in dict.fromkeys(atoms.chain_id.tolist()):
        seq = chain_sequence(atoms, chain_id)
        if seq:
            chains.append(ChainInfo(chain_id, len(seq), seq))
    return ProteinInfo(chains=chains, natoms=int(len(atoms)))
