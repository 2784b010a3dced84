"""The protein viewer: Python side, and the bundled 3Dmol.js drawing offline in Chromium."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from matfold_kernel import MatfoldInputError
from matfold_widgets import ProteinViewer

from tests.support.paths import DATA

PDB = DATA / "proteins" / "1A8O.pdb"


def test_traits_and_validation():
    viewer = ProteinViewer(PDB)
    assert viewer.pdb.count(" CA ") == 70 and viewer.color_by == "plddt"
    with pytest.raises(MatfoldInputError, match="unknown style 'wireframe'"):
        viewer.style = "wireframe"
    with pytest.raises(MatfoldInputError, match="unknown colouring 'rainbow'"):
        viewer.color_by = "rainbow"
    assert viewer.style == "cartoon"


def test_color_by_any_per_residue_array():
    viewer = ProteinViewer(PDB)
    viewer.color_by_values(np.arange(70, dtype=float))
    assert viewer.color_by == "values"
    keys = list(viewer.values)
    assert len(keys) == 70 and keys[0] == "A:151"  # 1A8O is numbered 151-220 (HIV-1 capsid CTD)
    assert viewer.values[keys[0]] == 0.0 and viewer.values[keys[-1]] == 1.0
    with pytest.raises(MatfoldInputError, match="3 values for 70 residues of chain A"):
        viewer.color_by_values([1, 2, 3])


def test_png_offline_shows_helices_in_their_colour(artifacts_dir):
    viewer = ProteinViewer(PDB, color_by="secondary-structure")
    path = viewer.save_png(artifacts_dir / "protein-viewer.png", width=500, height=400, scale=1)
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    red = (image[..., 0] > 150) & (image[..., 1] < 80) & (image[..., 2] < 110)  # helix #e6194b, shaded
    assert red.sum() > 500  # 1A8O is mostly helical
    assert "http" not in viewer.to_html().split("<script")[0]  # no external stylesheet either


def test_sequence_click_selects_in_the_page(tmp_path, artifacts_dir, offline_page):
    html = ProteinViewer(PDB).to_html(tmp_path / "view.html", width=600, height=450)
    assert "<script src=" not in html
    page = offline_page(640, 500)
    page.goto((tmp_path / "view.html").as_uri())
    page.wait_for_selector(".matfold-protein-viewer[data-ready='true']")
    spans = page.locator(".mf-res")
    assert spans.count() == 70
    before = page.locator(".mf-stage canvas").first.screenshot()
    spans.nth(9).click()
    assert "mf-selected" in spans.nth(9).get_attribute("class")
    page.wait_for_timeout(300)
    after = page.locator(".mf-stage canvas").first.screenshot()
    assert before != after  # the selected residue is drawn as a sphere
    spans.nth(20).click(modifiers=["Shift"])
    assert page.locator(".mf-res.mf-selected").count() == 2
    page.screenshot(path=str(artifacts_dir / "protein-viewer-selection.png"))


def test_rendered_signal_and_clicks_in_3d(tmp_path, offline_page):
    """The page says when a draw reached the screen, and a click on a residue in 3D selects it."""
    ProteinViewer(PDB).to_html(tmp_path / "view.html", width=600, height=450)
    page = offline_page(640, 500)
    page.goto((tmp_path / "view.html").as_uri())
    root = page.locator(".matfold-protein-viewer[data-rendered='1']")
    root.wait_for()
    el = page.locator("#view")
    timings = el.evaluate("el => el.matfoldViewer.timings")
    assert 0 < timings["load"] <= timings["renderedAt"]
    assert el.evaluate("el => el.matfoldViewer.residueCount()") == 70
    assert page.locator(".mf-res").first.inner_text() == "M"  # MSE 151, selenomethionine
    assert el.evaluate("el => el.matfoldViewer.screenPosition('A', 999)") is None
    box = page.locator(".mf-stage canvas").first.bounding_box()
    clicked = None
    for resi in range(151, 221):
        x, y = el.evaluate(f"el => el.matfoldViewer.screenPosition('A', {resi})")
        if not (0 < x < box["width"] and 0 < y < box["height"]):
            continue
        page.mouse.click(box["x"] + x, box["y"] + y)
        keys = page.locator(".mf-res.mf-selected").evaluate_all("s => s.map(e => e.dataset.key)")
        if keys == [f"A:{resi}"]:
            clicked = resi
            break
    assert clicked is not None, "no residue could be clicked in 3D"
    page.wait_for_function(  # the selection was drawn
        "() => Number(document.querySelector('.matfold-protein-viewer').dataset.rendered) >= 2")
    assert el.evaluate("el => el.matfoldViewer.timings.style") > 0
