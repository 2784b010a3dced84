"""How optimistic is a val MAE when val also chose the runs of the ensemble?

The shipped ensembles are assembled by greedy forward selection of training runs on
val (``matfold merge --select``), so their val MAE is no longer an unbiased estimate
of the test MAE. This script splits each task's val set into two seeded halves, A and
B, and prints the MAE on B of:

* ``all runs``: every run of the task, no selection (the baseline);
* ``best run on A``: the single run that is best on A;
* ``chosen on A``: the greedy ensemble chosen on A, scored on unseen B (honest);
* ``chosen on B``: the greedy ensemble chosen on B itself (what a val figure reports);
* ``weighted A`` / ``weighted B``: the same with replacement (``matfold merge
  --weighted``: a run chosen k times weighs k), chosen on A and on B.

The gap between "chosen on A" and "chosen on B" is the optimism of the shipped val
figures; between the weighted pair, that of weighted selection. Runs are
the checkpoints under ``build/composition-runs`` that
``scripts/train_composition_models.sh`` writes (or any folder, ``--runs``), each counted
with its last 2 snapshots as in the shipped merges; a merge among them (a shipped file
copied there) counts as the runs inside it.

    .venv/bin/python benchmarks/selection.py [--runs build/composition-runs]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np

from matfold_kernel.properties import TASKS
from matfold_kernel.properties.training import greedy_mae, greedy_selection, load_task_csv, part_outputs, run_parts

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "materials" / "composition"


def runs_by_task(folder: Path) -> dict[str, list[Path]]:
    import torch

    found = defaultdict(list)
    for path in sorted(folder.rglob("*.pt")):
        if path.name.endswith(".s1.pt"):  # the first seed of a run merged into v1/<task>.pt
            continue
        found[torch.load(path, map_location="cpu", weights_only=False)["task"]].append(path)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=str(ROOT / "build" / "composition-runs"))
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--seed", type=int, default=0, help="seed of the split into halves")
    parser.add_argument("--task", action="append", choices=list(TASKS), help="only these tasks (repeatable)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    runs = runs_by_task(Path(args.runs))
    print(f"{'task':<30} {'runs':>4} {'all runs':>9} {'best A':>9} {'chosen A':>9} {'chosen B':>9} {'optimism':>8} "
          f"{'weighted A':>10} {'weighted B':>10} {'optimism':>8}")
    for name in args.task or TASKS:
        if not runs.get(name):
            print(f"{name:<30} no runs under {args.runs}")
            continue
        val = load_task_csv(Path(args.data) / name / "val.csv")
        truth = val.target.to_numpy(np.float64)
        outs = part_outputs(run_parts(name, runs[name], keep=2, split=True), val.formula)
        order = np.random.default_rng(args.seed).permutation(len(val))
        a, b = order[: len(val) // 2], order[len(val) // 2:]
        on = lambda rows, ks: [outs[k].rows(rows) for k in ks]  # noqa: E731
        everything = list(range(len(outs)))
        chosen_a = greedy_selection(on(a, everything), truth[a])
        chosen_b = greedy_selection(on(b, everything), truth[b])
        score_b = lambda ks: greedy_mae(on(b, ks), truth[b])  # noqa: E731
        honest, reported = score_b(chosen_a), score_b(chosen_b)
        w_honest = score_b(greedy_selection(on(a, everything), truth[a], replacement=True))
        w_reported = score_b(greedy_selection(on(b, everything), truth[b], replacement=True))
        print(f"{name:<30} {len(outs):>4} {score_b(everything):>9.4g} {score_b(chosen_a[:1]):>9.4g} "
              f"{honest:>9.4g} {reported:>9.4g} {honest / reported - 1:>8.1%} "
              f"{w_honest:>10.4g} {w_reported:>10.4g} {w_honest / w_reported - 1:>8.1%}")


if __name__ == "__main__":
    main()
