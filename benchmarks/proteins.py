"""Protein timings, each printed against a baseline measured in the same run.

    .venv/bin/python benchmarks/proteins.py [--repeats N] [--no-browser]

1. Alignment at 100/300/500 residues against a Cα-only Kabsch fit. Pairs are a chain
   (7DDO chain A, 597 residues) against a rigidly moved, noised copy of itself cut to
   the length (so the correspondence is known); the baseline is a plain Kabsch
   superposition of the same Cα pairs (biotite ``superimpose``). Goal: the full
   TM-align-style alignment ≤ 100 ms at 300 residues.
2. Pocket detection (fpocket-rs) on 1UYD, 3LKF and 7TAA against reading the file;
   ``benchmarks/pockets.py`` has the ligand ranks and drug scores.
3. The protein viewer in headless Chromium (software WebGL, as on this machine): a
   ~2,000-residue structure against a 300-residue one, both built from the real
   1A8O (tests/data/proteins: 70 residues, copies translated on a grid, one chain per
   copy), plus the real 2gtl complex (15 chains) when ../shared is there, and the
   crystal viewer's page as a second baseline. Each view is a standalone page
   (``to_html``) opened fresh; "page → on screen" runs from navigation start to the
   viewer's ``data-rendered`` signal (set two animation frames after the draw, i.e.
   once the frame was presented), "pdb → on screen" from the viewer receiving the
   PDB text, and "select → on screen" from a click in the sequence track to the
   redrawn selection. Goal: < 2 s page → on screen at ~2,000 residues.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from matfold_kernel.protein import align_structures, read_protein  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROTEINS = ROOT / "tests" / "data" / "proteins"
SHARED = ROOT.parent / "shared" / "data" / "proteins" / "pdb"
CHAIN_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
GOAL_S = 2.0


def _median_ms(fn, repeats=7):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_alignment() -> None:
    import biotite.structure as struc

    atoms = read_protein(SHARED / "7DDO.pdb")  # chain A: 597 residues
    protein = atoms[struc.filter_amino_acids(atoms) & (atoms.chain_id == "A")]
    rng = np.random.default_rng(0)
    print("TM-align-style alignment (biotite) against a Cα Kabsch fit, 7DDO chain A cut to length")
    print(f"{'residues':>8} {'align ms':>9} {'kabsch ms':>10} {'ratio':>6} {'TM':>6} {'RMSD Å':>7}")
    for n in (100, 300, 500):
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
    print(f"2gtl chains A/B (147 and 145 residues): {t:.1f} ms")


def tiled_structure(n_residues: int, source: Path = PROTEINS / "1A8O.pdb", spacing: float = 40.0):
    """A structure of `n_residues` from copies of a real chain on a grid, one chain id per copy.

    Parameters
    ----------
    n_residues : int
        Residues in the result; the last copy is cut short to match.
    spacing : float
        Grid step in Å (1A8O spans ~35 Å, so copies do not overlap).
    """
    import biotite.structure as struc

    atoms = read_protein(source)
    atoms = atoms[struc.filter_amino_acids(atoms)]
    ids = np.unique(atoms.res_id)
    copies, left = [], n_residues
    while left > 0:
        k = len(copies)
        if k >= len(CHAIN_IDS):
            raise ValueError(f"{n_residues} residues need more than {len(CHAIN_IDS)} chains")
        part = atoms[np.isin(atoms.res_id, ids[:min(left, len(ids))])].copy()
        part.chain_id[:] = CHAIN_IDS[k]
        part.coord += spacing * np.array([k % 6, (k // 6) % 6, k // 36], dtype=float)
        copies.append(part)
        left -= min(left, len(ids))
    return struc.concatenate(copies)


_AFTER_PAINT = """() => new Promise((done) =>
    requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now()))))"""


def _protein_run(browser, path: Path, select: bool) -> dict:
    page = browser.new_page(viewport={"width": 820, "height": 700})
    try:
        page.goto(path.as_uri())
        page.wait_for_selector(".matfold-protein-viewer[data-rendered]", timeout=120_000)
        timings = page.evaluate("() => ({...document.getElementById('view').matfoldViewer.timings})")
        row = {"page": timings["renderedAt"], "pdb": timings["load"]}
        if select:
            before = page.get_attribute(".matfold-protein-viewer", "data-rendered")
            page.locator(".mf-res").nth(30).click()
            page.wait_for_function(f"() => document.querySelector('.matfold-protein-viewer')"
                                   f".dataset.rendered !== '{before}'", timeout=60_000)
            row["select"] = page.evaluate("() => document.getElementById('view').matfoldViewer.timings.style")
        return row
    finally:
        page.close()


def _crystal_run(browser, path: Path) -> dict:
    page = browser.new_page(viewport={"width": 820, "height": 700})
    try:
        page.goto(path.as_uri())
        page.wait_for_selector(".matfold-crystal-viewer[data-ready='true']", timeout=120_000)
        return {"page": page.evaluate(_AFTER_PAINT)}
    finally:
        page.close()


def bench_viewer(repeats: int) -> None:
    import biotite.structure as struc
    from playwright.sync_api import sync_playwright

    from matfold_kernel import read_structure
    from matfold_widgets import CrystalViewer, ProteinViewer
    from matfold_widgets.standalone import CHROMIUM_ARGS, find_chromium

    folder = Path(tempfile.mkdtemp(prefix="matfold-bench-"))
    cases = {}  # label -> (kind, page, residues, atoms)
    for n in (300, 2000):
        atoms = tiled_structure(n)
        path = folder / f"tiled-{n}.html"
        ProteinViewer(atoms).to_html(path, width=800, height=600)
        cases[f"1A8O x{len(np.unique(atoms.chain_id))} (tiled)"] = ("protein", path, n, len(atoms))
    if (SHARED / "2gtl.pdb").is_file():
        atoms = read_protein(SHARED / "2gtl.pdb")
        atoms = atoms[struc.filter_amino_acids(atoms)]
        path = folder / "2gtl.html"
        ProteinViewer(atoms).to_html(path, width=800, height=600)
        cases["2gtl (real, 15 chains)"] = ("protein", path, struc.get_residue_count(atoms), len(atoms))
    crystal = read_structure(ROOT / "tests" / "data" / "structures" / "LiFePO4_mp-19017_computed.cif")
    path = folder / "crystal.html"
    CrystalViewer(crystal, supercell=(2, 2, 2)).to_html(path, width=800, height=600)
    cases["crystal viewer, LiFePO4 2x2x2"] = ("crystal", path, 0, 8 * len(crystal))

    results = {label: [] for label in cases}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            for label, (kind, path, _, _) in cases.items():  # warm-up: first launch of GL and the page cache
                _crystal_run(browser, path) if kind == "crystal" else _protein_run(browser, path, False)
            for _ in range(repeats):  # interleaved, so background load hits every case alike
                for label, (kind, path, _, _) in cases.items():
                    results[label].append(_crystal_run(browser, path) if kind == "crystal"
                                          else _protein_run(browser, path, True))
        finally:
            browser.close()

    print(f"\nViewer load in headless Chromium (software WebGL), 800x600, median of {repeats} fresh pages")
    print(f"{'view':<32} {'residues':>8} {'atoms':>6} {'page → on screen':>17} {'pdb → on screen':>16} "
          f"{'select → on screen':>19}")
    medians = {}
    for label, (kind, _, residues, natoms) in cases.items():
        rows = results[label]
        med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        medians[label] = med
        pdb = f"{med['pdb']:13.0f} ms" if "pdb" in med else f"{'':>16}"
        select = f"{med['select']:16.0f} ms" if "select" in med else ""
        print(f"{label:<32} {residues or '':>8} {natoms:>6} {med['page']:14.0f} ms {pdb} {select}")
    big = next(label for label in cases if cases[label][2] == 2000)
    small = next(label for label in cases if cases[label][2] == 300)
    crystal_label = next(label for label in cases if cases[label][0] == "crystal")
    ratio = medians[big]["page"] / medians[small]["page"]
    verdict = "meets" if medians[big]["page"] < GOAL_S * 1000 else "MISSES"
    print(f"2,000 residues: {medians[big]['page'] / 1000:.2f} s page → on screen, {ratio:.1f}x the 300-residue view, "
          f"{medians[big]['page'] / medians[crystal_label]['page']:.1f}x the crystal viewer; "
          f"{verdict} the {GOAL_S:.0f} s goal")
    print(f"(pages in {folder})")


def bench_pockets() -> None:
    """fpocket-rs through matfold on the three ligand-bound fpocket examples (see pockets.py for more)."""
    from matfold_kernel.protein import find_pockets

    print("Pockets (fpocket-rs) against reading the file (biotite), median of 3")
    print(f"{'structure':>9} {'pockets ms':>11} {'read ms':>8} {'pockets':>8}")
    for name in ("1UYD", "3LKF", "7TAA"):
        path = SHARED / f"{name}.pdb"
        if not path.is_file():
            print(f"{name:>9} skipped: {path} not found")
            continue
        atoms = read_protein(path)
        found = find_pockets(atoms)
        t_pockets = _median_ms(lambda: find_pockets(atoms), 3)
        t_read = _median_ms(lambda: read_protein(path), 3)
        print(f"{name:>9} {t_pockets:11.0f} {t_read:8.1f} {len(found):8d}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh page loads per view (default 5)")
    parser.add_argument("--no-browser", action="store_true", help="alignment only")
    args = parser.parse_args(argv)
    bench_alignment()
    bench_pockets()
    if not args.no_browser:
        bench_viewer(args.repeats)


if __name__ == "__main__":
    main()
