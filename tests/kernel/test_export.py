"""Exports keep what the user added, and the figures hold the data."""

from __future__ import annotations


import numpy as np
import pytest

from matfold_kernel import MatfoldInputError
from matfold_kernel.protein import read_protein
from matfold_kernel.protein.export import plot_pae, plot_plddt, pymol_script, read_annotations, write_structure

from tests.support.paths import DATA

PDB = DATA / "proteins" / "1A8O.pdb"
NOTES = [{"chain": "A", "resi": 168, "label": "core Phe"}, {"chain": "A", "resi": 185, "label": "MSE site"}]


@pytest.mark.parametrize("suffix", [".pdb", ".cif"])
def test_annotations_survive_a_round_trip(tmp_path, suffix):
    atoms = read_protein(PDB)
    path = write_structure(atoms, tmp_path / f"annotated{suffix}", NOTES)
    assert read_annotations(path) == NOTES
    again = read_protein(path)
    assert len(again) == len(atoms) and np.allclose(again.coord, atoms.coord, atol=1e-3)


def test_bad_annotation():
    with pytest.raises(MatfoldInputError, match="needs chain, resi"):
        write_structure(read_protein(PDB), "/tmp/x.pdb", [{"chain": "A", "label": "no residue"}])


def test_pymol_script():
    script = pymol_script("model.pdb", selections=[("A", 168)], annotations=NOTES)
    assert script.startswith("load model.pdb, model\n")
    assert "color plddt_very_high, model and b > 89.99 and b < 101" in script
    assert "select matfold_sel, model and ((chain A and resi 168))" in script
    assert 'label model and chain A and resi 185 and name CA, "MSE site"' in script
    with pytest.raises(MatfoldInputError, match="color_by 'rainbow'"):
        pymol_script("model.pdb", color_by="rainbow")


def test_figures_hold_the_data(tmp_path):
    plddt = np.linspace(20, 95, 40)
    fig = plot_plddt(plddt)
    line = fig.axes[0].lines[0]
    assert np.allclose(line.get_ydata(), plddt)
    fig.savefig(tmp_path / "plddt.svg")
    fig.savefig(tmp_path / "plddt.png", dpi=480)  # 8 in x 480 dpi = 3840 px: 4K wide
    from PIL import Image

    assert Image.open(tmp_path / "plddt.png").size[0] == 3840
    pae = np.random.default_rng(0).uniform(0, 30, (40, 40))
    assert np.allclose(plot_pae(pae).axes[0].images[0].get_array(), pae)
    with pytest.raises(MatfoldInputError, match="square matrix"):
        plot_pae(np.zeros((3, 4)))
