"""The prediction panel: rows from the shipped models, drawn offline in Chromium."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch")

from matfold_kernel import predict  # noqa: E402
from matfold_widgets import PredictionPanel  # noqa: E402


@pytest.fixture(scope="module")
def rows():
    return predict("RaMoTe3", properties=["bulk_modulus", "shear_modulus", "debye_temperature"])


def test_panel_takes_the_rows_of_predict(rows):
    assert not hasattr(rows, "panel")  # the table is plain data: the widget takes it, not the reverse
    panel = PredictionPanel(rows)
    from pymatgen.core import Composition

    assert panel.title == Composition("RaMoTe3").reduced_formula
    assert [r["property"] for r in panel.rows] == ["bulk_modulus", "shear_modulus", "debye_temperature"]
    assert all(r["value"] > 0 and r["uncertainty"] > 0 for r in panel.rows)
    json_safe = PredictionPanel([dict(rows[0], uncertainty=math.nan)]).rows[0]
    assert json_safe["uncertainty"] is None


@pytest.mark.browser
def test_panel_draws_cards_bars_and_warnings(rows, tmp_path, artifacts_dir, offline_page):
    bad = predict(["Xx2"], properties=["bulk_modulus"])
    panel = PredictionPanel(list(rows) + list(bad))
    html = panel.to_html(tmp_path / "panel.html")
    assert "<script src=" not in html
    page = offline_page(820, 500)
    page.goto((tmp_path / "panel.html").as_uri())
    page.wait_for_selector(".mf-card")
    cards = page.locator(".mf-card")
    assert cards.count() == 3
    bulk = page.locator(".mf-card[data-property='bulk_modulus']")
    assert "GPa" in bulk.inner_text() and f"{rows[0]['value']:.3g}"[:3] in bulk.inner_text()
    assert bulk.locator("rect.mf-one-sigma").count() == 1
    box = float(bulk.locator("rect.mf-one-sigma").get_attribute("width"))
    assert box > 1  # a visible uncertainty box
    # Ra is in no training formula of the elastic tasks: every card warns
    assert page.locator(".mf-warning").count() >= 3
    assert "Ra never occurs" in page.locator(".mf-warning").first.inner_text()
    assert "unknown element 'Xx'" in page.locator(".mf-error").first.inner_text()
    page.screenshot(path=str(artifacts_dir / "prediction-panel.png"))
