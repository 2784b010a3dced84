"""The CrystalViewer widget on the Python side, and its offline PNG export."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from matfold_kernel import MatfoldInputError
from matfold_widgets import CrystalViewer
from matfold_widgets.crystal_viewer import _STATIC


def test_bundle_is_built_and_has_no_network_imports():
    js = (_STATIC / "crystal_viewer.js").read_text()
    assert len(js) > 100_000  # three.js is inside, not fetched
    assert not re.search(r"""(import\s*\(?\s*["']https?:|from\s*["']https?:)""", js)


def test_mode_and_supercell_update_the_scene(lifepo4_cif):
    viewer = CrystalViewer(lifepo4_cif)
    assert viewer.title == "LiFePO4" and viewer.scene["polyhedra"] == []
    viewer.mode = "polyhedral"
    assert viewer.scene["mode"] == "polyhedral" and len(viewer.scene["polyhedra"]) > 0
    n = len(viewer.scene["atoms"]["sites"])
    viewer.supercell = (2, 1, 1)
    assert len(viewer.scene["atoms"]["sites"]) > n


def test_bad_mode_is_refused_and_state_kept(lifepo4_cif):
    viewer = CrystalViewer(lifepo4_cif, mode="space-filling")
    with pytest.raises(MatfoldInputError, match="unknown viewer mode"):
        viewer.mode = "cartoon"
    assert viewer.mode == "space-filling" and viewer.scene["mode"] == "space-filling"


def test_picked_from_the_browser_maps_to_a_site(lifepo4_cif):
    viewer = CrystalViewer(lifepo4_cif)
    index = viewer.scene["atoms"]["elements"].index("P")
    # what the JavaScript writes on a click
    viewer.picked = {"index": index, "site": viewer.scene["atoms"]["sites"][index], "element": "P"}
    assert viewer.picked_site.specie.symbol == "P"
    viewer.structure = lifepo4_cif  # a new structure clears the pick
    assert viewer.picked is None and viewer.picked_site is None


def test_standalone_html_is_self_contained(batio3_cif, tmp_path):
    html = CrystalViewer(batio3_cif).to_html(tmp_path / "view.html")
    assert (tmp_path / "view.html").read_text() == html
    assert "<script src=" not in html and "BaTiO3" in html
    assert not re.search(r"""(src|href)=["']https?://""", html)


def test_save_png_draws_the_structure(lifepo4_cif, artifacts_dir):
    path = CrystalViewer(lifepo4_cif, mode="polyhedral").save_png(
        artifacts_dir / "lifepo4-polyhedral.png", width=400, height=300, scale=1)
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert image.shape[:2] == (300, 400)
    # not blank: many pixels differ from the white background, and PO4 orange is there
    assert (np.abs(image - 255).sum(axis=2) > 60).mean() > 0.1
    orange = (image[..., 0] > 180) & (np.abs(image[..., 1] - 128) < 60) & (image[..., 2] < 90)
    assert orange.sum() > 50
