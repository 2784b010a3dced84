"""``matfold predict`` and ``matfold train``.

``matfold predict FILE_OR_FORMULA [--json]`` prints the six properties of one
structure file or formula. ``matfold predict --csv IN.csv --task TASK --out OUT.csv``
(or ``--property NAME``) adds ``prediction``, ``uncertainty`` and ``error`` columns
to a table with a ``formula`` column, one output row per input row, same order; a
bad row gets an ``error`` and empty numbers, never a crash.
``matfold train --task TASK`` retrains a shipped composition ensemble.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..errors import MatfoldInputError
from .base import PROPERTIES
from .compnet import CompNetConfig
from .models import shipped_model_path
from .predict import predict, predict_formulas
from .tasks import DEFAULT_TASK, TASKS, require_task
from .training import TrainingPlan, blend_trees, load_task_csv, merge_runs, plan_for, select_runs, train_joint

__all__ = ["add_commands"]


def _cmd_predict(args) -> int:
    if args.csv:
        return _predict_csv(args)
    if not args.input:
        raise MatfoldInputError("give a structure file or a formula, or --csv IN.csv --task TASK --out OUT.csv")

    table = predict(args.input, properties=args.property or None, backend=args.backend)
    if table and table[0]["error"]:
        raise MatfoldInputError(table[0]["error"])
    if args.json:
        rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in table]
        json.dump({"input": args.input, "predictions": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"{args.input} ({table[0]['formula']})")
    for r in table:
        src = "" if r["source"] == "composition" else f"  [{r['source']}]"
        print(f"  {PROPERTIES[r['property']].label:<20} {r['value']:>10.4g} ± {r['uncertainty']:<8.2g} {r['unit']}{src}")
        for w in r["warnings"]:
            print(f"      warning: {w}")
    return 0


def _predict_csv(args) -> int:
    import pandas as pd


    if bool(args.task) == bool(args.property):
        raise MatfoldInputError("with --csv give exactly one of --task TASK or --property NAME")
    if args.property:
        if len(args.property) != 1 or args.property[0] not in DEFAULT_TASK:
            raise MatfoldInputError(f"--property takes one of: {', '.join(DEFAULT_TASK)}")
        task, unit = DEFAULT_TASK[args.property[0]], "property"
    else:
        require_task(args.task)
        task, unit = args.task, "task"
    if not args.out:
        raise MatfoldInputError("--csv needs --out OUT.csv")
    source = Path(args.csv)
    try:
        frame = pd.read_csv(source, keep_default_na=False, dtype=str)
    except FileNotFoundError:
        raise MatfoldInputError("no such file", str(source)) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MatfoldInputError(f"not a readable CSV table ({' '.join(str(exc).split())})", str(source)) from None
    if "formula" not in frame.columns:
        raise MatfoldInputError(f"no 'formula' column (columns are: {', '.join(map(str, frame.columns)) or 'none'})",
                                str(source))
    result = _chunked(frame["formula"].tolist(), task, args, unit)
    frame["prediction"] = [None if np.isnan(v) else float(v) for v in result[0]]
    frame["uncertainty"] = [None if np.isnan(v) else float(v) for v in result[1]]
    frame["error"] = result[2]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False)
    n_bad = sum(1 for e in result[2] if e)
    print(f"{out}: {len(frame)} rows, {len(frame) - n_bad} predicted with {task}, {n_bad} with an error",
          file=sys.stderr)
    return 0


def _chunked(formulas, task, args, unit, chunk: int = 2048):
    """Predict in chunks so a progress bar can move on large tables."""
    means, stds, errors = [], [], []
    bar = None
    if len(formulas) > chunk:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(formulas), desc=f"predict {task}", unit="formula", file=sys.stderr)
        except ImportError:
            bar = None
    for start in range(0, len(formulas), chunk):
        part = formulas[start:start + chunk]
        res = predict_formulas(part, task, model_path=args.model, backend=args.backend, unit=unit)
        means.append(res.mean)
        stds.append(res.std)
        errors += res.errors
        if bar:
            bar.update(len(part))
    if bar:
        bar.close()
    if not formulas:
        return np.zeros(0), np.zeros(0), []
    return np.concatenate(means), np.concatenate(stds), errors


def _cmd_train(args) -> int:
    tasks = [t.strip() for t in args.task.split(",") if t.strip()]
    for task in tasks:
        require_task(task)
    data = Path(args.data_dir)
    if not (data / tasks[0] / "train.csv").is_file():
        raise MatfoldInputError(f"no {tasks[0]}/train.csv under {data}: pass --data-dir, the folder that holds "
                                "the task folders (../shared/data/materials/composition in the repository)")
    n = len(load_task_csv(data / tasks[0] / "train.csv"))
    plan = plan_for(n, args.budget)
    if args.epochs:
        plan = TrainingPlan(epochs=args.epochs, batch_size=plan.batch_size)
    plan.seed = args.seed
    plan.loss, plan.batching = args.loss, args.batching
    if args.lr is not None:
        plan.lr = args.lr
    if args.dropout is not None or args.cell_size or args.hull_offset or args.d_model is not None:
        size = {"cell_size": args.cell_size, "hull_offset": args.hull_offset,
                **({} if args.dropout is None else {"dropout": args.dropout})}
        if args.d_model is not None:
            if args.d_model < 8 or args.d_model % 4:
                raise MatfoldInputError(f"--d-model {args.d_model}: give a multiple of 4 (the attention heads), "
                                        "at least 8; the default is 128")
            size.update(d_model=args.d_model, d_ff=2 * args.d_model)
        plan.config = CompNetConfig(**size)
    if args.init_from:
        if not Path(args.init_from).is_file():
            raise MatfoldInputError(f"--init-from: no checkpoint {args.init_from}")
        plan.init_from = str(args.init_from)
    if len(tasks) == 1:
        outs = {tasks[0]: Path(args.out) if args.out else shipped_model_path(tasks[0])}
        previous = {tasks[0]: Path(args.add_to)} if args.add_to else {}
    else:  # --out and --add-to name folders holding <task>.pt
        outs = {t: Path(args.out) / f"{t}.pt" if args.out else shipped_model_path(t) for t in tasks}
        previous = {t: Path(args.add_to) / f"{t}.pt" for t in tasks} if args.add_to else {}
    for path in previous.values():
        if not path.is_file():
            raise MatfoldInputError(f"--add-to: no checkpoint {path}")
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    if previous:
        with tempfile.TemporaryDirectory() as tmp:
            runs = {t: Path(tmp) / f"{t}.pt" for t in tasks}
            train_joint(tasks, data, runs, plan=plan, threads=args.threads, progress=True, log=log)
            for t in tasks:
                merge_runs(t, data, [previous[t], runs[t]], outs[t], log=log, keep=args.keep)
    else:
        train_joint(tasks, data, outs, plan=plan, threads=args.threads, progress=True, log=log)
    for t in tasks:
        print(outs[t])
    return 0


def _cmd_merge(args) -> int:
    require_task(args.task)
    for path in args.runs:
        if not Path(path).is_file():
            raise MatfoldInputError(f"no checkpoint {path}")
    out = Path(args.out) if args.out else shipped_model_path(args.task)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    parts = None
    if args.select or args.weighted:
        parts = select_runs(args.task, Path(args.data_dir), args.runs, keep=args.keep, log=log,
                            weighted=args.weighted)
    merge_runs(args.task, Path(args.data_dir), args.runs, out, log=log, keep=args.keep, parts=parts)
    print(out)
    return 0


def _cmd_blend_trees(args) -> int:
    require_task(args.task)
    model = Path(args.model) if args.model else shipped_model_path(args.task)
    if not model.is_file():
        raise MatfoldInputError(f"no checkpoint {model}")
    out = Path(args.out) if args.out else model
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    inputs = [t for t in (args.tree_inputs or "").split(",") if t]
    blend_trees(args.task, Path(args.data_dir), model, out, seed=args.seed, threads=args.threads, log=log,
                inputs=inputs)
    print(out)
    return 0


def add_commands(sub) -> None:
    """Add ``predict``, ``train``, ``merge`` and ``blend-trees`` to the ``matfold`` sub-command parser."""
    pred = sub.add_parser(
        "predict", help="predict crystal properties (with uncertainty) for a structure, formula or CSV",
        description="Formation energy (eV/atom), band gap (eV), bulk and shear modulus (GPa), Debye temperature "
                    "(K) and energy above hull (eV/atom) with one-sigma uncertainties.",
    )
    pred.add_argument("input", nargs="?", help="structure file (CIF, POSCAR, extxyz) or formula, e.g. LiFePO4")
    pred.add_argument("--json", action="store_true", help="print JSON")
    pred.add_argument("--csv", metavar="IN.csv", help="table with a 'formula' column")
    pred.add_argument("--task", help=f"with --csv: one of {', '.join(TASKS)} (values in the task's unit)")
    pred.add_argument("--property", action="append", choices=list(PROPERTIES),
                      help="property to predict (repeatable); with --csv, the default model of one property")
    pred.add_argument("--out", metavar="OUT.csv", help="with --csv: where to write the table")
    pred.add_argument("--model", default=None, help="a checkpoint from `matfold train --out` instead of the shipped one")
    pred.add_argument("--backend", choices=["auto", "torch", "onnx"], default="auto",
                      help="PyTorch or ONNX Runtime (default auto: PyTorch)")
    pred.set_defaults(func=_cmd_predict)

    train = sub.add_parser("train", help="train a composition model from the task data",
                           description="Train one seeded run of a task (or of tasks that share their training formulas): "
                                       "five snapshot members; `matfold merge` makes an ensemble of several runs.")
    train.add_argument("--task", required=True,
                       help="one of " + ", ".join(TASKS) + "; or several joined by commas to train one network "
                            "on tasks that share their training formulas (then --out and --add-to are folders)")
    train.add_argument("--data-dir", default=str(Path("..") / "shared" / "data" / "materials" / "composition"),
                       help="folder with <task>/{train,val}.csv (default ../shared/data/materials/composition)")
    train.add_argument("--out", default=None, help="checkpoint to write (default: the shipped model file)")
    train.add_argument("--budget", type=int, default=800_000, help="training samples seen in all (default 800000)")
    train.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    train.add_argument("--seed", type=int, default=20261122, help="random seed (default 20261122)")
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    train.add_argument("--lr", type=float, default=None, help="peak learning rate (default 1e-3)")
    train.add_argument("--dropout", type=float, default=None, help="dropout of the network (default 0.1)")
    train.add_argument("--d-model", type=int, default=None, metavar="N",
                       help="width of the network (default 128; the feed-forward layers are 2N wide); runs of "
                            "different widths merge into one ensemble")
    train.add_argument("--cell-size", action="store_true",
                       help="let the network read the number of atoms of each formula as written "
                            "(Cl4Hg4N4: 12), a hint of the polymorph in the Materials Project tasks")
    train.add_argument("--hull-offset", action="store_true",
                       help="matbench_mp_e_form: learn the formation energy above the convex hull of the "
                            "training phases; the model adds that hull energy back")
    train.add_argument("--loss", choices=["l1", "laplace"], default="l1",
                       help="l1: L1 for the mean, Laplace NLL for the scale (default); laplace: one NLL for both")
    train.add_argument("--batching", choices=["width", "random"], default="width",
                       help="width: batches of formulas with equal element counts (default, ~2x faster); "
                            "random: plain shuffled batches")
    train.add_argument("--add-to", metavar="CHECKPOINT", default=None,
                       help="write the union of this checkpoint's members and the new run's, recalibrated "
                            "(independent seeds make a better ensemble than one run's snapshots)")
    train.add_argument("--init-from", metavar="CHECKPOINT", default=None,
                       help="start from the last member of another task's checkpoint (transfer learning)")
    train.add_argument("--keep", type=int, default=None, metavar="N",
                       help="with --add-to: keep the last N snapshot members of each single run (default all 5)")
    train.set_defaults(func=_cmd_train)

    merge = sub.add_parser("merge", help="merge trained runs of one task into one ensemble, recalibrated on val",
                           description="One ensemble from the members of several `matfold train` runs of a task.")
    merge.add_argument("runs", nargs="+", metavar="CHECKPOINT", help="checkpoints written by `matfold train`")
    merge.add_argument("--task", required=True, help=", ".join(TASKS))
    merge.add_argument("--data-dir", default=str(Path("..") / "shared" / "data" / "materials" / "composition"),
                       help="folder with <task>/{train,val}.csv (default ../shared/data/materials/composition)")
    merge.add_argument("--keep", type=int, default=None, metavar="N",
                       help="keep the last N snapshot members of each run (default all)")
    merge.add_argument("--select", action="store_true",
                       help="merge only the runs chosen by greedy forward selection on val MAE")
    merge.add_argument("--weighted", action="store_true",
                       help="like --select, but a run may be chosen more than once (it then weighs more) and "
                            "the runs inside earlier merges are chosen one by one")
    merge.add_argument("--out", default=None, help="checkpoint to write (default: the shipped model file)")
    merge.set_defaults(func=_cmd_merge)

    blend = sub.add_parser("blend-trees", help="add gradient-boosted trees to an ensemble, weight chosen on val",
                           description="Fit LightGBM trees on the composition descriptor of a task's train split and "
                                       "blend them into the ensemble's value with the weight of lowest val MAE.")
    blend.add_argument("--task", required=True, help=", ".join(TASKS))
    blend.add_argument("--data-dir", default=str(Path("..") / "shared" / "data" / "materials" / "composition"),
                       help="folder with <task>/{train,val}.csv (default ../shared/data/materials/composition)")
    blend.add_argument("--model", default=None, help="ensemble checkpoint (default: the shipped model file)")
    blend.add_argument("--out", default=None, help="checkpoint to write (default: the --model file)")
    blend.add_argument("--seed", type=int, default=1, help="random seed of the trees (default 1)")
    blend.add_argument("--threads", type=int, default=1, help="LightGBM threads (default 1)")
    blend.add_argument("--tree-inputs", default=None, metavar="TASK[,TASK]",
                       help="tasks whose shipped models' predictions the trees also read (e.g. "
                            "aflow__ael_bulk_modulus_vrh for matbench_log_kvrh); the model then needs those files")
    blend.set_defaults(func=_cmd_blend_trees)
