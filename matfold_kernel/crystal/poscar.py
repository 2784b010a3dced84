"""A strict VASP POSCAR/CONTCAR reader with line-numbered errors.

pymatgen's reader is forgiving in ways that hide mistakes (a short atom list raises
``IndexError``); this one checks each line and says which one is wrong.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import MatfoldInputError
from .validate import check_elements

__all__ = ["parse_poscar"]


def _floats(line: str, count: int, what: str, lineno: int, name: str) -> list[float]:
    parts = line.split()
    if len(parts) < count:
        raise MatfoldInputError(
            f"line {lineno}: expected {count} numbers for the {what}, found {len(parts)} "
            f"({line.strip()!r})",
            name,
        )
    values = []
    for part in parts[:count]:
        try:
            value = float(part.replace("D", "E").replace("d", "e"))
        except ValueError:
            raise MatfoldInputError(
                f"line {lineno}: {part!r} in the {what} is not a number", name
            ) from None
        if not math.isfinite(value):
            raise MatfoldInputError(f"line {lineno}: the {what} contains {part!r}", name)
        values.append(value)
    return values


def _is_int_line(line: str) -> bool:
    parts = line.split()
    return bool(parts) and all(p.isdigit() for p in parts)


def parse_poscar(text: str, name: str = "<text>"):
    """Parse POSCAR/CONTCAR text into a pymatgen ``Structure``.

    Parameters
    ----------
    text : str
        File content (VASP 4 or 5 layout; selective dynamics allowed).
    name : str
        Used in error messages.

    Returns
    -------
    pymatgen.core.Structure
        Lattice in Å, fractional coordinates.

    Raises
    ------
    MatfoldInputError
        With the line number of the first malformed line.
    """
    from pymatgen.core import Lattice, Structure

    lines = text.split("\n")
    # Trailing blank lines are allowed; blank lines inside the header are not.
    if len(lines) < 8:
        raise MatfoldInputError(
            f"a POSCAR needs at least 8 lines (comment, scale, 3 lattice vectors, symbols or "
            f"counts, coordinate mode, atoms); this one has {len([l for l in lines if l.strip()])}",
            name,
        )
    comment = lines[0].strip()
    scale_parts = lines[1].split()
    if not scale_parts:
        raise MatfoldInputError("line 2: the scale factor is missing", name)
    n_scale = 3 if len(scale_parts) >= 3 and _all_numbers(scale_parts[:3]) else 1
    scale = _floats(lines[1], n_scale, "scale factor", 2, name)
    lattice = np.array(
        [_floats(lines[2 + i], 3, f"lattice vector {i + 1}", 3 + i, name) for i in range(3)]
    )
    with np.errstate(all="ignore"):
        det = float(np.linalg.det(lattice))
    if not np.isfinite(det):
        raise MatfoldInputError("lines 3-5: the lattice vectors are too large to use", name)
    if abs(det) < 1e-6:
        raise MatfoldInputError(
            "lines 3-5: the lattice vectors are linearly dependent (cell volume 0 Å³); "
            "check the cell",
            name,
        )
    if n_scale == 1:
        if scale[0] == 0:
            raise MatfoldInputError("line 2: the scale factor is 0; use 1.0 for Å as written", name)
        # VASP: a negative scale is the target cell volume in Å³
        factor = (abs(scale[0]) / abs(det)) ** (1 / 3) if scale[0] < 0 else scale[0]
        lattice = lattice * factor
        cart_factor = np.full(3, factor)
    else:
        if any(s <= 0 for s in scale):
            raise MatfoldInputError("line 2: per-axis scale factors must be positive", name)
        lattice = lattice * np.array(scale)[None, :]
        cart_factor = np.array(scale)

    idx = 5
    if _is_int_line(lines[idx]):
        symbols = comment.split()
        counts_line = idx
    else:
        symbols = [s.split("/")[0].split("_")[0] for s in lines[idx].split()]
        counts_line = idx + 1
        if counts_line >= len(lines) or not _is_int_line(lines[counts_line]):
            raise MatfoldInputError(
                f"line {counts_line + 1}: expected the number of atoms of each element "
                f"(whole numbers), found {lines[counts_line].strip() if counts_line < len(lines) else 'nothing'!r}",
                name,
            )
    counts = [int(c) for c in lines[counts_line].split()]
    if len(symbols) < len(counts):
        raise MatfoldInputError(
            f"line {counts_line + 1}: {len(counts)} atom counts but "
            f"{len(symbols)} element symbols; add a line of element symbols above the counts",
            name,
        )
    symbols = symbols[: len(counts)]
    natoms = sum(counts)
    if natoms == 0:
        raise MatfoldInputError(f"line {counts_line + 1}: the atom counts add up to 0", name)
    idx = counts_line + 1
    if idx < len(lines) and lines[idx].strip()[:1].lower() == "s":
        idx += 1
    if idx >= len(lines) or not lines[idx].strip():
        raise MatfoldInputError(
            f"line {idx + 1}: expected the coordinate mode ('Direct' or 'Cartesian')", name
        )
    cartesian = lines[idx].strip()[0].lower() in "ck"
    idx += 1
    coords = []
    for i in range(natoms):
        lineno = idx + i + 1
        if idx + i >= len(lines) or not lines[idx + i].strip():
            raise MatfoldInputError(
                f"the counts on line {counts_line + 1} promise {natoms} atoms but only {i} "
                f"coordinate lines follow (line {lineno} is missing or blank)",
                name,
            )
        coords.append(_floats(lines[idx + i], 3, f"coordinates of atom {i + 1}", lineno, name))
    species = [sym for sym, count in zip(symbols, counts) for _ in range(count)]

    check_elements(species, name)
    coords = np.array(coords)
    if cartesian:
        coords = coords * cart_factor
    structure = Structure(
        Lattice(lattice), species, coords, coords_are_cartesian=cartesian
    )
    structure.properties["label"] = comment
    return structure


def _all_numbers(parts) -> bool:
    try:
        [float(p) for p in parts]
    except ValueError:
        return False
    return True
