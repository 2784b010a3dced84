"""What the crystal viewer draws, computed in Python from a pymatgen Structure.

The JavaScript side only draws what this module lists: atoms (with their site in
the original structure), bonds, coordination polyhedra and cell edges. Keeping
the geometry here makes it testable without a browser.
"""

from __future__ import annotations

import itertools

import numpy as np

from matfold_kernel.errors import MatfoldInputError

from .elements import covalent_radius, element_color

__all__ = ["MODES", "build_scene", "MAX_DISPLAYED_ATOMS"]

#: Drawing modes of the crystal viewer.
MODES = ("ball-and-stick", "polyhedral", "space-filling")
#: Most atoms one view draws; a larger supercell is refused with advice.
MAX_DISPLAYED_ATOMS = 50_000
#: A bond is drawn when d < BOND_TOLERANCE x (r_cov(a) + r_cov(b)).
BOND_TOLERANCE = 1.15
#: Elements taken as polyhedron corners when present.
ANIONS = frozenset({"O", "N", "F", "Cl", "Br", "I", "S", "Se", "Te"})
#: Coordination numbers that get a polyhedron (tetrahedra ... cubes).
POLYHEDRON_CN = range(4, 9)


def _main_element(site) -> str:
    species = site.species
    element = max(species.items(), key=lambda item: item[1])[0]
    return getattr(element, "symbol", str(element))


def _electronegativity(symbol: str) -> float:
    from pymatgen.core.periodic_table import Element

    value = Element(symbol).X
    return float(value) if np.isfinite(value) else 0.0


def _is_metal(symbol: str) -> bool:
    from pymatgen.core.periodic_table import Element

    return bool(Element(symbol).is_metal)


def _ball_radius(symbol: str, mode: str) -> float:
    r = covalent_radius(symbol)
    if mode == "space-filling":
        return r
    if mode == "polyhedral":
        return float(np.clip(0.25 * r, 0.15, 0.4))
    return float(np.clip(0.35 * r, 0.2, 0.55))


