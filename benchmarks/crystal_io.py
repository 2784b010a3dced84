"""Reading and describing crystal files: matfold against plain pymatgen, same process.

Prints structures per second for read + validate + describe (matfold) and for
pymatgen's own reader + SpacegroupAnalyzer (baseline), over the 229
one-per-space-group structures, and the viewer's scene-building time.

    .venv/bin/python benchmarks/crystal_io.py
"""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from pymatgen.core import Lattice, Structure  # noqa: E402
from pymatgen.io.vasp import Poscar  # noqa: E402
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer  # noqa: E402

from matfold_kernel import read_structure, structure_info  # noqa: E402
from matfold_widgets import build_scene  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "structures"


def _texts():
    with gzip.open(DATA / "spg229.json.gz", "rt") as handle:
        entries = json.load(handle)
    texts = []
    for e in entries:
        a = e["atoms"]
        s = Structure(Lattice(a["lattice_mat"]), a["elements"], a["coords"],
                      coords_are_cartesian=a["cartesian"])
        texts.append(Poscar(s).get_str())
    return texts


def _time(fn, texts, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for text in texts:
            fn(text)
        best = min(best, time.perf_counter() - start)
    return best


def matfold_path(text):
    s = read_structure(text, format="poscar", allow_overlap=True)
    return structure_info(s)


def baseline_path(text):
    s = Structure.from_str(text, fmt="poscar")
    analyzer = SpacegroupAnalyzer(s, symprec=0.01)
    return analyzer.get_space_group_number(), s.density


def main():
    texts = _texts()
    natoms = sum(len(Structure.from_str(t, fmt="poscar")) for t in texts)
    base = _time(baseline_path, texts)
    ours = _time(matfold_path, texts)
    print(f"229 structures, {natoms} atoms in all (best of 3)")
    print(f"  baseline pymatgen read + spacegroup: {base:6.3f} s  ({len(texts) / base:7.1f} structures/s)")
    print(f"  matfold read + validate + describe:  {ours:6.3f} s  ({len(texts) / ours:7.1f} structures/s)"
          f"  ratio {ours / base:.2f}x")
    lifepo4 = read_structure(DATA / "LiFePO4_mp-19017_computed.cif")
    for mode in ("ball-and-stick", "polyhedral", "space-filling"):
        for reps in ((1, 1, 1), (3, 3, 3)):
            start = time.perf_counter()
            scene = build_scene(lifepo4, reps, mode)
            took = time.perf_counter() - start
            print(f"  scene LiFePO4 {reps[0]}x{reps[1]}x{reps[2]} {mode:<15} {took * 1000:7.1f} ms "
                  f"({len(scene['atoms']['sites'])} atoms, {len(scene['bonds']) // 2} bonds, "
                  f"{len(scene['polyhedra'])} polyhedra)")


if __name__ == "__main__":
    main()
