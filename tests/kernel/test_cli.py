"""The ``matfold`` console command, run as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import DATA

INFO_KEYS = ["formula", "reduced_formula", "chemical_system", "natoms", "nelements",
             "spacegroup_symbol", "spacegroup_number", "crystal_system", "volume", "density"]


def matfold(*args, cwd=None):
    exe = shutil.which("matfold", path=str(Path(sys.executable).parent)) or shutil.which("matfold")
    assert exe, "the matfold console command is not installed"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_info_json_contract(lifepo4_cif):
    result = matfold("info", lifepo4_cif, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == INFO_KEYS
    assert data["spacegroup_symbol"] == "Pnma" and data["spacegroup_number"] == 62
    assert data["natoms"] == 28 and data["nelements"] == 4
    assert data["crystal_system"] == "orthorhombic"
    assert data["chemical_system"] == "Fe-Li-O-P"
    assert data["volume"] == pytest.approx(302.3046, abs=1e-3)
    assert data["density"] == pytest.approx(3.4662, abs=1e-3)


def test_info_text_output(batio3_cif):
    result = matfold("info", batio3_cif)
    assert result.returncode == 0
    assert "spacegroup_symbol  Pm-3m" in result.stdout
    assert "65.766293 Å³" in result.stdout


def test_info_all_on_multi_structure_file(batio3_cif, lifepo4_cif, tmp_path):
    path = tmp_path / "two.cif"
    path.write_text(batio3_cif.read_text() + lifepo4_cif.read_text())
    result = matfold("info", path, "--json", "--all")
    assert [d["reduced_formula"] for d in json.loads(result.stdout)] == ["BaTiO3", "LiFePO4"]
    one = json.loads(matfold("info", path, "--json", "--index", "1").stdout)
    assert one["reduced_formula"] == "LiFePO4"
    bad = matfold("info", path, "--index", "5")
    assert bad.returncode == 2 and "--index 5 is out of range" in bad.stderr


@pytest.mark.parametrize(
    "filename, content, fragment",
    [
        ("empty.cif", b"", "the file is empty"),
        ("blob.cif", b"\x00\x01\x02binary", "binary file"),
        ("cell.cif", b"data_x\n_cell_length_a 4\nloop_\n_atom_site_label\n_atom_site_fract_x\n"
         b"_atom_site_fract_y\n_atom_site_fract_z\nNa1 0 0 0\n", "has atoms but no _cell_length_b"),
        ("POSCAR", b"NaCl\n1\n5 0 0\n0 5 0\n0 0 5\nNa Cl\n1 1\nDirect\n0 0 0\n", "promise 2 atoms"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, filename, content, fragment):
    path = tmp_path / filename
    path.write_bytes(content)
    result = matfold("info", path, "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("matfold info: error: ") and fragment in lines[0]
    assert str(path) in lines[0]


def test_missing_file_exits_2(tmp_path):
    result = matfold("info", tmp_path / "missing.cif", "--json")
    assert result.returncode == 2 and "no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_command_prints_help():
    result = matfold()
    assert result.returncode == 2 and "info" in result.stdout


def test_version():
    result = matfold("--version")
    assert result.returncode == 0 and result.stdout.startswith("matfold ")


HOSTILE = DATA / "hostile"


@pytest.mark.parametrize("name", ["POSCAR-scale90", "species-10M-columns.extxyz", "pos-1e8-columns.extxyz",
                                  "spec-column-dummies.extxyz", "atomic-number-0.extxyz"])
def test_info_on_hostile_files_exits_2_with_one_line(name):
    # issue 26: the dummy-atom extxyz crashed `matfold info` with a traceback (exit 1)
    result = matfold("info", HOSTILE / name, "--json")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("matfold info: error: ") and result.stdout == ""


@pytest.mark.parametrize("error", [MemoryError, RecursionError, OverflowError])
def test_resource_exhaustion_is_exit_2_not_a_traceback(error, monkeypatch, capsys, batio3_cif):
    import matfold_kernel.crystal as crystal
    from matfold_kernel.cli import main

    def explode(*args, **kwargs):
        raise error()

    monkeypatch.delenv("MATFOLD_DEBUG", raising=False)
    monkeypatch.setattr(crystal, "structure_info", explode)
    assert main(["info", str(batio3_cif)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("matfold info: error: ") and "while processing" in err