def build_scene(structure, supercell=(1, 1, 1), mode: str = "ball-and-stick",
                bond_tolerance: float = BOND_TOLERANCE, boundary_tol: float = 1e-3) -> dict:
    """List the atoms, bonds, polyhedra and cell edges to draw.

    Parameters
    ----------
    structure : pymatgen.core.Structure
    supercell : (int, int, int)
        Repeats along a, b, c (each 1-10).
    mode : {"ball-and-stick", "polyhedral", "space-filling"}
    bond_tolerance : float
        Bonds are drawn below ``bond_tolerance * (r_a + r_b)`` (covalent radii, Å).
    boundary_tol : float
        Atoms within this fractional distance of a cell face are also drawn on the
        opposite face, so a cubic cell shows all eight corners.

    Returns
    -------
    dict
        JSON-ready: ``atoms`` (``positions`` flat xyz in Å, ``elements``, ``sites``
        (index into `structure`), ``images`` (cell offset), ``radii`` in Å,
        ``colors``, ``labels``), ``bonds`` (flat pairs of atom indices),
        ``polyhedra`` (``center``, ``color``, flat ``vertices`` in Å, flat
        triangle ``faces``), ``cell`` (``vectors`` of the supercell, 3x3 in Å),
        ``legend`` and ``center`` / ``extent`` (Å) for the camera.
    """
    if mode not in MODES:
        raise MatfoldInputError(f"unknown viewer mode {mode!r}; use one of {', '.join(MODES)}")
    reps = tuple(int(n) for n in supercell)
    if len(reps) != 3 or any(not 1 <= n <= 10 for n in reps):
        raise MatfoldInputError(
            f"supercell must be three whole numbers from 1 to 10, got {tuple(supercell)!r}"
        )
    lattice = structure.lattice
    matrix = lattice.matrix
    frac = np.mod(structure.frac_coords, 1.0)
    frac[np.isclose(frac, 1.0, atol=1e-9)] = 0.0
    elements = [_main_element(site) for site in structure]

    n_display = len(structure) * int(np.prod(reps))
    if n_display > MAX_DISPLAYED_ATOMS:
        raise MatfoldInputError(
            f"a {reps[0]}x{reps[1]}x{reps[2]} supercell of {len(structure)} sites draws "
            f"{n_display} atoms, over the viewer's {MAX_DISPLAYED_ATOMS}; use a smaller supercell"
        )

    # (site, image) pairs to draw: every site in every repeat, plus copies on the far
    # faces of the box for sites sitting on a face, edge or corner.
    keys: dict[tuple[int, int, int, int], int] = {}
    order: list[tuple[int, tuple[int, int, int]]] = []

    def add(site: int, image) -> int:
        key = (site, int(image[0]), int(image[1]), int(image[2]))
        if key not in keys:
            keys[key] = len(order)
            order.append((site, tuple(int(x) for x in image)))
        return keys[key]

    for site in range(len(structure)):
        on_face = [[0] + ([reps[k]] if frac[site, k] < boundary_tol else []) for k in range(3)]
        for cell in itertools.product(*(range(n) for n in reps)):
            add(site, cell)
        for extra in itertools.product(*on_face):
            if any(extra):
                add(site, tuple(e if e else c for e, c in zip(extra, (0, 0, 0))))
                # sites on a face also appear on that face in every other repeat
                for cell in itertools.product(*(range(n) for n in reps)):
                    image = tuple(extra[k] if extra[k] else cell[k] for k in range(3))
                    add(site, image)

    # Coordination from a periodic neighbour list with pair-specific cutoffs.
    radii_cov = np.array([covalent_radius(e) for e in elements])
    polyhedra = []
    centers: set[int] = set()
    neighbours: dict[int, list[tuple[int, np.ndarray]]] = {i: [] for i in range(len(structure))}
    if len(structure) > 0:
        cutoff = float(bond_tolerance * 2 * radii_cov.max())
        ci, nj, images, dist = structure.get_neighbor_list(cutoff, exclude_self=True)
        ok = dist < bond_tolerance * (radii_cov[ci] + radii_cov[nj])
        for i, j, image in zip(ci[ok], nj[ok], images[ok]):
            neighbours[int(i)].append((int(j), np.asarray(image, dtype=float)))
    if mode == "polyhedral":
        # A polyhedron is a cation with 4-8 anion neighbours. Anions: the usual ones
        # present (O, N, halogens, chalcogens), else the most electronegative element.
        present = set(elements)
        anion_set = present & ANIONS or {max(present, key=_electronegativity)}
        for i, around in neighbours.items():
            if elements[i] in anion_set:
                continue
            anions = [(j, image) for j, image in around if elements[j] in anion_set]
            if len(anions) in POLYHEDRON_CN:
                neighbours[i] = anions
                centers.add(i)

    def frac_of(site: int, image) -> np.ndarray:
        return frac[site] + np.asarray(image, dtype=float)

    if mode == "polyhedral" and centers:
        from scipy.spatial import ConvexHull, QhullError

        for index in range(len(order)):  # atoms listed so far; vertices added below are anions
            site, image = order[index]
            if site not in centers:
                continue
            vertex_ids, points = [], []
            for j, offset in neighbours[site]:
                # neighbour image relative to the wrapped centre
                shift = np.round(structure.frac_coords[j] + offset - structure.frac_coords[site]
                                 - (frac[j] - frac[site]))
                nimage = np.asarray(image) + shift.astype(int)
                vertex_ids.append(add(j, nimage))
                points.append(frac_of(j, nimage) @ matrix)
            try:
                hull = ConvexHull(np.array(points))
            except (QhullError, ValueError):
                continue  # flat coordination (e.g. square planar): no solid to draw
            polyhedra.append({
                "center": index,
                "color": element_color(elements[site]),
                "vertices": np.round(np.array(points), 5).ravel().tolist(),
                "faces": hull.simplices.ravel().tolist(),
            })

    if len(order) > MAX_DISPLAYED_ATOMS:
        raise MatfoldInputError(
            f"this view would draw {len(order)} atoms, over the viewer's {MAX_DISPLAYED_ATOMS}; "
            "use a smaller supercell"
        )
    sites = np.array([s for s, _ in order], dtype=int)
    imgs = np.array([img for _, img in order], dtype=float).reshape(-1, 3)
    positions = (frac[sites] + imgs) @ matrix if len(order) else np.zeros((0, 3))

    # Bonds between drawn atoms; in polyhedral mode the polyhedra stand for the
    # centre-vertex bonds.
    bonds: list[int] = []
    if mode != "space-filling" and len(order) > 1:
        from scipy.spatial import cKDTree

        tree = cKDTree(positions)
        pairs = tree.query_pairs(float(bond_tolerance * 2 * radii_cov.max()), output_type="ndarray")
        if len(pairs):
            a, b = pairs[:, 0], pairs[:, 1]
            d = np.linalg.norm(positions[a] - positions[b], axis=1)
            keep = (d < bond_tolerance * (radii_cov[sites[a]] + radii_cov[sites[b]])) & (d > 0.1)
            metal = np.array([_is_metal(e) for e in elements])
            if not metal.all():  # in compounds, metal-metal contacts are not bonds
                keep &= ~(metal[sites[a]] & metal[sites[b]])
            if mode == "polyhedral" and centers:
                center_mask = np.isin(sites, list(centers))
                keep &= ~(center_mask[a] | center_mask[b])
            bonds = np.stack([a[keep], b[keep]], axis=1).ravel().tolist()

    labels = []
    for site in sites:
        label = getattr(structure[int(site)], "label", None)
        labels.append(label if label and label != structure[int(site)].species_string else f"{elements[site]}{site + 1}")
    counts: dict[str, int] = {}
    for e in elements:
        counts[e] = counts.get(e, 0) + 1
    box = (np.array(reps, dtype=float)[:, None] * matrix)
    corners = np.array(list(itertools.product((0, 1), repeat=3)), dtype=float) @ box
    center = corners.mean(axis=0)
    extent = float(np.linalg.norm(corners - center, axis=1).max())
    return {
        "mode": mode,
        "supercell": list(reps),
        "atoms": {
            "positions": np.round(positions, 5).ravel().tolist(),
            "elements": [elements[s] for s in sites],
            "sites": sites.tolist(),
            "images": imgs.astype(int).tolist(),
            "radii": [round(_ball_radius(elements[s], mode), 4) for s in sites],
            "colors": [element_color(elements[s]) for s in sites],
            "labels": labels,
        },
        "bonds": bonds,
        "polyhedra": polyhedra,
        "cell": {"vectors": np.round(box, 6).tolist(), "unit": np.round(matrix, 6).tolist()},
        "legend": [
            {"element": e, "color": element_color(e), "count": counts[e]}
            for e in sorted(counts, key=lambda e: _electronegativity(e))
        ],
        "center": np.round(center, 5).tolist(),
        "extent": round(extent, 5),
    }
