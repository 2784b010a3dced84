"""predict() on structures: composition rows plus the verified structure models' rows."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from matfold_kernel import predict  # noqa: E402

from tests.support.paths import STRUCTURES  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(published_weights):
    return published_weights


def test_structure_file_gets_structure_rows(model_dir):
    pytest.importorskip("matgl")
    rows = predict(str(STRUCTURES / "LiFePO4_mp-19017_computed.cif"))
    by = {(r["property"], r["source"], r["model"].split()[0]): r for r in rows}
    assert all(r["formula"] == "LiFePO4" and not r["error"] for r in rows), [r["error"] for r in rows]
    comp = by[("formation_energy", "composition", "matfold-compnet/matbench_mp_e_form")]
    megnet = next(r for r in rows if r["source"] == "structure" and r["model"].startswith("MEGNet"))
    cgcnn = next(r for r in rows if r["source"] == "structure" and r["model"].startswith("CGCNN")
                 and r["property"] == "formation_energy")
    # Materials Project: LiFePO4 (mp-19017) -2.551 eV/atom; the models agree within a few of their MAEs
    for r in (comp, megnet, cgcnn):
        assert r["value"] == pytest.approx(-2.55, abs=0.15), r
        assert r["uncertainty"] > 0
    assert "published MAE" in " ".join(cgcnn["warnings"])
    bulk = next(r for r in rows if r["source"] == "structure" and r["property"] == "bulk_modulus")
    assert 40 < bulk["value"] < 200 and bulk["unit"] == "GPa" and bulk["uncertainty"] > 0
    assert {r["source"] for r in rows} == {"composition", "convex hull", "structure"}


def test_formula_input_has_no_structure_rows():
    rows = predict("NaCl", properties=["band_gap"])
    assert [r["source"] for r in rows] == ["composition"]


def test_broken_structure_file_is_an_error_row(tmp_path):
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a 3\n")
    rows = predict([str(bad), "MgO"], properties=["band_gap"])
    assert rows[0]["error"] and "broken.cif" in rows[0]["error"]
    assert rows[1]["formula"] == "MgO" and rows[1]["value"] > 2


def test_ase_atoms_is_one_input_and_a_missing_file_says_so(tmp_path):
    from ase.build import bulk

    rows = predict(bulk("Cu", "fcc", a=3.61), properties=["bulk_modulus"], structure_models=False)
    assert len(rows) == 1 and rows[0]["formula"] == "Cu" and rows[0]["value"] > 50
    missing = predict("LiFePO4.cif", properties=["band_gap"])
    assert len(missing) == 1 and "LiFePO4.cif" in missing[0]["error"]
    assert "formula" not in missing[0]["error"]
