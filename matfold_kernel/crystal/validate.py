"""Physical sanity checks on a parsed crystal structure."""

from __future__ import annotations

import numpy as np

from ..errors import MatfoldInputError

__all__ = [
    "check_elements",
    "validate_structure",
    "closest_pair",
    "MIN_DISTANCE",
    "MAX_SITES",
    "MAX_CELL_LENGTH",
    "MAX_VOLUME_PER_ATOM",
]

#: Two sites closer than this (Å) are taken as a mistake, not chemistry.
MIN_DISTANCE = 0.5
#: Largest number of sites in one structure matfold accepts.
MAX_SITES = 20_000
#: Longest cell vector accepted, in Å. The longest of the 229 jarvis structures is
#: 57.7 Å; 1,000 Å leaves room for long supercells and slabs, and beyond it numbers
#: are typos, wrong units or an attempt to make later neighbour searches allocate by volume.
MAX_CELL_LENGTH = 1_000.0
#: Largest cell volume per site, in Å³. Real crystals have 2.6-96 Å³ per atom (the
#: 229 jarvis structures and the test files); an isolated atom in a 17 Å vacuum box
#: (a gas-phase or reference calculation) has 4,900. Beyond this the cell is mostly
#: empty by mistake (a POSCAR scale factor of 90 gives 10⁶-10⁷ Å³ per atom), and
#: every graph or neighbour search with a cell list would pay for the void.
MAX_VOLUME_PER_ATOM = 5_000.0


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


def closest_pair(lattice_matrix, frac_coords, cutoff: float):
    """The closest periodic pair of sites closer than `cutoff` (Å), or None.

    Cost grows with the number of sites only, not with the cell volume: coordinates
    are wrapped into the cell, the images of the cell around it are put in a
    KD-tree (scipy), and each site asks for its two nearest points. A vector shorter
    than the height of the cell across an axis changes its fractional coordinate
    along that axis by less than 1, so ``ceil(cutoff / height)`` shells of images per
    axis are enough: one (27 images) when every height is at least `cutoff`, as
    :func:`validate_structure` makes sure before calling this.

    Parameters
    ----------
    lattice_matrix : (3, 3) array
        Cell vectors as rows, Å.
    frac_coords : (n, 3) array
        Fractional coordinates.
    cutoff : float
        Distance in Å.

    Returns
    -------
    tuple of (int, int, float) or None
        Site indices ``i < j`` and their distance in Å (``i == j`` for a site too close
        to its own image).
    """
    from scipy.spatial import cKDTree

    matrix = np.asarray(lattice_matrix, dtype=float)
    frac = np.mod(np.asarray(frac_coords, dtype=float), 1.0)
    n = len(frac)
    if n == 0:
        return None
    volume = abs(float(np.linalg.det(matrix)))
    heights = volume / np.linalg.norm(np.cross(matrix[[1, 2, 0]], matrix[[2, 0, 1]]), axis=1)
    shells = [max(1, int(np.ceil(cutoff / h))) for h in heights]
    if np.prod([2 * k + 1 for k in shells]) > 1000:
        raise ValueError(f"cutoff {cutoff} Å is too long for a cell only {heights.min():.3g} Å thick")
    ranges = [range(-k, k + 1) for k in shells]
    shifts = np.array([(a, b, c) for a in ranges[0] for b in ranges[1] for c in ranges[2]], dtype=float)
    cart = frac @ matrix
    images = (cart[None, :, :] + (shifts @ matrix)[:, None, :]).reshape(-1, 3)
    home = int(np.flatnonzero(~shifts.any(axis=1))[0]) * n  # offset of the (0, 0, 0) shift in `images`
    distances, found = cKDTree(images).query(cart, k=2, distance_upper_bound=cutoff)
    own = home + np.arange(n)
    # the nearest point that is not the site itself: column 0, else column 1
    first = np.isfinite(distances[:, 0]) & (found[:, 0] != own)
    second = np.isfinite(distances[:, 1]) & (found[:, 1] != own)
    nearest = np.where(first, distances[:, 0], np.where(second, distances[:, 1], np.inf))
    if not np.isfinite(nearest).any():
        return None
    i = int(np.argmin(nearest))
    j = int((found[i, 0] if first[i] else found[i, 1]) % n)
    return min(i, j), max(i, j), float(nearest[i])


def validate_structure(structure, name: str | None = None, *, min_distance: float = MIN_DISTANCE,
                       allow_overlap: bool = False):
    """Check that a structure is something a physicist could mean.

    Checks: at least one site, at most `MAX_SITES`; finite lattice and coordinates;
    cell vectors at most `MAX_CELL_LENGTH` Å; cell volume > 0.01 Å³ and at most
    `MAX_VOLUME_PER_ATOM` Å³ per site; no two fully occupied sites closer than `min_distance` (Å,
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
    if volume / n > MAX_VOLUME_PER_ATOM:
        raise MatfoldInputError(
            f"the cell has {volume / n:.4g} Å³ per site ({volume:.4g} Å³ for {n} sites), over "
            f"{MAX_VOLUME_PER_ATOM:g} Å³: check the units (matfold expects Å) and the scale factor",
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
    ordered = np.array([site.is_ordered for site in structure])
    keep = np.where(ordered)[0]
    pair = closest_pair(matrix, frac[keep], min_distance) if keep.size else None
    if pair is not None:
        i, j, distance = int(keep[pair[0]]), int(keep[pair[1]]), pair[2]
        raise MatfoldInputError(
            f"atoms {i + 1} ({structure[i].species_string}) and {j + 1} "
            f"({structure[j].species_string}) are {distance:.3f} Å apart, closer than "
            f"{min_distance} Å: the file has overlapping or duplicated atoms (if this is "
            "disorder written as full sites, read it with allow_overlap=True, "
            "or --allow-overlap on the command line)",
            name,
        )
    return structure
