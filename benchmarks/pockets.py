"""Pocket detection (fpocket-rs through matfold) on ligand-bound structures, same process.

    .venv/bin/python benchmarks/pockets.py [--repeats 5] [FILE.pdb ...]

For each structure (default: 1UYD, 3LKF, 7TAA from ../shared/data/proteins/pdb, the
fpocket examples) prints, as the median of `repeats` runs:

* baseline: reading the file into an AtomArray (``read_protein``, biotite);
* ``find_pockets`` on that AtomArray (PDB text written in memory + fpocket-rs);
* the number of pockets, the ligand's pocket rank (:func:`ligand_pocket_rank`, 4 Å)
  with the ligand in the input (holo) and with every HETATM removed (apo), and the
  top pocket's drug score next to fpocket 4's when its reference output is there.

Progress goes to stderr, the table to stdout. One thread of work: fpocket-rs is
single-threaded.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from matfold_kernel.errors import MatfoldInputError
from matfold_kernel.protein import read_protein
from matfold_kernel.protein.pockets import find_pockets, ligand_pocket_rank

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "proteins"
DEFAULT = [SHARED / "pdb" / f"{name}.pdb" for name in ("1UYD", "3LKF", "7TAA")]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median_time(fn, repeats: int):
    """(median seconds, last result) of `repeats` calls."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def reference_drug_score(path: Path) -> float | None:
    """Drug score of pocket 1 in fpocket's ``<ID>_info.txt``, if the reference exists."""
    info = SHARED / "fpocket_reference" / f"{path.stem.upper()}_info.txt"
    if not info.exists():
        return None
    match = re.search(r"Druggability Score :\s*([-\d.]+)", info.read_text())
    return float(match.group(1)) if match else None


def ligand_rank(atoms, pockets):
    try:
        return ligand_pocket_rank(atoms, pockets)
    except MatfoldInputError:
        return None  # no ligand in this file


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="PDB or mmCIF files (default: 1UYD, 3LKF, 7TAA)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement; the median is shown")
    args = parser.parse_args(argv)
    files = args.files or DEFAULT
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        print(f"missing input: {', '.join(missing)} (the defaults live in ../shared/data/proteins/pdb)",
              file=sys.stderr)
        return 2

    import fpocket_rs

    rows = []
    for path in files:
        log(f"{path.name}: reading and searching {args.repeats} times")
        find_pockets(path)  # warm-up: imports, first call
        t_read, atoms = median_time(lambda path=path: read_protein(path), args.repeats)
        t_find, pockets = median_time(lambda atoms=atoms: find_pockets(atoms), args.repeats)
        apo_pockets = find_pockets(atoms[~atoms.hetero])
        rows.append({
            "file": path.stem, "atoms": len(atoms), "read_ms": t_read * 1e3, "find_ms": t_find * 1e3,
            "pockets": len(pockets), "holo": ligand_rank(atoms, pockets), "apo": ligand_rank(atoms, apo_pockets),
            "drug": pockets[0].drug_score if pockets else None, "ref_drug": reference_drug_score(path),
        })

    def fmt(value, spec):
        return "-" if value is None else format(value, spec)

    print(f"fpocket-rs {fpocket_rs.__version__}, median of {args.repeats} runs; baseline = read_protein (biotite)")
    header = (f"{'file':<8} {'atoms':>6} {'read ms':>8} {'pockets ms':>10} {'x read':>7} {'n':>4} "
              f"{'lig rank holo':>13} {'apo':>4} {'top drug':>8} {'fpocket':>8}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['file']:<8} {r['atoms']:>6} {r['read_ms']:>8.1f} {r['find_ms']:>10.1f} "
              f"{r['find_ms'] / r['read_ms']:>7.1f} {r['pockets']:>4} {fmt(r['holo'], 'd'):>13} "
              f"{fmt(r['apo'], 'd'):>4} {fmt(r['drug'], '.3f'):>8} {fmt(r['ref_drug'], '.3f'):>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
