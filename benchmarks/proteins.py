"""Protein timings: alignment at 100/300/500 residues, against a Cα-only RMSD fit baseline.

    .venv/bin/python benchmarks/proteins.py

Pairs are a chain against a rigidly moved, noised copy of itself cut to the length
(so the correspondence is known); the baseline is a plain Kabsch superposition of
the same Cα pairs (biotite ``superimpose``), measured in the same run. Goal: the
full TM-align-style alignment ≤ 100 ms at 300 residues.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from matfold_kernel.protein import align_structures, read_protein  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "proteins" / "pdb"


def _median_ms(fn, repeats=7):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    import biotite.structure as struc

    atoms = read_protein(SHARED / "7TAA.pdb")  # TAKA-amylase, 476 residues in chain A
    protein = atoms[struc.filter_amino_acids(atoms) & (atoms.chain_id == atoms.chain_id[0])]
    rng = np.random.default_rng(0)
    print(f"{'residues':>8} {'align ms':>9} {'kabsch ms':>10} {'ratio':>6} {'TM':>6} {'RMSD Å':>7}")
    for n in (100, 300, 476):
        residues = np.unique(protein.res_id)[:n]
        fixed = protein[np.isin(protein.res_id, residues)]
        mobile = struc.rotate(fixed, (0.3, -0.5, 1.1))  # a rotated copy
        mobile.coord += rng.normal(scale=0.8, size=mobile.coord.shape) + np.array([10.0, -4.0, 2.0])
        result = align_structures(fixed, mobile)
        ca_f, ca_m = fixed[fixed.atom_name == "CA"], mobile[mobile.atom_name == "CA"]
        t_align = _median_ms(lambda: align_structures(fixed, mobile))
        t_kabsch = _median_ms(lambda: struc.superimpose(ca_f, ca_m))
        print(f"{n:>8} {t_align:9.1f} {t_kabsch:10.2f} {t_align / t_kabsch:6.0f} {result.tm_score_1:6.3f} "
              f"{result.rmsd:7.2f}")
    both = read_protein(SHARED / "2gtl.pdb")
    t = _median_ms(lambda: align_structures(both, both, "A", "B"))
    print(f"2gtl chains A/B (147 residues each): {t:.1f} ms")


if __name__ == "__main__":
    main()
