"""Reading real crystal files in every supported way."""

from __future__ import annotations

import io

import numpy as np
import pytest
from ase.io import write as ase_write
from pymatgen.core import Lattice, Structure

import matfold_kernel as mk
from matfold_kernel import MatfoldInputError, read_structure, read_structures, structure_info


def test_cif_from_path_gives_published_metadata(batio3_cif):
    s = read_structure(batio3_cif)
    info = structure_info(s)
    assert info.reduced_formula == "BaTiO3"
    assert info.spacegroup_symbol == "Pm-3m"
    assert info.spacegroup_number == 221
    assert info.crystal_system == "cubic"
    assert info.natoms == 5 and info.nelements == 3
    assert info.chemical_system == "Ba-O-Ti"
    assert info.volume == pytest.approx(65.76629266, rel=1e-6)  # _cell_volume in the file
    # density = mass / volume: (137.327 + 47.867 + 3 * 15.999) g/mol over 65.766 Å³
    assert info.density == pytest.approx(233.19 / 0.602214076 / 65.76629266, rel=1e-3)
    assert s.properties["source"] == str(batio3_cif)
    assert s.properties["label"] == "BaTiO3"


def test_lifepo4_is_olivine_pnma(lifepo4_cif):
    info = structure_info(read_structure(lifepo4_cif))
    assert (info.reduced_formula, info.spacegroup_number, info.natoms) == ("LiFePO4", 62, 28)
    assert info.formula == "Li4Fe4P4O16"


@pytest.mark.parametrize("as_kind", ["path", "str_path", "text", "bytes", "stream"])
def test_every_source_kind_reads_the_same_structure(lifepo4_cif, as_kind):
    text = lifepo4_cif.read_text()
    source = {
        "path": lifepo4_cif,
        "str_path": str(lifepo4_cif),
        "text": text,
        "bytes": text.encode(),
        "stream": io.StringIO(text),
    }[as_kind]
    s = read_structure(source)
    assert s.composition.reduced_formula == "LiFePO4"
    assert np.allclose(s.lattice.abc, read_structure(lifepo4_cif).lattice.abc)


@pytest.mark.parametrize(
    "name, formula, number",
    [
        ("POSCAR-Aem2", "SnS", 39),
        ("POSCAR-C2m", "SiAs", 12),
        ("POSCAR-Cmcm", "TlCl", 63),
        ("POSCAR-P-1", "Nb(SeCl)2", 2),
        ("POSCAR-P21m", "LiBeB", 11),
        ("POSCAR-Pc", "SnPSe3", 7),
        ("POSCAR-tetragonal", "Sr2As", 139),
    ],
)
def test_real_poscars(structures_dir, name, formula, number):
    info = structure_info(read_structure(structures_dir / name))
    assert info.reduced_formula == formula
    assert info.spacegroup_number == number


def test_poscar_matches_pymatgen_reader(structures_dir):
    path = structures_dir / "POSCAR-Pc"
    ours = read_structure(path)
    theirs = Structure.from_file(path)
    assert np.allclose(ours.lattice.matrix, theirs.lattice.matrix)
    assert np.allclose(ours.frac_coords, theirs.frac_coords)
    assert [str(x) for x in ours.species] == [str(x) for x in theirs.species]


def test_poscar_cartesian_and_negative_scale_mean_volume():
    text = "NaCl\n-179.4\n1 0 0\n0 1 0\n0 0 1\nNa Cl\n4 4\nCartesian\n" + "\n".join(
        f"{x} {y} {z}" for x, y, z in [
            (0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0),
            (.5, .5, .5), (.5, 0, 0), (0, .5, 0), (0, 0, .5),
        ]
    ) + "\n"
    s = read_structure(text)
    assert s.volume == pytest.approx(179.4)
    assert structure_info(s).spacegroup_number == 225
    # Cartesian coordinates are scaled with the lattice: the Cl sits at the body centre
    assert np.allclose(s.frac_coords[4], [0.5, 0.5, 0.5])


def test_vasp4_poscar_takes_symbols_from_comment():
    text = "Si\n5.43\n0 .5 .5\n.5 0 .5\n.5 .5 0\n2\nDirect\n0 0 0\n.25 .25 .25\n"
    info = structure_info(read_structure(text))
    assert (info.reduced_formula, info.spacegroup_number) == ("Si", 227)


def test_multi_block_cif_returns_all_and_index_selects(batio3_cif, lifepo4_cif):
    text = batio3_cif.read_text() + "\n" + lifepo4_cif.read_text()
    structures = read_structures(text)
    assert [s.composition.reduced_formula for s in structures] == ["BaTiO3", "LiFePO4"]
    assert [s.properties["label"] for s in structures] == ["BaTiO3", "LiFePO4"]
    assert read_structure(text, index=1).composition.reduced_formula == "LiFePO4"
    assert read_structure(text, index=-1).composition.reduced_formula == "LiFePO4"
    with pytest.raises(MatfoldInputError, match="asked for structure 2 but the file holds 2"):
        read_structure(text, index=2)


def test_extxyz_frames(batio3_cif, lifepo4_cif, tmp_path):
    frames = [read_structure(p).to_ase_atoms() for p in (batio3_cif, lifepo4_cif)]
    path = tmp_path / "two.extxyz"
    ase_write(path, frames, format="extxyz")
    structures = read_structures(path)
    assert [s.composition.reduced_formula for s in structures] == ["BaTiO3", "LiFePO4"]
    assert structures[1].properties["label"] == "frame 2"
    assert np.allclose(structures[1].lattice.matrix, frames[1].cell[:])


def test_objects_pymatgen_and_ase(lifepo4_cif):
    s = Structure.from_file(lifepo4_cif)
    assert read_structure(s) is not s  # a copy: matfold never mutates the caller's object
    atoms = s.to_ase_atoms()
    assert structure_info(read_structure(atoms)).spacegroup_number == 62


def test_ase_molecule_without_cell_is_refused():
    from ase import Atoms

    with pytest.raises(MatfoldInputError, match="no periodic cell"):
        read_structure(Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]]))


def test_partially_occupied_close_sites_are_disorder_not_error():
    # two half-occupied sites 0.3 Å apart: positional disorder, legal
    s = Structure(Lattice.cubic(5), [{"Fe": 0.5}, {"Fe": 0.5}, "O"],
                  [[0, 0, 0], [0.06, 0, 0], [0.5, 0.5, 0.5]])
    assert len(mk.validate_structure(s)) == 3
    full = Structure(Lattice.cubic(5), ["Fe", "Fe", "O"], [[0, 0, 0], [0.06, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(MatfoldInputError, match=r"atoms 1 \(Fe\) and 2 \(Fe\) are 0.300 Å apart"):
        mk.validate_structure(full)
    assert len(mk.validate_structure(full, allow_overlap=True)) == 3


def test_info_html_shows_space_group(batio3_cif):
    html = structure_info(read_structure(batio3_cif))._repr_html_()
    assert "Pm-3m (No. 221)" in html and "BaTiO3" in html
