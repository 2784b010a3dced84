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
    import matfold_kernel.cli as cli
    from matfold_kernel.cli import main

    def explode(*args, **kwargs):
        raise error()

    monkeypatch.delenv("MATFOLD_DEBUG", raising=False)
    monkeypatch.setattr(cli, "structure_info", explode)  # what `matfold info` calls
    assert main(["info", str(batio3_cif)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("matfold info: error: ") and "while processing" in err


# -- subcommands plugged in through entry points (issue 27) ---------------------

def _declared_entry_points():
    """The `matfold.subcommands` entry points pyproject.toml declares (live once installed)."""
    import tomllib
    from importlib.metadata import EntryPoint

    from matfold_kernel.cli import ENTRY_POINT_GROUP
    from tests.support.paths import ROOT

    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    return [EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in table.items()]


@pytest.fixture
def entry_points(monkeypatch):
    """Serve `importlib.metadata.entry_points` from a list the test sets (the declared ones by default)."""
    import importlib.metadata

    served = _declared_entry_points()
    real = importlib.metadata.entry_points

    def fake(**selection):
        from matfold_kernel.cli import ENTRY_POINT_GROUP

        if selection.get("group") == ENTRY_POINT_GROUP:
            return list(served)
        return real(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    return served


def test_declared_subcommands_keep_their_contract(entry_points, monkeypatch, capsys):
    import matfold_hub.cli
    import matfold_services.cli
    from matfold_kernel.cli import Subcommand, build_parser, main

    assert sorted(ep.name for ep in entry_points) == ["hub", "lab", "service"]
    assert all(isinstance(ep.load(), Subcommand) for ep in entry_points)
    calls = []
    monkeypatch.setattr(matfold_hub.cli, "run_hub", lambda **kw: calls.append(("hub", kw)) or 0)
    monkeypatch.setattr(matfold_hub.cli, "run_lab", lambda **kw: calls.append(("lab", kw)) or 0)
    monkeypatch.setattr(matfold_services.cli, "service_main", lambda argv: calls.append(("service", argv)))
    assert main(["hub", "--port", "8123", "--data-dir", "/tmp/h", "--single-user"]) == 0
    assert main(["hub"]) == 0
    assert main(["lab", "--port", "8999", "--notebook-dir", "nb", "--no-browser"]) == 0
    assert main(["service", "--port", "10102"]) == 0
    assert calls == [("hub", {"port": 8123, "data_dir": "/tmp/h", "single_user": True}),
                     ("hub", {"port": 8000, "data_dir": None, "single_user": False}),
                     ("lab", {"port": 8999, "notebook_dir": "nb", "open_browser": False}),
                     ("service", ["--port", "10102"])]
    # `matfold --help` lists them, in their old place after the library's own commands
    help_text = build_parser([]).format_help()
    assert "run the local matfold JupyterHub (127.0.0.1)" in help_text
    assert help_text.index("blend-trees") < help_text.index("  lab ") < help_text.index("  hub ") < help_text.index("  service ")
    with pytest.raises(SystemExit):
        main(["hub", "--help"])
    assert "--single-user" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:  # a bad option is argparse's exit 2, as before
        main(["hub", "--nope"])
    assert exit_info.value.code == 2


def test_a_missing_subcommand_names_its_extra(entry_points, capsys):
    from matfold_kernel.cli import build_parser, main

    entry_points.clear()  # a library installed without its hub and lab
    assert main(["hub", "--port", "8123", "--single-user"]) == 1
    err = capsys.readouterr().err
    assert err == "matfold hub: error: `matfold hub` is not installed: pip install 'matfold[hub]'\n"
    assert main(["lab"]) == 1
    assert "pip install 'matfold[lab]'" in capsys.readouterr().err
    assert "(is not installed: pip install 'matfold[hub]')" in build_parser([]).format_help()


def test_a_subcommand_that_cannot_load_says_so(entry_points, capsys):
    from importlib.metadata import EntryPoint

    from matfold_kernel.cli import ENTRY_POINT_GROUP, main

    entry_points[:] = [EntryPoint("service", "matfold_no_such_package.cli:service", ENTRY_POINT_GROUP),
                       EntryPoint("extra", "json:dumps", ENTRY_POINT_GROUP)]
    assert main(["service"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("matfold service: error: `matfold service` cannot load (No module named "
                          "'matfold_no_such_package')") and err.endswith("pip install 'matfold[hub]'\n")
    assert main(["extra"]) == 1
    assert "is not a matfold subcommand (json:dumps)" in capsys.readouterr().err


def test_library_commands_load_no_plugged_subcommand(lifepo4_cif):
    # `matfold info` imports neither the hub nor the service (each costs 0.2-0.5 s to import)
    code = ("import sys; from matfold_kernel.cli import main; main(['info', sys.argv[1]]); "
            "print(sorted(m for m in sys.modules if m.startswith(('matfold_hub', 'matfold_services', 'matfold_widgets', 'fastapi'))))")
    result = subprocess.run([sys.executable, "-c", code, str(lifepo4_cif)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


def test_a_closed_pipe_ends_quietly(batio3_cif, tmp_path):
    # `matfold info ... --json | head`: the reader leaves before the output is written
    path = tmp_path / "many.cif"
    path.write_text(batio3_cif.read_text() * 250)  # about 90 kB of JSON: more than a pipe holds
    exe = shutil.which("matfold", path=str(Path(sys.executable).parent)) or shutil.which("matfold")
    proc = subprocess.Popen([exe, "info", str(path), "--all", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # as `head` does once it has its lines
    _, err = proc.communicate(timeout=120)
    assert err.decode() == "" and proc.returncode == 141
    # the same through a shell pipe
    shell = subprocess.run(f"'{exe}' info '{path}' --all --json | head -c 10", shell=True, capture_output=True,
                           text=True, timeout=120)
    assert shell.stdout == "[\n  {\n    " and shell.stderr == ""
