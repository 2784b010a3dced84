"""Exports: annotated PDB / mmCIF, PyMOL scripts, pLDDT and PAE figures."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import MatfoldInputError

__all__ = ["write_structure", "read_annotations", "pymol_script", "plot_plddt", "plot_pae", "PLDDT_BANDS"]

#: AlphaFold confidence bands: (lower bound, colour, label).
PLDDT_BANDS = ((90, "#0053d6", "very high"), (70, "#65cbf3", "confident"), (50, "#ffdb13", "low"),
               (0, "#ff7d45", "very low"))


def _check(annotations):
    rows = []
    for a in annotations or []:
        try:
            rows.append((str(a["chain"]), int(a["resi"]), str(a["label"]).replace("\n", " ")))
        except (KeyError, TypeError, ValueError):
            raise MatfoldInputError(f"annotation {a!r} needs chain, resi (a number) and label") from None
    return rows


def write_structure(atoms, path, annotations=None) -> Path:
    """Write ``.pdb`` or ``.cif`` with residue annotations kept in the file.

    PDB: ``REMARK 999 MATFOLD <chain> <resi> <label>`` lines. mmCIF: a
    ``_matfold_annotation`` category (chain, residue, label).
    """
    path = Path(path)
    rows = _check(annotations)
    if path.suffix.lower() in (".cif", ".mmcif"):
        from biotite.structure.io.pdbx import CIFCategory, CIFFile, set_structure

        cif = CIFFile()
        set_structure(cif, atoms)
        if rows:
            block = next(iter(cif.values()))
            block["matfold_annotation"] = CIFCategory({
                "chain": [r[0] for r in rows], "residue": [str(r[1]) for r in rows], "label": [r[2] for r in rows]})
        cif.write(str(path))
        return path
    from biotite.structure.io.pdb import PDBFile

    out = PDBFile()
    out.set_structure(atoms)
    buffer = io.StringIO()
    out.write(buffer)
    remarks = [f"REMARK 999 MATFOLD {c} {r} {label}"[:80] for c, r, label in rows]
    path.write_text("\n".join(remarks + [buffer.getvalue()]) if remarks else buffer.getvalue())
    return path


def read_annotations(path) -> list[dict]:
    """The annotations :func:`write_structure` stored, from a PDB or mmCIF file."""
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() in (".cif", ".mmcif"):
        from biotite.structure.io.pdbx import CIFFile

        block = next(iter(CIFFile.read(str(path)).values()))
        if "matfold_annotation" not in block:
            return []
        cat = block["matfold_annotation"]
        return [{"chain": c, "resi": int(r), "label": lab} for c, r, lab in
                zip(cat["chain"].as_array(str), cat["residue"].as_array(str), cat["label"].as_array(str))]
    out = []
    for line in text.splitlines():
        if line.startswith("REMARK 999 MATFOLD "):
            chain, resi, label = line[19:].split(" ", 2)
            out.append({"chain": chain, "resi": int(resi), "label": label})
    return out


def pymol_script(structure_path, *, color_by: str = "plddt", selections=None, annotations=None) -> str:
    """A PyMOL ``.pml`` script reproducing the matfold view of a structure file.

    Parameters
    ----------
    color_by : {"plddt", "chain", "secondary-structure"}
    selections : list of (chain, resi)
        Shown as sticks, named ``matfold_sel``.
    annotations : list of {"chain", "resi", "label"}
        Labelled at the residue's Cα.
    """
    name = Path(structure_path).stem
    lines = [f"load {Path(structure_path).as_posix()}, {name}", "hide everything", "show cartoon",
             "set cartoon_transparency, 0", "bg_color white"]
    if color_by == "plddt":
        for lo, color, label in PLDDT_BANDS:
            hi = {90: 101, 70: 90, 50: 70, 0: 50}[lo]
            lines.append(f"set_color plddt_{label.replace(' ', '_')}, [{', '.join(str(int(color[i:i + 2], 16) / 255)[:5] for i in (1, 3, 5))}]")
            lines.append(f"color plddt_{label.replace(' ', '_')}, {name} and b > {lo - 0.01} and b < {hi}")
    elif color_by == "chain":
        lines.append(f"util.cbc {name}")
    elif color_by == "secondary-structure":
        lines += [f"color grey70, {name}", f"color red, {name} and ss h", f"color yellow, {name} and ss s"]
    else:
        raise MatfoldInputError(f"color_by {color_by!r}: use plddt, chain or secondary-structure")
    if selections:
        sel = " or ".join(f"(chain {c} and resi {r})" for c, r in selections)
        lines += [f"select matfold_sel, {name} and ({sel})", "show sticks, matfold_sel"]
    for chain, resi, label in _check(annotations):
        safe = label.replace('"', "'")
        lines.append(f'label {name} and chain {chain} and resi {resi} and name CA, "{safe}"')
    lines += [f"orient {name}", "deselect"]
    return "\n".join(lines) + "\n"


def plot_plddt(plddt, residues=None, *, ax=None, title: str = "pLDDT"):
    """Per-residue pLDDT with the AlphaFold bands shaded; returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    plddt = np.asarray(plddt, dtype=float)
    x = np.arange(1, len(plddt) + 1) if residues is None else np.asarray(residues)
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(8, 2.6))
    for lo, color, label in PLDDT_BANDS:
        hi = {90: 100, 70: 90, 50: 70, 0: 50}[lo]
        ax.axhspan(lo, hi, color=color, alpha=0.15, lw=0)
    ax.plot(x, plddt, color="#222222", lw=1.2)
    ax.set_ylim(0, 100)
    ax.set_xlabel("residue")
    ax.set_ylabel("pLDDT")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_pae(pae, *, ax=None, title: str = "Predicted aligned error"):
    """The PAE matrix (Å) as a heat map; returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    pae = np.asarray(pae, dtype=float)
    if pae.ndim != 2 or pae.shape[0] != pae.shape[1]:
        raise MatfoldInputError(f"PAE must be a square matrix, got shape {pae.shape}")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4.2, 3.6))
    image = ax.imshow(pae, cmap="Greens_r", vmin=0, vmax=max(30.0, float(np.nanmax(pae))))
    fig.colorbar(image, ax=ax, label="expected position error (Å)")
    ax.set_xlabel("scored residue")
    ax.set_ylabel("aligned residue")
    ax.set_title(title)
    fig.tight_layout()
    return fig
