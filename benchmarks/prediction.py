"""Prediction speed and memory, each printed against a baseline measured in the same run.

    .venv/bin/python benchmarks/prediction.py [--threads 2] [--n 20000] [--record]

1. One input, all six properties with uncertainty, warm (models loaded, hull of the
   chemical system cached): a formula, and a structure file (adds the structure
   models). Goal < 0.3 s. Baseline: reading the same structure file with pymatgen.
2. Composition screening: formulas per minute through ``predict_formulas`` (the path
   of ``matfold predict --csv``), PyTorch and ONNX Runtime, with torch threads set
   explicitly. Goal ≥ 20,000 formulas/min on 2 cores. Baseline: pymatgen
   ``Composition`` parsing of the same formulas (no model at all). Members that learnt
   the energy above the hull need the hull of the training phases at each formula: it
   is built per chemical system afresh for each timed screen, and its share printed. Then what the
   blended trees cost: the mp_shear_modulus ensemble with its trees and, as the
   baseline, the same networks without them.
3. Structure GNN throughput (CGCNN formation energy, graphs built with pymatgen
   neighbour lists), structures per minute. Goal ≥ 2,000/min.
4. Peak resident memory of this process (goal < 2 GB).

``--record`` also writes ``benchmarks/results/prediction.json`` (DESIGN.md's figures table
is built from it by ``benchmarks/design_table.py``).
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "materials" / "composition"
CIF = ROOT / "tests" / "data" / "structures" / "LiFePO4_mp-19017_computed.cif"


def best_of(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=20000, help="formulas to screen")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/prediction.json")
    args = parser.parse_args()
    out = {}
    import torch

    torch.set_num_threads(args.threads)
    import os
    import tempfile

    from pymatgen.core import Composition, Structure

    from matfold_kernel.properties.weights import WEIGHTS, model_dir, seed_cache

    if not all((model_dir() / k).is_file() for k in WEIGHTS) and (ROOT.parent / "shared" / "models").is_dir():
        os.environ["MATFOLD_MODEL_DIR"] = tempfile.mkdtemp(prefix="matfold-models-")
        seed_cache(ROOT.parent / "shared" / "models")  # offline: the published weights from ../shared

    from matfold_kernel import predict
    from matfold_kernel.properties import predict_formulas

    # 1. latency
    predict("LiFePO4")
    predict(str(CIF))
    t_formula = best_of(lambda: predict("LiFePO4"))
    t_structure = best_of(lambda: predict(str(CIF)))
    t_read = best_of(lambda: Structure.from_file(str(CIF)))
    n_rows = len(predict(str(CIF)))
    out["one_formula_six_properties_ms"], out["one_cif_ms"] = round(t_formula * 1e3), round(t_structure * 1e3)
    print(f"one formula, six properties (+hull):      {t_formula * 1e3:7.1f} ms   (goal < 300 ms)")
    print(f"one structure file, {n_rows} rows:             {t_structure * 1e3:7.1f} ms   "
          f"baseline pymatgen read of the file {t_read * 1e3:.1f} ms")

    # 2. composition screening
    source = SHARED / "matbench_mp_e_form" / "val.csv"
    if source.is_file():
        import pandas as pd

        formulas = pd.read_csv(source, keep_default_na=False).formula.tolist()
    else:
        formulas = ["LiFePO4", "NaCl", "Ba2YCu3O7", "GaAs", "SrTiO3"]
    formulas = (formulas * (args.n // len(formulas) + 1))[: args.n]
    t_parse = best_of(lambda: [Composition(f) for f in formulas], 1)
    print(f"baseline: pymatgen Composition() of {len(formulas):,} formulas: "
          f"{len(formulas) / t_parse * 60:,.0f} formulas/min")
    peak_torch = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from matfold_kernel.properties import load_composition_model

    e_form = load_composition_model("matbench_mp_e_form")
    n_members = len(e_form.module.members)
    out["ensemble_members"] = n_members
    for backend in ("torch", "onnx"):
        predict_formulas(formulas[:100], "matbench_mp_e_form", backend=backend)
        if e_form.hull is not None:  # each screen builds its chemical systems' hulls afresh
            e_form.hull.clear_cache()
        t = best_of(lambda: predict_formulas(formulas, "matbench_mp_e_form", backend=backend), 1)
        out[f"formulas_per_min_{backend}"] = int(round(len(formulas) / t * 60, -2))
        print(f"composition ensemble ({backend:5}, {n_members} members): {len(formulas) / t * 60:>10,.0f} formulas/min "
              f"(goal ≥ 20,000)")
    if e_form.hull is not None:
        e_form.hull.clear_cache()
        t_hull = best_of(lambda: e_form.hull.energy(formulas), 1)
        t_warm = best_of(lambda: e_form.hull.energy(formulas), 1)
        print(f"  of which the hull energies of {len(formulas):,} formulas ({len(e_form.hull):,} phases): "
              f"{t_hull:.1f} s, {t_warm:.1f} s with every system's hull built")

    # the cost of the trees: one ensemble that carries them, with and without
    shear = load_composition_model("mp_shear_modulus")
    if shear.trees is not None:
        trees, weight = shear.trees, shear.tree_weight
        predict_formulas(formulas[:100], "mp_shear_modulus")
        with_trees = best_of(lambda: predict_formulas(formulas, "mp_shear_modulus"), 1)
        shear.trees, shear.tree_weight = None, 0.0
        try:
            without = best_of(lambda: predict_formulas(formulas, "mp_shear_modulus"), 1)
        finally:
            shear.trees, shear.tree_weight = trees, weight
        print(f"mp_shear_modulus ({len(shear.module.members)} members) + {len(trees)} trees: "
              f"{len(formulas) / with_trees * 60:>10,.0f} formulas/min; baseline without the trees "
              f"{len(formulas) / without * 60:,.0f}")

    # 3. structure GNN
    try:
        from matfold_kernel.properties.cgcnn import load_cgcnn

        model = load_cgcnn("formation_energy")
        structures = [Structure.from_file(str(CIF))] * 200
        model.predict_batch(structures[:4])
        t = best_of(lambda: model.predict_batch(structures), 1)
        out["cgcnn_structures_per_min"] = int(round(len(structures) / t * 60, -2))
        print(f"CGCNN formation energy, {len(structures)} structures of {len(structures[0])} atoms: "
              f"{len(structures) / t * 60:,.0f} structures/min (goal ≥ 2,000)")
    except Exception as exc:  # the weights may be absent offline
        print(f"CGCNN skipped: {exc}")

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory: {peak_torch:,.0f} MB after the PyTorch work, {peak:,.0f} MB at the end "
          "(includes the one-time ONNX export unless it was cached) (goal < 2,048 MB)")
    if args.record:
        from record import record

        trained = ROOT / "matfold_kernel" / "properties" / "trained"
        out["peak_rss_mb"] = int(round(peak, -1))
        out["shipped_weights_mb"] = round(sum(f.stat().st_size for f in trained.iterdir()) / 2**20)
        print("recorded in", record("prediction", out, "benchmarks/prediction.py",
                                    f"one run, --threads {args.threads} --n {args.n}"))


if __name__ == "__main__":
    main()
