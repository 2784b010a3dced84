"""Physical sanity checks on a parsed crystal structure."""

from __future__ import annotations

import numpy as np

from ..errors import MatfoldInputError

__all__ = ["check_elements", "validate_structure", "MIN_DISTANCE", "MAX_SITES", "MAX_CELL_LENGTH"]

#: Two sites closer than this (Å) are taken as a mistake, not chemistry.
MIN_DISTANCE = 0.5
#: Largest number of sites in one structure matfold accepts.
MAX_SITES = 20_000
#: Longest cell vector accepted, in Å (1 µm): beyond it numbers are typos or wrong units.
MAX_CELL_LENGTH = 10_000.0


def check_elements(symbols, name: str | None = None) -> None:
    """Raise `MatfoldInputError` naming the first symbol that is not a chemical element.

    Parameters
    ----------
    symbols : iterable of str
        Element symbols as written in the file ("Fe", "O", ...).
    name : str, optional
        File name for the message.
    """
    from pymatgen.core.periodic_table import Element

    for symbol in symbols:
        if not Element.is_valid_symbol(str(symbol)):
            hint = ""
            cleaned = "".join(ch for ch in str(symbol) if ch.isalpha())[:2]
            if cleaned and cleaned != symbol and Element.is_valid_symbol(cleaned.capitalize()):
                hint = f" (did you mean {cleaned.capitalize()!r}?)"
            raise MatfoldInputError(
                f"unknown element {symbol!r}{hint}; use a symbol from the periodic table "
                "such as 'Fe' or 'O'",
                name,
            )


def _close_pairs(structure, cutoff: float):
    """Periodic pairs closer than `cutoff` (Å), on coordinates wrapped into the cell."""
    from pymatgen.core import Structure

    wrapped = Structure(
        structure.lattice, structure.species_and_occu, np.mod(structure.frac_coords, 1.0)
    )
    return wrapped.get_neighbor_list(cutoff, exclude_self=True)


def validate_structure(structure, name: str | None = None, *, min_distance: float = MIN_DISTANCE,
                       allow_overlap: bool = False):
    """Check that a structure is something a physicist could mean.

    Checks: at least one site, at most `MAX_SITES`; finite lattice and coordinates;
    cell volume > 0.01 Å³; no two fully occupied sites closer than `min_distance` (Å,
    periodic images included). Partially occupied sites may sit close: that is
    positional disorder, not an error.

    Parameters
    ----------
    structure : pymatgen.core.Structure
    name : str, optional
        File name for messages.
    min_distance : float
        Smallest allowed interatomic distance in Å.
    allow_overlap : bool
        Skip the distance check (for disorder written as separate full sites).

    Returns
    -------
    pymatgen.core.Structure
        The same object, for chaining.

    Raises
    ------
    MatfoldInputError
        Naming the first failed check.
    """
    n = len(structure)
    if n == 0:
        raise MatfoldInputError("the structure has no atoms", name)
    if n > MAX_SITES:
        raise MatfoldInputError(
            f"the structure has {n} sites, over matfold's limit of {MAX_SITES}", name
        )
    matrix = structure.lattice.matrix
    if not np.all(np.isfinite(matrix)):
        raise MatfoldInputError("the cell contains NaN or infinite values", name)
    lengths = np.linalg.norm(matrix, axis=1)
    if lengths.max() > MAX_CELL_LENGTH:
        axis = "abc"[int(np.argmax(lengths))]
        raise MatfoldInputError(
            f"cell length {axis} is {lengths.max():.4g} Å, over {MAX_CELL_LENGTH:g} Å; check the "
            "units (matfold expects Å) and the scale factor",
            name,
        )
    with np.errstate(all="ignore"):
        volume = abs(float(np.linalg.det(matrix)))
    if not volume > 1e-2:
        raise MatfoldInputError(
            f"the cell volume is {volume:.3g} Å³; the lattice vectors are zero or linearly "
            "dependent",
            name,
        )
    # Distance between opposite faces: a cell thinner than min_distance puts every
    # atom on top of its own periodic image (and would make neighbour search explode).
    heights = volume / np.linalg.norm(np.cross(matrix[[1, 2, 0]], matrix[[2, 0, 1]]), axis=1)
    if heights.min() < min_distance:
        axis = "abc"[int(np.argmin(heights))]
        raise MatfoldInputError(
            f"the cell is only {heights.min():.3g} Å thick across {axis}; atoms would overlap "
            "their own periodic images. Check the lattice vectors",
            name,
        )
    frac = structure.frac_coords
    bad = np.where(~np.all(np.isfinite(frac), axis=1))[0]
    if bad.size:
        raise MatfoldInputError(
            f"atom {bad[0] + 1} ({structure[int(bad[0])].species_string}) has NaN or infinite "
            "coordinates",
            name,
        )
    far = np.where(np.abs(frac).max(axis=1) > 100)[0]
    if far.size:
        raise MatfoldInputError(
            f"atom {far[0] + 1} ({structure[int(far[0])].species_string}) lies "
            f"{np.abs(frac[far[0]]).max():.3g} cells from the origin; check its coordinates "
            "(fractional ones lie between 0 and 1)",
            name,
        )
    if allow_overlap:
        return structure
    if n > 1 or min(structure.lattice.abc) < min_distance:
        # Periodic neighbour search on wrapped coordinates: only pairs closer than
        # min_distance come back.
        centers, neighbors, _, distances = _close_pairs(structure, min_distance)
        ordered = np.array([site.is_ordered for site in structure])
        keep = ordered[centers] & ordered[neighbors] if len(centers) else []
        centers, neighbors, distances = centers[keep], neighbors[keep], distances[keep]
        if len(centers):
            k = int(np.argmin(distances))
            i, j = sorted((int(centers[k]), int(neighbors[k])))
            raise MatfoldInputError(
                f"atoms {i + 1} ({structure[i].species_string}) and {j + 1} "
                f"({structure[j].species_string}) are {distances[k]:.3f} Å apart, closer than "
                f"{min_distance} Å: the file has overlapping or duplicated atoms (if this is "
                "disorder written as full sites, read it with allow_overlap=True, "
                "or --allow-overlap on the command line)",
                name,
            )
    return structure
