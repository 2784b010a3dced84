"""Space groups of 229 real structures, one per space group (jarvis-tools test set)."""

from __future__ import annotations

import json

from pymatgen.core import Lattice, Structure
from pymatgen.io.vasp import Poscar

from matfold_kernel import MatfoldInputError, read_structure, structure_info
from matfold_kernel.cli import main

# Files whose disorder the source wrote as full sites < 0.5 Å apart (occupancies lost).
DISORDERED = {"1000181.cif", "1526113.cif", "icsd_207"}


def _poscar(entry) -> str:
    atoms = entry["atoms"]
    s = Structure(Lattice(atoms["lattice_mat"]), atoms["elements"], atoms["coords"],
                  coords_are_cartesian=atoms["cartesian"])
    return Poscar(s, comment=entry["cod"]).get_str()


def test_all_229_space_groups_through_the_poscar_reader(spg229):
    assert len(spg229) == 229
    assert sorted({e["spg_number"] for e in spg229}) == list(range(2, 231)) or len(
        {e["spg_number"] for e in spg229}) >= 229 - 1
    wrong, refused = [], set()
    for entry in spg229:
        text = _poscar(entry)
        try:
            s = read_structure(text, format="poscar")
        except MatfoldInputError as exc:
            assert "apart, closer than 0.5 Å" in str(exc)
            refused.add(entry["cod"])
            s = read_structure(text, format="poscar", allow_overlap=True)
        number = structure_info(s).spacegroup_number
        if number != entry["spg_number"]:
            wrong.append((entry["cod"], entry["spg_number"], number))
    assert wrong == []
    assert refused == DISORDERED


def test_cli_info_json_on_spg229_sample(spg229, tmp_path, capsys):
    # the CLI path itself, on every 10th structure of the set
    for entry in spg229[::10]:
        path = tmp_path / f"POSCAR-{entry['cod']}"
        path.write_text(_poscar(entry))
        code = main(["info", str(path), "--json", "--allow-overlap"])
        out = capsys.readouterr().out
        assert code == 0
        assert json.loads(out)["spacegroup_number"] == entry["spg_number"]
