"""Geometry the crystal viewer draws, checked against crystallography."""

from __future__ import annotations

import numpy as np
import pytest

from matfold_kernel import MatfoldInputError, read_structure
from matfold_widgets import build_scene, element_color


@pytest.fixture(scope="module")
def batio3(batio3_cif):
    return read_structure(batio3_cif)


@pytest.fixture(scope="module")
def lifepo4(lifepo4_cif):
    return read_structure(lifepo4_cif)


def _positions(scene):
    return np.array(scene["atoms"]["positions"]).reshape(-1, 3)


def test_cubic_cell_shows_every_corner_edge_and_face_copy(batio3):
    # mp-2998: Ti at the corner (8 copies), O on edge centres (3 sites x 4), Ba in the body centre
    scene = build_scene(batio3)
    elements = scene["atoms"]["elements"]
    assert (elements.count("Ti"), elements.count("O"), elements.count("Ba")) == (8, 12, 1)
    # every drawn atom lies inside or on the box
    frac = _positions(scene) @ np.linalg.inv(batio3.lattice.matrix)
    assert frac.min() > -1e-6 and frac.max() < 1 + 1e-6


def test_bonds_are_ti_o_and_ba_o_at_the_right_lengths(batio3):
    scene = build_scene(batio3)
    pos, el = _positions(scene), scene["atoms"]["elements"]
    pairs = np.array(scene["bonds"]).reshape(-1, 2)
    lengths = {}
    for i, j in pairs:
        key = "-".join(sorted((el[i], el[j])))
        lengths.setdefault(key, []).append(np.linalg.norm(pos[i] - pos[j]))
    a = batio3.lattice.a
    assert set(lengths) == {"O-Ti", "Ba-O"}  # no metal-metal "bonds" in an oxide
    assert np.allclose(lengths["O-Ti"], a / 2, atol=1e-4)
    assert np.allclose(lengths["Ba-O"], a / np.sqrt(2), atol=1e-4)
    assert len(lengths["O-Ti"]) == 24  # 8 corner Ti x 3 O inside the box


def test_polyhedral_mode_builds_tio6_octahedra(batio3):
    scene = build_scene(batio3, mode="polyhedral")
    assert len(scene["polyhedra"]) == 8  # one per drawn Ti
    for poly in scene["polyhedra"]:
        vertices = np.array(poly["vertices"]).reshape(-1, 3)
        assert len(vertices) == 6 and len(poly["faces"]) == 8 * 3  # octahedron: 6 corners, 8 faces
        assert poly["color"] == element_color("Ti")
        center = _positions(scene)[poly["center"]]
        assert np.allclose(np.linalg.norm(vertices - center, axis=1), batio3.lattice.a / 2, atol=1e-4)
    assert not any(el == "Ba" for el in [scene["atoms"]["elements"][p["center"]] for p in scene["polyhedra"]])


def test_lifepo4_polyhedra_are_po4_tetrahedra_and_octahedra(lifepo4):
    scene = build_scene(lifepo4, mode="polyhedral")
    counts = {}
    for poly in scene["polyhedra"]:
        center = scene["atoms"]["elements"][poly["center"]]
        counts.setdefault(center, set()).add(len(poly["vertices"]) // 3)
    assert counts["P"] == {4} and counts["Fe"] == {6} and counts["Li"] == {6}


def test_supercell_repeats_and_space_filling_has_no_bonds(batio3):
    one = build_scene(batio3)
    two = build_scene(batio3, supercell=(2, 2, 2), mode="space-filling")
    assert two["bonds"] == []
    # (2n+1)^3 Ti corners for an n=2 repeat
    assert two["atoms"]["elements"].count("Ti") == 27
    assert two["atoms"]["elements"].count("Ba") == 8
    assert np.allclose(np.array(two["cell"]["vectors"]), 2 * np.array(one["cell"]["vectors"]))
    assert two["atoms"]["radii"][0] > one["atoms"]["radii"][0]


def test_picked_site_indices_point_back_to_the_structure(lifepo4):
    scene = build_scene(lifepo4, supercell=(1, 2, 1))
    for index, site in enumerate(scene["atoms"]["sites"]):
        assert scene["atoms"]["elements"][index] == lifepo4[site].specie.symbol
        image = np.array(scene["atoms"]["images"][index])
        expected = (np.mod(lifepo4[site].frac_coords, 1) + image) @ lifepo4.lattice.matrix
        assert np.allclose(_positions(scene)[index], expected, atol=1e-4)


def test_legend_counts_elements(lifepo4):
    legend = {e["element"]: e["count"] for e in build_scene(lifepo4)["legend"]}
    assert legend == {"Li": 4, "Fe": 4, "P": 4, "O": 16}


@pytest.mark.parametrize("kwargs, fragment", [
    ({"mode": "wireframe"}, "unknown viewer mode 'wireframe'"),
    ({"supercell": (0, 1, 1)}, "three whole numbers from 1 to 10"),
    ({"supercell": (10, 10, 10)}, "over the viewer's 50000"),
])
def test_bad_view_requests(lifepo4, kwargs, fragment):
    doubled = lifepo4.make_supercell((2, 1, 1), in_place=False)  # 56 sites x 1000 repeats
    with pytest.raises(MatfoldInputError, match=fragment):
        build_scene(doubled, **kwargs)
