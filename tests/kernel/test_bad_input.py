"""Malformed structure files: a specific MatfoldInputError naming the file, never a traceback."""

from __future__ import annotations

import pytest

from matfold_kernel import MatfoldError, MatfoldInputError, read_structure, read_structures

GOOD_POSCAR = """NaCl
5.64
1 0 0
0 1 0
0 0 1
Na Cl
1 1
Direct
0 0 0
0.5 0.5 0.5
"""

GOOD_CIF = """data_test
_cell_length_a 4.0
_cell_length_b 4.0
_cell_length_c 4.0
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Cs1 Cs 0 0 0 1
Cl1 Cl 0.5 0.5 0.5 1
"""

GOOD_XYZ = """2
Lattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3 pbc="T T T"
Cs 0 0 0
Cl 2 2 2
"""


def test_good_inputs_are_good():
    # the base texts the cases below break must themselves read cleanly
    assert read_structure(GOOD_POSCAR).composition.reduced_formula == "NaCl"
    assert read_structure(GOOD_CIF).composition.reduced_formula == "CsCl"
    assert read_structure(GOOD_XYZ).composition.reduced_formula == "CsCl"


CASES = [
    # (id, source, name, message fragment)
    ("empty", b"", "empty.cif", "the file is empty"),
    ("blank", "\n\n   \n", "blank.vasp", "the file is empty"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image.cif", "binary file"),
    ("latin1", GOOD_CIF.replace("data_test", "data_t\xe9st").encode("latin-1"), "latin1.cif",
     "not UTF-8 text: byte 0xe9 on line 1"),
    ("truncated_cif", GOOD_CIF[: GOOD_CIF.index("loop_") + 60], "cut.cif", "is the file truncated?"),
    ("cif_missing_cell", GOOD_CIF.replace("_cell_length_b 4.0\n", ""), "nocell.cif",
     "has atoms but no _cell_length_b"),
    ("cif_nonnumeric_cell", GOOD_CIF.replace("_cell_length_a 4.0", "_cell_length_a four"),
     "word.cif", "_cell_length_a is 'four', not a number"),
    ("cif_negative_cell", GOOD_CIF.replace("_cell_length_c 4.0", "_cell_length_c -4.0"),
     "neg.cif", "cell lengths must be positive"),
    ("cif_zero_cell", GOOD_CIF.replace("_cell_length_c 4.0", "_cell_length_c 0"),
     "zero.cif", "cell lengths must be positive"),
    ("cif_bad_angle", GOOD_CIF.replace("_cell_angle_beta 90", "_cell_angle_beta 190"),
     "angle.cif", "angles must lie between 0 and 180"),
    ("cif_unknown_element", GOOD_CIF.replace("Cl1 Cl", "Qq1 Qq"), "qq.cif", "unknown element 'Qq'"),
    ("cif_no_atoms", GOOD_CIF[: GOOD_CIF.index("loop_")], "noatoms.cif", "no data block with atom sites"),
    ("cif_ragged_loop", GOOD_CIF.replace("Cl1 Cl 0.5 0.5 0.5 1", "Cl1 Cl 0.5 0.5 1"),
     "ragged.cif", "have different lengths"),
    ("cif_overlap", GOOD_CIF.replace("Cl1 Cl 0.5 0.5 0.5 1", "Cl1 Cl 0.01 0 0 1"),
     "overlap.cif", "are 0.040 Å apart"),
    ("poscar_short", "NaCl\n5.64\n1 0 0\n", "POSCAR", "at least 8 lines"),
    ("poscar_nonnumeric_cell", GOOD_POSCAR.replace("0 1 0", "0 x 0"), "POSCAR",
     "line 4: 'x' in the lattice vector 2 is not a number"),
    ("poscar_zero_volume", GOOD_POSCAR.replace("0 0 1", "0 0 0"), "POSCAR",
     "linearly dependent (cell volume 0"),
    ("poscar_zero_scale", GOOD_POSCAR.replace("5.64", "0"), "POSCAR", "scale factor is 0"),
    ("poscar_unknown_element", GOOD_POSCAR.replace("Na Cl", "Na Xx"), "POSCAR", "unknown element 'Xx'"),
    ("poscar_missing_atom", GOOD_POSCAR.replace("1 1\n", "1 2\n"), "POSCAR",
     "promise 3 atoms but only 2 coordinate lines"),
    ("poscar_nan", GOOD_POSCAR.replace("0.5 0.5 0.5", "0.5 nan 0.5"), "POSCAR",
     "coordinates of atom 2 contains 'nan'"),
    ("poscar_counts_not_int", GOOD_POSCAR.replace("1 1\n", "1 one\n"), "POSCAR",
     "line 7: expected the number of atoms of each element"),
    ("poscar_more_counts_than_symbols", GOOD_POSCAR.replace("1 1\n", "1 1 1\n"), "POSCAR",
     "3 atom counts but 2 element symbols"),
    ("poscar_overlap", GOOD_POSCAR.replace("0.5 0.5 0.5", "0.01 0 0"), "POSCAR",
     "atoms 1 (Na) and 2 (Cl) are 0.056 Å apart"),
    ("poscar_thin_cell", GOOD_POSCAR.replace("0 0 1", "0 0 0.01"), "POSCAR",
     "the cell is only 0.0564 Å thick across c"),
    ("poscar_far_atom", GOOD_POSCAR.replace("0.5 0.5 0.5", "0.5 99999999999 0.5"), "POSCAR",
     "lies 1e+11 cells from the origin"),
    ("poscar_huge_cell", GOOD_POSCAR.replace("5.64", "1e6"), "POSCAR", "over 1000 Å; check the units"),
    ("xyz_wrong_count", GOOD_XYZ.replace("2\n", "3\n", 1), "x.xyz", "promises 3 atoms but only 2"),
    ("xyz_no_lattice", GOOD_XYZ.replace('Lattice="4 0 0 0 4 0 0 0 4" ', ""), "x.xyz", "no Lattice="),
    ("xyz_unknown_element", GOOD_XYZ.replace("Cs 0", "Zz 0"), "x.xyz", "unknown element 'Zz'"),
    ("xyz_count_not_int", GOOD_XYZ.replace("2\n", "two\n", 1), "x.extxyz",
     "expected the number of atoms of frame 1"),
]


@pytest.mark.parametrize("case_id, source, name, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_specific_error(case_id, source, name, fragment, tmp_path):
    path = tmp_path / name
    path.write_bytes(source if isinstance(source, bytes) else source.encode("utf-8"))
    with pytest.raises(MatfoldInputError) as info:
        read_structures(path)
    message = str(info.value)
    assert message.startswith(str(path) + ": "), message  # names the file
    assert fragment in message, message
    assert isinstance(info.value, MatfoldError) and isinstance(info.value, ValueError)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(MatfoldInputError, match="no such file"):
        read_structure(tmp_path / "nope.cif")
    with pytest.raises(MatfoldInputError, match="is a directory"):
        read_structure(tmp_path)


def test_unknown_format_name():
    with pytest.raises(MatfoldInputError, match="unknown format 'pdbx'"):
        read_structure(GOOD_POSCAR, format="pdbx")


def test_wrong_type():
    with pytest.raises(MatfoldInputError, match="cannot read a int"):
        read_structure(42)


def test_utf16_with_bom_is_read():
    assert read_structure(GOOD_CIF.encode("utf-16")).composition.reduced_formula == "CsCl"
