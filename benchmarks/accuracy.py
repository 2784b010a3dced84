"""Accuracy of the shipped composition models on each task's validation split.

    .venv/bin/python benchmarks/accuracy.py [--data DIR] [--backend torch|onnx] [--record]

For every one of the eleven tasks: the val MAE of the shipped ensemble (run through
``predict_formulas``, the code path of ``matfold predict --csv``), CrabNet's
published *test* MAE (the bar; the held-out test split is not here), and two
baselines fitted in the same run on the same training split: ridge regression on
the Magpie-style descriptors (:mod:`matfold_kernel.properties.features`) and the
training mean. Also the uncertainty calibration on val: the share of errors within
1σ and 2σ (68.3 % and 95.4 % for a calibrated Gaussian), and how many runs and members
make the ensemble, with the val MAE of its best single run (what merging gained), and
which point estimate the ensemble reports (``median`` or ``mean`` of its mixture) with
the val MAE the other one would give. Where the ensemble carries gradient-boosted trees
(``matfold blend-trees``): their blend weight and the val MAE of the networks alone.
``--record`` also writes ``benchmarks/results/accuracy.json`` (DESIGN.md's figures table
is built from it by ``benchmarks/design_table.py``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from matfold_kernel.properties import TASKS, load_composition_model, predict_formulas
from matfold_kernel.properties.features import describe
from matfold_kernel.properties.training import load_task_csv

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "materials" / "composition"


def ridge_baseline(train, val, alpha: float = 1.0) -> float:
    x, xv = describe(train.formula.tolist()).astype(np.float64), describe(val.formula.tolist()).astype(np.float64)
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    x, xv = (x - mu) / sd, (xv - mu) / sd
    x = np.hstack([x, np.ones((len(x), 1))])
    xv = np.hstack([xv, np.ones((len(xv), 1))])
    w = np.linalg.solve(x.T @ x + alpha * np.eye(x.shape[1]), x.T @ train.target.to_numpy())
    return float(np.abs(xv @ w - val.target.to_numpy()).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED), help="folder with <task>/{train,val}.csv")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnx"])
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/accuracy.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print(f"{'task':<30} {'n val':>6} {'matfold':>9} {'CrabNet':>9} {'ridge':>9} {'mean':>9} "
          f"{'<1σ':>6} {'<2σ':>6} {'runs':>4} {'memb':>4} {'best run':>9} {'point':>6} {'other':>9} {'trees':>5} "
          f"{'nets':>9} {'unit':<11} beats")
    wins = 0
    rows = {}
    for name, task in TASKS.items():
        folder = Path(args.data) / name
        train, val = load_task_csv(folder / "train.csv"), load_task_csv(folder / "val.csv")
        started = time.perf_counter()
        res = predict_formulas(val.formula.tolist(), name, backend=args.backend)
        elapsed = time.perf_counter() - started
        truth = val.target.to_numpy()
        err = np.abs(res.mean - truth)
        mae = float(np.nanmean(err))
        within1 = float(np.nanmean(err <= res.std))
        within2 = float(np.nanmean(err <= 2 * res.std))
        ridge = ridge_baseline(train, val)
        const = float(np.abs(truth - train.target.mean()).mean())
        model = load_composition_model(name)
        metrics = model.metrics
        other = metrics.get("val_mae_mean" if model.point == "median" else "val_mae_median", float("nan"))
        runs = metrics.get("merged_from", [metrics])
        members = sum(r.get("members", 5) for r in runs)
        best_run = min(r["val_mae"] for r in runs)
        trees = metrics.get("trees") if model.trees is not None else None
        weight = f"{trees['weight']:.2f}" if trees else "-"
        nets = trees["val_mae_networks"] if trees else mae
        beats = mae < task.crabnet_mae
        wins += beats
        rows[name] = {"unit": task.unit, "n_val": len(val), "val_mae": mae, "crabnet_test_mae": task.crabnet_mae,
                      "within_1sigma": within1, "within_2sigma": within2, "ridge_mae": ridge, "mean_mae": const}
        print(f"{name:<30} {len(val):>6} {mae:>9.4g} {task.crabnet_mae:>9.4g} {ridge:>9.4g} {const:>9.4g} "
              f"{within1:>6.1%} {within2:>6.1%} {len(runs):>4} {members:>4} {best_run:>9.4g} {model.point:>6} "
              f"{other:>9.4g} {weight:>5} {nets:>9.4g} {task.unit:<11} "
              f"{'yes' if beats else 'no'}"
              f"  ({len(val) / elapsed:,.0f} formulas/s)")
    print(f"val MAE below CrabNet's test MAE on {wins} of {len(TASKS)} tasks")
    if args.record:
        from record import record

        print("recorded in", record("accuracy", {"tasks": rows}, "benchmarks/accuracy.py",
                                    f"one run, backend {args.backend}, the val split of each task in {args.data}"))


if __name__ == "__main__":
    main()
