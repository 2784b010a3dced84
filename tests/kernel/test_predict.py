"""Composition ensembles: training, checkpoints, ONNX parity, predict() and the CLI contract.

The models here are tiny ones trained by the tests on 400 real formulas
(tests/data/composition); the loading and prediction code is the one users run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from matfold_kernel.cli import main  # noqa: E402
from matfold_kernel.properties import compnet, energy_above_hull, predict_formulas  # noqa: E402
from matfold_kernel.properties.ensemble import CompositionEnsemble  # noqa: E402
from matfold_kernel.properties.training import TrainingPlan, load_task_csv, train_task  # noqa: E402

from tests.support.paths import DATA

DATA = DATA / "composition"
TINY = compnet.CompNetConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, n_fourier=4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("models") / "mp_bulk_modulus.pt"
    ckpt = train_task("mp_bulk_modulus", DATA, out, plan=TrainingPlan(epochs=30, batch_size=32, config=TINY),
                      progress=False, log=lambda m: None)
    return out, ckpt


def test_training_learns_and_reports_calibration(tiny):
    path, ckpt = tiny
    train = load_task_csv(DATA / "mp_bulk_modulus" / "train.csv")
    val = load_task_csv(DATA / "mp_bulk_modulus" / "val.csv")
    constant = np.abs(val.target - train.target.mean()).mean()
    m = ckpt["metrics"]
    assert m["val_mae"] < 0.8 * constant, (m["val_mae"], constant)
    assert len(ckpt["members"]) == 5 and len(m["member_val_mae"]) == 5
    # the calibration factor makes 68 % of val errors fall within 1 sigma (by construction, up to ties)
    assert m["val_within_1sigma"] == pytest.approx(0.6827, abs=0.02)
    assert m["val_within_2sigma"] > m["val_within_1sigma"]
    assert m["element_counts"]["O"] > 0 and "Pu" not in m["element_counts"]
    assert path.stat().st_size < 1_000_000


def test_checkpoint_round_trip_gives_the_same_numbers(tiny):
    path, _ = tiny
    a = predict_formulas(["NaCl", "TiO2", "Fe2O3"], "mp_bulk_modulus", model_path=path, backend="torch")
    ens = CompositionEnsemble.load(path)
    idx, frac = compnet.encode_compositions(["NaCl", "TiO2", "Fe2O3"])
    b = ens.predict_arrays(idx, frac)
    np.testing.assert_allclose(a.mean, b.value, rtol=1e-6)
    assert np.all(a.std > 0)
    # the order of elements in a formula does not matter
    c = predict_formulas(["ClNa", "O2Ti"], "mp_bulk_modulus", model_path=path)
    np.testing.assert_allclose(c.mean, a.mean[:2], rtol=1e-5)


def test_seeded_training_is_reproducible(tmp_path):
    torch.set_num_threads(1)
    plan = lambda: TrainingPlan(epochs=3, batch_size=64, config=TINY)  # noqa: E731
    a = train_task("mp_bulk_modulus", DATA, None, plan=plan(), progress=False, log=lambda m: None)
    b = train_task("mp_bulk_modulus", DATA, None, plan=plan(), progress=False, log=lambda m: None)
    assert a["metrics"]["val_mae"] == b["metrics"]["val_mae"]


def test_onnx_matches_pytorch(tiny, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("MATFOLD_MODEL_DIR", str(tmp_path))
    path, _ = tiny
    ens = CompositionEnsemble.load(path)
    formulas = ["NaCl", "LiFePO4", "Ba2YCu3O7", "Si", "K3[Fe(CN)6]", "Cs2AgBiBr6", "Fe0.9Ni0.1"]
    idx, frac = compnet.encode_compositions(formulas)
    torch_out = ens.raw_outputs(idx, frac, backend="torch")
    onnx_out = ens.raw_outputs(idx, frac, backend="onnx")
    assert np.abs(torch_out - onnx_out).max() <= 1e-4
    # a batch of a different size and width than the one traced
    idx2, frac2 = compnet.encode_compositions(["O"] * 3)
    assert np.abs(ens.raw_outputs(idx2, frac2, "torch") - ens.raw_outputs(idx2, frac2, "onnx")).max() <= 1e-4
    # the members keep their own weights in the shared graph, and the export is cached on disk
    assert np.ptp(onnx_out[:, :, 0], axis=1).max() > 1e-3
    assert len(list((tmp_path / "onnx").glob("*/member-*.onnx"))) == 5
    again = CompositionEnsemble.load(path)
    np.testing.assert_allclose(again.raw_outputs(idx, frac, backend="onnx"), onnx_out, atol=0)


def test_unseen_elements_are_flagged(tiny):
    path, _ = tiny
    res = predict_formulas(["PuO2", "Og2", "MgO"], "mp_bulk_modulus", model_path=path)
    assert "Pu never occurs in the mp_bulk_modulus training data" in res.warnings[0][0]
    assert np.isnan(res.mean[1]) and "Og" in res.errors[1]
    assert res.errors[2] == "" and np.isfinite(res.mean[2])


def test_log_tasks_convert_to_gpa(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "kvrh.pt"
    train_task("matbench_log_kvrh", DATA, out, plan=TrainingPlan(epochs=3, batch_size=64, config=TINY),
               progress=False, log=lambda m: None)
    log_ = predict_formulas(["MgO"], "matbench_log_kvrh", model_path=out, unit="task")
    gpa = predict_formulas(["MgO"], "matbench_log_kvrh", model_path=out, unit="property")
    assert gpa.mean[0] == pytest.approx(10 ** log_.mean[0], rel=1e-9)
    assert gpa.std[0] == pytest.approx(np.log(10) * gpa.mean[0] * log_.std[0], rel=1e-9)


def test_cli_csv_contract(tiny, tmp_path, capsys):
    path, _ = tiny
    src = tmp_path / "in.csv"
    pd.DataFrame({"id": [1, 2, 3, 4, 5], "formula": ["MgO", "Xx2", "NaN", "", "Fe2(SO4"]}).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    code = main(["predict", "--csv", str(src), "--task", "mp_bulk_modulus", "--out", str(out), "--model", str(path)])
    assert code == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == ["id", "formula", "prediction", "uncertainty", "error"]
    assert table.id.tolist() == [1, 2, 3, 4, 5] and table.formula.tolist()[:3] == ["MgO", "Xx2", "NaN"]
    assert table.error[0] == "" and float(table.prediction[0]) > 0 and float(table.uncertainty[0]) > 0
    assert "unknown element 'Xx'" in table.error[1] and table.prediction[1] == ""
    assert table.error[2] == ""  # sodium nitride
    assert "empty formula" in table.error[3] and "unbalanced" in table.error[4]
    direct = predict_formulas(["MgO"], "mp_bulk_modulus", model_path=path)
    assert float(table.prediction[0]) == pytest.approx(direct.mean[0], rel=1e-6)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--task", "mp_bulk_modulus"], "no 'formula' column (columns are: name, target)"),
        (["--task", "nope"], "unknown task 'nope'"),
        ([], "exactly one of --task TASK or --property NAME"),
    ],
)
def test_cli_csv_refusals(tmp_path, capsys, args, words):
    src = tmp_path / "in.csv"
    src.write_text("name,target\nMgO,1\n")
    code = main(["predict", "--csv", str(src), "--out", str(tmp_path / "o.csv"), *args])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.count("\n") == 1
    assert not (tmp_path / "o.csv").exists()


def test_cli_train_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "m.pt"
    proc = subprocess.run([sys.executable, "-m", "matfold_kernel", "train", "--task", "mp_bulk_modulus",
                           "--data-dir", str(DATA), "--epochs", "2", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "mp_bulk_modulus: val MAE" in proc.stderr
    assert CompositionEnsemble.load(out).task == "mp_bulk_modulus"


def test_energy_above_hull_against_mp_references():
    # NaCl is on the hull at its MP formation energy; 0.1 eV/atom higher is 0.1 above it
    ref = energy_above_hull("NaCl", 0.0).hull_formation_energy
    assert ref < -1.5
    assert energy_above_hull("NaCl", ref).e_above_hull == pytest.approx(0.0, abs=1e-9)
    assert energy_above_hull("NaCl", ref + 0.1).e_above_hull == pytest.approx(0.1, abs=1e-9)
    low = energy_above_hull("NaCl", ref - 0.05)
    assert low.e_above_hull == 0 and low.below_hull_by == pytest.approx(0.05, abs=1e-9)
    # a composition between two known phases decomposes into phases of the Na-Cl system
    mixed = energy_above_hull("Na3Cl", 0.0)
    assert set(mixed.decomposition) <= {"Na", "NaCl", "Na3Cl", "Na2Cl", "NaCl3", "NaCl7"}
    assert mixed.e_above_hull > 0


def test_merging_two_seeds_keeps_every_member_and_recalibrates(tiny, tmp_path):
    from matfold_kernel.properties.training import merge_runs

    torch.set_num_threads(1)
    path, first = tiny
    plan = TrainingPlan(epochs=30, batch_size=32, config=TINY, seed=7)
    other = tmp_path / "seed7.pt"
    second = train_task("mp_bulk_modulus", DATA, other, plan=plan, progress=False, log=lambda m: None)
    merged = merge_runs("mp_bulk_modulus", DATA, [path, other], tmp_path / "merged.pt", log=lambda m: None)
    assert len(merged["members"]) == 10
    assert merged["metrics"]["seed"] == [20261122, 7]
    assert merged["metrics"]["val_within_1sigma"] == pytest.approx(0.6827, abs=0.02)
    # the merged mixture is the union of the two runs' members: its mean is the mean of
    # their means, and it reports the point estimate that is better on val
    idx, frac = compnet.encode_compositions(["MgO", "TiC"])
    a, b, m = (CompositionEnsemble.load(p).predict_arrays(idx, frac) for p in (path, other, tmp_path / "merged.pt"))
    np.testing.assert_allclose(m.mean, (a.mean + b.mean) / 2, rtol=1e-4)
    np.testing.assert_allclose(m.members, np.concatenate([a.members, b.members], axis=1), rtol=1e-5)
    mm = merged["metrics"]
    assert mm["point"] == CompositionEnsemble.load(tmp_path / "merged.pt").point
    assert mm["val_mae"] == min(mm["val_mae_mean"], mm["val_mae_median"])
    shown = predict_formulas(["MgO", "TiC"], "mp_bulk_modulus", model_path=tmp_path / "merged.pt")
    np.testing.assert_allclose(shown.mean, m.median if mm["point"] == "median" else m.mean, rtol=1e-6)
    assert second["metrics"]["val_mae"] != first["metrics"]["val_mae"]


def test_width_batches_compute_what_padded_batches_do():
    # training trims each batch to its widest formula; the padding it drops must change nothing
    torch.manual_seed(0)
    net = compnet.CompNet(TINY).eval()
    idx, frac = compnet.encode_compositions(["NaCl", "KBr", "MgO", "LiF", "Ba2YCu3O7"])
    full = net(torch.from_numpy(idx[:4]), torch.from_numpy(frac[:4]))
    assert idx.shape[1] == 4  # padded for the widest formula
    trimmed = net(torch.from_numpy(idx[:4, :2]), torch.from_numpy(frac[:4, :2]))
    torch.testing.assert_close(trimmed, full, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batching", ["width", "random"])
def test_every_training_row_is_in_one_batch_per_epoch(batching):
    from matfold_kernel.properties.training import _batches

    width = np.array([2, 3, 2, 5, 3, 3, 2, 1, 2, 4, 2])
    batches = _batches(width, 3, batching, np.random.default_rng(0))
    rows = np.concatenate(batches)
    assert sorted(rows) == list(range(len(width)))
    assert max(len(b) for b in batches) == 3
    if batching == "width":
        assert all(len(set(width[b])) == 1 for b in batches)


def test_joint_training_gives_each_task_an_ordinary_model(tmp_path):
    from matfold_kernel.properties.training import train_joint

    torch.set_num_threads(1)
    tasks = ["matbench_log_kvrh", "matbench_log_gvrh"]
    outs = {t: tmp_path / f"{t}.pt" for t in tasks}
    ckpts = train_joint(tasks, DATA, outs, plan=TrainingPlan(epochs=20, batch_size=32, config=TINY),
                        progress=False, log=lambda m: None)
    for task, other in (tasks, tasks[::-1]):
        ens = CompositionEnsemble.load(outs[task])
        assert ens.task == task and ckpts[task]["metrics"]["trained_with"] == [other]
        assert all(m.head[-1].out_features == 2 for m in ens.module.members)
        val = load_task_csv(DATA / task / "val.csv")
        pred = predict_formulas(list(val.formula), task, model_path=outs[task])
        # each checkpoint keeps its own output pair and target scaling
        assert np.abs(pred.mean - val.target.to_numpy()).mean() == pytest.approx(
            ckpts[task]["metrics"]["val_mae"], rel=1e-3)
        assert abs(pred.mean.mean() - val.target.mean()) < 0.15
    # one shared network: every weight is common except the output pair each task keeps
    a, b = (CompositionEnsemble.load(outs[t]).module.members[0].state_dict() for t in tasks)
    differ = [name for name in a if not torch.equal(a[name], b[name])]
    assert differ == ["head.5.weight", "head.5.bias"]
    # bulk moduli are larger than shear moduli, and the two heads have learnt it
    k = predict_formulas(["MgO", "NaCl", "Cu"], tasks[0], model_path=outs[tasks[0]]).mean
    g = predict_formulas(["MgO", "NaCl", "Cu"], tasks[1], model_path=outs[tasks[1]]).mean
    assert (k > g).all()


def test_joint_training_refuses_tasks_with_different_training_formulas(tmp_path):
    from matfold_kernel.errors import MatfoldInputError
    from matfold_kernel.properties.training import train_joint

    with pytest.raises(MatfoldInputError, match="do not share their training formulas"):
        train_joint(["matbench_log_kvrh", "mp_bulk_modulus"], DATA, None,
                    plan=TrainingPlan(epochs=1, batch_size=32, config=TINY), progress=False)
    code = main(["train", "--task", "matbench_log_kvrh,mp_bulk_modulus", "--data-dir", str(DATA),
                 "--epochs", "1", "--out", str(tmp_path)])
    assert code == 2 and not list(tmp_path.iterdir())


def test_merging_can_keep_the_last_snapshots_of_each_run(tiny, tmp_path):
    from matfold_kernel.properties.training import merge_runs

    torch.set_num_threads(1)
    path, first = tiny
    runs = []
    for seed in (7, 8):
        runs.append(tmp_path / f"seed{seed}.pt")
        train_task("mp_bulk_modulus", DATA, runs[-1], plan=TrainingPlan(epochs=10, batch_size=32, config=TINY,
                   seed=seed), progress=False, log=lambda m: None)
    quiet = lambda m: None  # noqa: E731
    two = merge_runs("mp_bulk_modulus", DATA, [path, runs[0]], tmp_path / "two.pt", log=quiet, keep=2,
                     min_members=4)
    assert len(two["members"]) == 4
    # the kept members are each run's last snapshots
    for got, want in zip(two["members"][:2], first["members"][-2:]):
        assert all(torch.equal(got[k], want[k]) for k in want)
    # a merge of a merge keeps the earlier merge whole and lists every run once
    three = merge_runs("mp_bulk_modulus", DATA, [tmp_path / "two.pt", runs[1]], None, log=quiet, keep=2)
    assert len(three["members"]) == 6
    assert three["metrics"]["seed"] == [20261122, 7, 8]
    assert [r["members"] for r in three["metrics"]["merged_from"]] == [2, 2, 2]
    # two runs at --keep 2 would be 4 members: an ensemble has at least 5, so each keeps 3
    out = tmp_path / "cli.pt"
    assert main(["merge", "--task", "mp_bulk_modulus", "--data-dir", str(DATA), "--keep", "2", "--out", str(out),
                 str(path), str(runs[0])]) == 0
    merged = CompositionEnsemble.load(out)
    assert len(merged.module.members) == 6
    assert [r["members"] for r in merged.metrics["merged_from"]] == [3, 3]
    # one run alone keeps all its 5 snapshots
    assert len(merge_runs("mp_bulk_modulus", DATA, [runs[1]], None, log=quiet, keep=2)["members"]) == 5
    assert main(["merge", "--task", "mp_bulk_modulus", "--data-dir", str(DATA), "--out", str(out),
                 str(path), str(tmp_path / "nope.pt")]) == 2


def test_selection_keeps_runs_that_help_and_leaves_out_a_bad_one(tiny, tmp_path):
    from matfold_kernel.properties.training import select_runs

    torch.set_num_threads(1)
    path, first = tiny
    good, bad = tmp_path / "good.pt", tmp_path / "bad.pt"
    train_task("mp_bulk_modulus", DATA, good, plan=TrainingPlan(epochs=30, batch_size=32, config=TINY, seed=5),
               progress=False, log=lambda m: None)
    # a bad run: the same recipe for one epoch, then made confidently wrong (its mean output
    # moved by +2 standard deviations of the target, its scale shrunk)
    ckpt = train_task("mp_bulk_modulus", DATA, None, plan=TrainingPlan(epochs=1, batch_size=32, config=TINY, seed=6),
                      progress=False, log=lambda m: None)
    for member in ckpt["members"]:
        member["head.5.bias"] += torch.tensor([2.0, -2.0], dtype=member["head.5.bias"].dtype)
    torch.save(ckpt, bad)
    maes = {p: CompositionEnsemble.load(p).metrics["val_mae"] for p in (path, good, bad)}
    chosen = [p.path for p in select_runs("mp_bulk_modulus", DATA, [bad, path, good], log=lambda m: None)]
    assert chosen[0] == str(min(maes, key=maes.get)) and str(bad) not in chosen
    out = tmp_path / "selected.pt"
    assert main(["merge", "--task", "mp_bulk_modulus", "--data-dir", str(DATA), "--select", "--out", str(out),
                 str(bad), str(path), str(good)]) == 0
    merged = CompositionEnsemble.load(out).metrics
    assert merged["val_mae"] <= min(maes.values()) + 1e-9
    assert len(merged["merged_from"]) == len(chosen)


def test_init_from_starts_from_another_tasks_network(tiny, tmp_path):
    from matfold_kernel.errors import MatfoldInputError
    from matfold_kernel.properties.training import train_joint

    torch.set_num_threads(1)
    path, source = tiny
    # a learning rate of ~0 leaves the starting weights in place, so the members show where training began
    plan = TrainingPlan(epochs=2, batch_size=64, config=TINY, lr=1e-12, init_from=str(path))
    ckpt = train_task("matbench_log_kvrh", DATA, None, plan=plan, progress=False, log=lambda m: None)
    start = source["members"][-1]
    assert all(torch.allclose(ckpt["members"][-1][k].float(), start[k].float(), atol=1e-3) for k in start)
    assert ckpt["metrics"]["init_from"] == {"task": "mp_bulk_modulus", "val_mae": source["metrics"]["val_mae"],
                                            "fresh": []}
    # a joint network has its own output layer; everything else is taken over
    joint = train_joint(["matbench_log_kvrh", "matbench_log_gvrh"], DATA, None, plan=plan, progress=False,
                        log=lambda m: None)
    assert joint["matbench_log_gvrh"]["metrics"]["init_from"]["fresh"] == ["head.5.bias", "head.5.weight"]
    assert torch.allclose(joint["matbench_log_gvrh"]["members"][-1]["encoder.layers.0.linear1.weight"].float(),
                          start["encoder.layers.0.linear1.weight"].float(), atol=1e-3)
    # a merged ensemble's model card still says which run was transferred from where
    from matfold_kernel.properties import composition_card
    from matfold_kernel.properties.training import merge_runs

    torch.save(ckpt, tmp_path / "transfer.pt")
    own = tmp_path / "own.pt"
    train_task("matbench_log_kvrh", DATA, own, plan=TrainingPlan(epochs=2, batch_size=64, config=TINY),
               progress=False, log=lambda m: None)
    merge_runs("matbench_log_kvrh", DATA, [own, tmp_path / "transfer.pt"], tmp_path / "merged.pt",
               log=lambda m: None)
    runs = composition_card(CompositionEnsemble.load(tmp_path / "merged.pt")).extra["runs"]
    assert [r.get("init_from") for r in runs] == [None, "mp_bulk_modulus"]
    assert [r["dropout"] for r in runs] == [TINY.dropout] * 2
    other = TrainingPlan(epochs=2, batch_size=64, config=compnet.CompNetConfig(d_model=32, n_layers=1, n_heads=2,
                         d_ff=32, n_fourier=4), init_from=str(path))
    with pytest.raises(MatfoldInputError, match="another size"):
        train_task("matbench_log_kvrh", DATA, None, plan=other, progress=False, log=lambda m: None)


def test_greedy_selection_adds_runs_whose_errors_cancel_and_stops():
    from matfold_kernel.properties.training import RunOutputs, greedy_mae, greedy_selection

    truth = np.linspace(0.0, 10.0, 50)

    def run(pred, members=2, scale=0.1):
        return RunOutputs(np.repeat(pred[:, None], members, axis=1), np.full((len(pred), members), scale))

    runs = [run(truth + 5.0), run(truth + 1.0), run(truth - 1.2), run(truth + 0.5 * np.sin(truth))]
    chosen = greedy_selection(runs, truth)
    # the best run first, then the ones that pull the ensemble toward the truth; the +5 run never helps
    assert chosen[0] == 3 and 0 not in chosen
    maes = [greedy_mae([runs[k] for k in chosen[:j + 1]], truth) for j in range(len(chosen))]
    assert all(b < a for a, b in zip(maes, maes[1:]))
    # members weight the ensemble: the mean of a 2-member run at +1 and a 6-member run at -1 is
    # off by 0.5, and the mixture median sits with the majority, off by about 1; the lower counts
    assert greedy_mae([run(truth + 1.0, 2), run(truth - 1.0, 6)], truth) == pytest.approx(0.5)
    # three members at the truth and two far off: the median ignores the outliers, the mean does not
    outliers = [run(truth, 3, scale=0.001), run(truth + 4.0, 2, scale=0.001)]
    assert greedy_mae(outliers, truth) < 0.01


def test_selection_with_replacement_weighs_a_run_chosen_twice():
    from matfold_kernel.properties.training import RunOutputs, greedy_mae, greedy_selection

    truth = np.linspace(0.0, 10.0, 50)

    def run(pred, members=2, scale=0.01):
        return RunOutputs(np.repeat(pred[:, None], members, axis=1), np.full((len(pred), members), scale))

    # one run 1 above, one 2 below: only twice the first and once the second average to the truth
    runs = [run(truth + 1.0), run(truth - 2.0)]
    assert greedy_selection(runs, truth) == [0, 1]
    chosen = greedy_selection(runs, truth, replacement=True)
    assert sorted(chosen) == [0, 0, 1]
    assert greedy_mae([runs[k] for k in chosen], truth) == pytest.approx(0.0, abs=1e-9)
    assert len(greedy_selection(runs, truth, replacement=True, max_picks=2)) == 2
    # a run whose members carry weight 2 (an earlier weighted merge) scores as the run listed twice
    rng = np.random.default_rng(0)
    mus, scales = truth[:, None] + rng.normal(0, 1, (50, 3)), rng.uniform(0.1, 1, (50, 3))
    once, heavy = RunOutputs(mus[:, :1], scales[:, :1]), RunOutputs(mus[:, 1:], scales[:, 1:], np.array([2.0, 2.0]))
    light = RunOutputs(mus[:, 1:], scales[:, 1:])
    assert greedy_mae([once, heavy], truth) == pytest.approx(greedy_mae([once, light, light], truth), rel=1e-12)
    assert greedy_mae([once, heavy], truth) != pytest.approx(greedy_mae([once, light], truth), rel=1e-6)


def test_member_weights_act_as_repeated_members(tiny, tmp_path):
    from matfold_kernel.properties.ensemble import laplace_mixture_median, mixture_prediction

    rng = np.random.default_rng(3)
    mus, scales = rng.normal(size=(40, 3)), rng.uniform(0.1, 1.0, size=(40, 3))
    twice = mixture_prediction(mus[:, [0, 0, 1, 2]], scales[:, [0, 0, 1, 2]])
    weighted = mixture_prediction(mus, scales, weights=np.array([2.0, 1.0, 1.0]))
    for name in ("mean", "median", "raw_std"):
        np.testing.assert_allclose(getattr(weighted, name), getattr(twice, name), atol=1e-9)
    np.testing.assert_allclose(laplace_mixture_median(mus, scales, weights=[0, 0, 1]), mus[:, 2], atol=1e-9)
    with pytest.raises(ValueError, match="member weights"):
        mixture_prediction(mus, scales, weights=np.array([1.0, -1.0, 1.0]))
    # a checkpoint keeps its weights, and both backends use them
    path, ckpt = tiny
    members = ckpt["members"]
    args = ("mp_bulk_modulus", TINY, members, ckpt["target_mean"], ckpt["target_std"])
    weighted = CompositionEnsemble(*args, member_weights=[3, 1, 1, 1, 1])
    repeated = CompositionEnsemble("mp_bulk_modulus", TINY, [members[0]] * 2 + list(members),
                                   ckpt["target_mean"], ckpt["target_std"])
    torch.save(weighted.checkpoint(), tmp_path / "weighted.pt")
    loaded = CompositionEnsemble.load(tmp_path / "weighted.pt")
    assert loaded.member_weights.tolist() == [3, 1, 1, 1, 1]
    idx, frac = loaded.encode(["MgO", "Fe2O3", "NaCl"])
    want = repeated.predict_arrays(idx, frac)
    for backend in ("torch", "onnx"):
        got = loaded.predict_arrays(idx, frac, backend=backend)
        np.testing.assert_allclose(got.value, want.value, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got.raw_std, want.raw_std, rtol=1e-4, atol=1e-4)
    assert CompositionEnsemble(*args, member_weights=[1] * 5).member_weights is None


def test_weighted_merge_chooses_runs_inside_an_earlier_merge(tiny, tmp_path):
    from matfold_kernel.properties import composition_card
    from matfold_kernel.properties.training import merge_runs, run_parts

    torch.set_num_threads(1)
    path, first = tiny
    quiet = lambda m: None  # noqa: E731
    runs = []
    for seed in (11, 12):
        runs.append(tmp_path / f"seed{seed}.pt")
        train_task("mp_bulk_modulus", DATA, runs[-1], plan=TrainingPlan(epochs=10, batch_size=32, config=TINY,
                   seed=seed), progress=False, log=quiet)
    merge_runs("mp_bulk_modulus", DATA, [path, runs[0]], tmp_path / "earlier.pt", log=quiet, keep=2, min_members=4)
    parts = run_parts("mp_bulk_modulus", [tmp_path / "earlier.pt", runs[1]], keep=2, split=True)
    assert [(p.split, p.size) for p in parts] == [(0, 2), (1, 2), (None, 2)]
    out = tmp_path / "weighted.pt"
    assert main(["merge", "--task", "mp_bulk_modulus", "--data-dir", str(DATA), "--weighted", "--keep", "2",
                 "--out", str(out), str(tmp_path / "earlier.pt"), str(runs[1])]) == 0
    merged = CompositionEnsemble.load(out)
    records = merged.metrics["merged_from"]
    weights = [r.get("weight", 1) for r in records]
    # each chosen run once in the record, its weight the number of times it was chosen
    assert len({r["seed"] for r in records}) == len(records) and sum(r["members"] for r in records) == len(
        merged.module.members)
    expected = np.repeat(weights, [r["members"] for r in records]).astype(float)
    got = np.ones(len(expected)) if merged.member_weights is None else merged.member_weights
    np.testing.assert_array_equal(got, expected)
    # it is never worse on val than the unweighted choice among the same files
    plain = merge_runs("mp_bulk_modulus", DATA, [tmp_path / "earlier.pt", runs[1]], None, log=quiet, keep=2)
    assert merged.metrics["val_mae"] <= plain["metrics"]["val_mae"] + 1e-9
    card_runs = composition_card(merged).extra["runs"]
    assert [r.get("weight", 1) for r in card_runs] == weights
    # merged again without selection, the weights stay
    again = merge_runs("mp_bulk_modulus", DATA, [out], None, log=quiet)
    assert [r.get("weight", 1) for r in again["metrics"]["merged_from"]] == weights
    assert again["metrics"]["val_mae"] == pytest.approx(merged.metrics["val_mae"], rel=1e-6)


def test_laplace_mixture_median_matches_sampling_and_known_cases():
    from matfold_kernel.properties.ensemble import laplace_mixture_median, mixture_prediction

    rng = np.random.default_rng(0)
    mus = rng.normal(size=(6, 5)) * 2
    scales = rng.uniform(0.1, 1.5, size=(6, 5))
    med = laplace_mixture_median(mus, scales)
    # one member: its location; members symmetric about 3: 3
    np.testing.assert_allclose(laplace_mixture_median(mus[:, :1], scales[:, :1]), mus[:, 0], atol=1e-9)
    np.testing.assert_allclose(laplace_mixture_median(np.array([[2.0, 4.0]]), np.array([[0.5, 0.5]])), [3.0],
                               atol=1e-9)
    # against the empirical median of draws from the mixture
    k = rng.integers(0, 5, size=(6, 200_000))
    draws = np.take_along_axis(mus, k, 1) + rng.laplace(size=k.shape) * np.take_along_axis(scales, k, 1)
    np.testing.assert_allclose(med, np.median(draws, axis=1), atol=0.02)
    pred = mixture_prediction(mus, scales, calibration=2.0, point="median")
    np.testing.assert_array_equal(pred.value, pred.median)
    np.testing.assert_allclose(pred.mean, mus.mean(axis=1))
    np.testing.assert_allclose(pred.std, 2.0 * pred.raw_std)
    assert laplace_mixture_median(np.zeros((0, 3)), np.ones((0, 3))).shape == (0,)


def test_cell_size_network_reads_the_formula_as_written(tmp_path, monkeypatch):
    # a cell_size network takes the amounts as written and tells NaCl from Na4Cl4, but not ClNa from NaCl
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("MATFOLD_MODEL_DIR", str(tmp_path))
    torch.set_num_threads(1)
    cfg = compnet.CompNetConfig(**{**TINY.to_dict(), "cell_size": True})
    out = tmp_path / "cell.pt"
    ckpt = train_task("mp_bulk_modulus", DATA, out, plan=TrainingPlan(epochs=3, batch_size=64, config=cfg),
                      progress=False, log=lambda m: None)
    assert ckpt["config"]["cell_size"] is True
    ens = CompositionEnsemble.load(out)
    idx, amounts = ens.encode(["Na4Cl4", "NaCl", "ClNa", "Fe0.9Ni0.1"])
    np.testing.assert_allclose(amounts[:, 0], [4, 1, 1, 0.9])
    res = predict_formulas(["Na4Cl4", "NaCl", "ClNa"], "mp_bulk_modulus", model_path=out, backend="torch")
    assert abs(res.mean[0] - res.mean[1]) > 1e-4
    assert res.mean[1] == pytest.approx(res.mean[2], rel=1e-6)
    # an ordinary network sees only fractions
    plain_idx, plain = compnet.encode_compositions(["Na4Cl4", "NaCl"])
    np.testing.assert_allclose(plain[0], plain[1])
    # ONNX carries the cell-size input too
    formulas = ["Na4Cl4", "LiFePO4", "Li4Fe4P4O16", "Ba2YCu3O7", "Fe0.9Ni0.1"]
    idx, amounts = ens.encode(formulas)
    assert np.abs(ens.raw_outputs(idx, amounts, "torch") - ens.raw_outputs(idx, amounts, "onnx")).max() <= 1e-4


def test_ensembles_can_mix_members_with_and_without_the_cell_size(tiny, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from matfold_kernel.properties.models import composition_card
    from matfold_kernel.properties.training import merge_runs

    monkeypatch.setenv("MATFOLD_MODEL_DIR", str(tmp_path))
    torch.set_num_threads(1)
    plain, _ = tiny
    cell = tmp_path / "cell.pt"
    cfg = compnet.CompNetConfig(**{**TINY.to_dict(), "cell_size": True})
    train_task("mp_bulk_modulus", DATA, cell, plan=TrainingPlan(epochs=3, batch_size=64, config=cfg),
               progress=False, log=lambda m: None)
    out = tmp_path / "mixed.pt"
    merge_runs("mp_bulk_modulus", DATA, [plain, cell], out, log=lambda m: None, keep=2)
    mixed = CompositionEnsemble.load(out)
    assert [c.cell_size for c in mixed.member_configs] == [False] * 3 + [True] * 3  # grown to 5+ members
    assert mixed.takes_amounts
    formulas = ["Na4Cl4", "NaCl", "LiFePO4", "Ba2YCu3O7", "Fe0.9Ni0.1"]
    # the plain members see the fractions they were trained on: their outputs are those of the plain run
    a = CompositionEnsemble.load(plain)
    got = mixed.raw_outputs(*mixed.encode(formulas))[:, :3]
    want = a.raw_outputs(*a.encode(formulas))[:, -3:]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # the plain members cannot tell NaCl from Na4Cl4; the cell members can
    assert np.allclose(got[0], got[1], atol=1e-6)
    cell_out = mixed.raw_outputs(*mixed.encode(formulas))[:, 3:]
    assert np.abs(cell_out[0] - cell_out[1]).max() > 1e-4
    # ONNX: one graph per kind of member, parity with PyTorch; every graph is exported in eval
    # mode (the plain members' adapters sit outside the stack's modules)
    idx, amounts = mixed.encode(formulas)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        onnx_out = mixed.raw_outputs(idx, amounts, "onnx")
    assert not [w for w in caught if "training mode" in str(w.message)]
    assert np.abs(mixed.raw_outputs(idx, amounts, "torch") - onnx_out).max() <= 1e-4
    card = composition_card(mixed)
    assert "unit cell" in card.notes
    assert [r.get("cell_size", False) for r in card.extra["runs"]] == [False, True]


def test_ensembles_can_mix_networks_of_different_widths(tiny, tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    from matfold_kernel.properties.models import composition_card
    from matfold_kernel.properties.training import merge_runs

    monkeypatch.setenv("MATFOLD_MODEL_DIR", str(tmp_path))
    torch.set_num_threads(1)
    narrow, _ = tiny
    wide = tmp_path / "wide"
    # the CLI path: --d-model sets the width and the feed-forward layers twice that
    assert main(["train", "--task", "mp_bulk_modulus", "--data-dir", str(DATA), "--epochs", "5", "--d-model", "24",
                 "--out", str(wide)]) == 0
    assert CompositionEnsemble.load(wide).config.d_ff == 48
    capsys.readouterr()
    assert main(["train", "--task", "mp_bulk_modulus", "--data-dir", str(DATA), "--d-model", "30",
                 "--out", str(wide)]) == 2
    assert "--d-model 30: give a multiple of 4" in capsys.readouterr().err
    out = tmp_path / "mixed.pt"
    merge_runs("mp_bulk_modulus", DATA, [narrow, wide], out, log=lambda m: None, keep=3)
    mixed = CompositionEnsemble.load(out)
    assert [c.d_model for c in mixed.member_configs] == [16] * 3 + [24] * 3
    formulas = ["Na4Cl4", "LiFePO4", "Ba2YCu3O7", "Fe0.9Ni0.1", "W"]
    # each member computes what it computed in its own run
    a, b = CompositionEnsemble.load(narrow), CompositionEnsemble.load(wide)
    got = mixed.raw_outputs(*mixed.encode(formulas))
    np.testing.assert_allclose(got[:, :3], a.raw_outputs(*a.encode(formulas))[:, -3:], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:, 3:], b.raw_outputs(*b.encode(formulas))[:, -3:], rtol=1e-5, atol=1e-6)
    # ONNX: one graph per width, parity with PyTorch
    idx, frac = mixed.encode(formulas)
    assert np.abs(got - mixed.raw_outputs(idx, frac, "onnx")).max() <= 1e-4
    card = composition_card(mixed)
    assert card.size.startswith("6 members (3 × ") and card.size.count(" × ") == 2
    assert [r.get("d_model") for r in card.extra["runs"]] == [16, 24]


@pytest.mark.parametrize("backend", ["numpy", "onnx"])
def test_trees_decide_exactly_as_lightgbm_does(backend):
    lgb = pytest.importorskip("lightgbm")
    from matfold_kernel.properties.trees import TreeEnsemble, composition_descriptor

    train = load_task_csv(DATA / "mp_bulk_modulus" / "train.csv")
    x = composition_descriptor(*compnet.encode_compositions(train.formula))
    booster = lgb.train({"objective": "l1", "num_leaves": 15, "min_data_in_leaf": 3, "verbose": -1, "seed": 3,
                         "num_threads": 1}, lgb.Dataset(x.astype(np.float64), train.target.to_numpy()), 60)
    trees = TreeEnsemble.from_lightgbm(booster)
    assert len(trees) == 60 and trees.depth >= 4
    # inputs sitting exactly on the split thresholds, just above and below them, and the data
    internal = trees.feature >= 0
    probe = np.repeat(x[:40], 3, axis=0)
    f, t = trees.feature[internal].astype(int), trees.threshold[internal]
    pick = np.random.default_rng(0).integers(0, len(f), size=len(probe))
    nudge = np.tile([-1, 0, 1], 40)
    probe[np.arange(len(probe)), f[pick]] = np.where(
        nudge == 0, t[pick], np.nextafter(t[pick], np.where(nudge > 0, np.float32(np.inf), np.float32(-np.inf))))
    for rows in (x, probe):
        want = booster.predict(rows.astype(np.float64))
        np.testing.assert_allclose(trees.predict(rows, backend), want, atol=1e-4 * np.abs(want).max())
    again = TreeEnsemble.from_state(torch.load(_saved(trees.to_state()), weights_only=True))
    np.testing.assert_array_equal(again.predict(probe, backend), trees.predict(probe, backend))
    assert trees.predict(probe[:0], backend).shape == (0,)
    # "auto" walks a few rows in numpy and runs batches on ONNX Runtime: the same sums
    for rows in (x[:3], x):
        np.testing.assert_allclose(trees.predict(rows), trees.predict(rows, backend), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown tree backend 'gpu'"):
        trees.predict(probe, "gpu")


def test_tree_graph_attributes_are_what_protobuf_itself_encodes():
    from onnx import AttributeProto

    from matfold_kernel.properties.trees import _attribute

    ints = np.array([0, 1, 127, 128, 300, 16383, 16384, 2**21, 2**28 - 1, 2**28, 2**35, 2**62])
    ints = np.concatenate([ints, np.arange(300_000)])  # past one chunk of the encoder
    floats = np.array([0.5, -1.25, 3e-8, np.float32(1) / 3], np.float32)
    modes = np.array([True, False, False, True])
    for name, values in (("i", ints), ("f", floats), ("s", modes)):
        attr = AttributeProto()
        attr.ParseFromString(_attribute(name, values))
        assert attr.name == name
        if name == "i":
            assert attr.type == AttributeProto.INTS and list(attr.ints) == ints.tolist()
        elif name == "f":
            assert attr.type == AttributeProto.FLOATS
            np.testing.assert_array_equal(np.array(attr.floats, np.float32), floats)
        else:
            assert attr.type == AttributeProto.STRINGS and list(attr.strings) == [b"LEAF", b"BRANCH_LEQ", b"BRANCH_LEQ", b"LEAF"]


def _saved(obj):
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return buf


def test_composition_descriptor_of_amounts_and_fractions_is_describe():
    from matfold_kernel.properties.features import describe
    from matfold_kernel.properties.trees import composition_descriptor

    formulas = ["Fe2O3", "NaCl", "Li7La3Zr2O12", "Si"]
    want = describe(formulas)
    for amounts in (False, True):
        got = composition_descriptor(*compnet.encode_compositions(formulas, amounts=amounts))
        np.testing.assert_allclose(got, want, rtol=1e-6)
    # a screen is described in chunks of 2048 rows (memory), in order
    one = composition_descriptor(*compnet.encode_compositions(formulas))
    many = composition_descriptor(*compnet.encode_compositions(formulas * 1100))
    np.testing.assert_array_equal(many, np.tile(one, (1100, 1)))


def test_blended_trees_are_chosen_on_val_and_survive_the_round_trip(tiny, tmp_path):
    pytest.importorskip("lightgbm")
    from matfold_kernel.properties.training import TREE_WEIGHTS, blend_trees

    path, plain = tiny
    out = tmp_path / "blend.pt"
    logs = []
    ckpt = blend_trees("mp_bulk_modulus", DATA, path, out, log=logs.append)
    w = ckpt["tree_weight"] if "trees" in ckpt else 0.0
    val = load_task_csv(DATA / "mp_bulk_modulus" / "val.csv")
    truth = val.target.to_numpy(np.float64)
    nets = CompositionEnsemble.load(path)
    blended = CompositionEnsemble.load(out)
    assert blended.tree_weight == w and (blended.trees is not None) == (w > 0)
    idx, frac = blended.encode(val.formula)
    n, b = nets.predict_arrays(idx, frac), blended.predict_arrays(idx, frac)
    # the networks are untouched; the value is the blend with the weight of lowest val MAE
    np.testing.assert_allclose(b.members, n.members, rtol=1e-6)
    base = b.median if blended.point == "median" else b.mean
    np.testing.assert_allclose(b.value, blended.blend(base, b), rtol=1e-9)
    tried = [np.abs((1 - v) * (n.median if nets.point == "median" else n.mean) + v * b.trees - truth).mean()
             for v in TREE_WEIGHTS] if b.trees is not None else []
    if w > 0:
        np.testing.assert_allclose(b.value, (1 - w) * base + w * b.trees, rtol=1e-9)
        assert ckpt["metrics"]["val_mae"] <= min(tried) + 1e-9
    assert ckpt["metrics"]["val_mae"] <= plain["metrics"]["val_mae"] + 1e-9
    np.testing.assert_allclose(ckpt["metrics"]["val_mae"], np.abs(b.value - truth).mean(), rtol=1e-6)
    assert ckpt["metrics"]["val_within_1sigma"] == pytest.approx(0.6827, abs=0.02)
    assert ckpt["metrics"]["trees"]["weight"] == w and any("tree weight" in m for m in logs)
    # the CLI reports what the ensemble computes, on both backends
    shown = predict_formulas(val.formula.tolist()[:5], "mp_bulk_modulus", model_path=out)
    np.testing.assert_allclose(shown.mean, np.maximum(b.value[:5], 0), rtol=1e-6)
    onnx = blended.predict_arrays(idx, frac, backend="onnx")
    assert np.abs(onnx.value - b.value).max() <= 1e-3 * np.abs(b.value).max()


def test_blend_trees_forces_the_weight_and_refuses_a_wrong_task(tiny, tmp_path, monkeypatch, capsys):
    pytest.importorskip("lightgbm")
    from matfold_kernel.errors import MatfoldInputError
    from matfold_kernel.properties import training

    path, _ = tiny
    # with only weight 1 to choose from the value is the trees' alone
    monkeypatch.setattr(training, "TREE_WEIGHTS", (1.0,))
    training.blend_trees("mp_bulk_modulus", DATA, path, tmp_path / "t.pt", log=lambda m: None)
    ens = CompositionEnsemble.load(tmp_path / "t.pt")
    p = ens.predict_arrays(*ens.encode(["MgO", "TiC"]))
    np.testing.assert_allclose(p.value, p.trees, rtol=1e-9)
    assert not np.allclose(p.value, p.mean)
    # the model card says what the value is made of
    from matfold_kernel.properties.models import composition_card

    card = composition_card(ens)
    assert f"+ {len(ens.trees)} regression trees" in card.size and "weight 1;" in card.notes
    assert card.extra["trees"] == {"weight": 1.0, "n_trees": len(ens.trees), "seed": 1}
    assert "trees" not in composition_card(CompositionEnsemble.load(path)).extra
    with pytest.raises(MatfoldInputError, match="is a mp_bulk_modulus model, not mp_shear_modulus"):
        training.blend_trees("mp_shear_modulus", DATA, path, None, log=lambda m: None)
    assert main(["blend-trees", "--task", "nope"]) == 2 and "unknown task 'nope'" in capsys.readouterr().err
    assert main(["blend-trees", "--task", "mp_bulk_modulus", "--model", str(tmp_path / "none.pt")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_trees_can_read_another_tasks_shipped_model(tiny, tmp_path, monkeypatch, capsys):
    pytest.importorskip("lightgbm")
    from matfold_kernel.errors import MatfoldDependencyError, MatfoldInputError
    from matfold_kernel.properties import training
    from matfold_kernel.properties.models import composition_card, load_composition_model
    from matfold_kernel.properties.trees import composition_descriptor

    monkeypatch.setenv("MATFOLD_MODEL_DIR", str(tmp_path))  # the ONNX exports go there
    monkeypatch.setattr(training, "TREE_WEIGHTS", (1.0,))  # the value is the trees' alone
    torch.set_num_threads(1)
    # networks that read the formula as written, as the shipped AFLOW model does
    cfg = compnet.CompNetConfig(**{**TINY.to_dict(), "cell_size": True})
    nets = tmp_path / "cell.pt"
    train_task("mp_bulk_modulus", DATA, nets, plan=TrainingPlan(epochs=3, batch_size=64, config=cfg),
               progress=False, log=lambda m: None)
    other = "aflow__ael_bulk_modulus_vrh"
    out = tmp_path / "t.pt"
    assert main(["blend-trees", "--task", "mp_bulk_modulus", "--model", str(nets), "--data-dir", str(DATA),
                 "--out", str(out), "--tree-inputs", other]) == 0
    aflow = load_composition_model(other)
    # the loader hands the ensemble the shipped model its trees read; loaded alone it has none
    alone = CompositionEnsemble.load(out)
    with pytest.raises(MatfoldDependencyError, match=f"read the predictions of the {other} model"):
        alone.predict_arrays(*alone.encode(["MgO"]))
    ens = load_composition_model("mp_bulk_modulus", out)
    assert ens.tree_inputs == [{"task": other, "sha256": aflow.source_hash()}]
    formulas = ["MgO", "Ti4C4", "W", "Li2O"]
    idx, amounts = ens.encode(formulas)
    x = ens.tree_features(idx, amounts)
    # the descriptor, then the shipped AFLOW model's value (GPa) for the formulas as written
    assert x.dtype == np.float32 and x.shape[1] == ens.trees.n_features
    np.testing.assert_array_equal(x[:, :-1], composition_descriptor(idx, amounts))
    np.testing.assert_allclose(x[:, -1], aflow.predict_arrays(*aflow.encode(formulas)).value, rtol=1e-6)
    p = ens.predict_arrays(idx, amounts)
    np.testing.assert_allclose(p.value, ens.trees.predict(x), rtol=1e-9)
    # the trees use that column: other values there give other predictions
    shifted = x.copy()
    shifted[:, -1] = x[:, -1] * 3
    assert not np.allclose(ens.trees.predict(shifted), p.value)
    with pytest.raises(ValueError, match=f"read {x.shape[1]} features per row"):
        ens.trees.predict(x[:, :-1])
    onnx = ens.predict_arrays(idx, amounts, backend="onnx")
    assert np.abs(onnx.value - p.value).max() <= 1e-3 * np.abs(p.value).max()
    card = composition_card(ens)
    assert f"and the {other} model's prediction" in card.notes and card.extra["trees"]["inputs"] == [other]
    # a merge reads the networks only, without the trees or the models they read
    merged = training.merge_runs("mp_bulk_modulus", DATA, [out, nets], tmp_path / "m.pt", log=lambda m: None)
    assert "trees" not in merged and "tree_inputs" not in merged
    # trees fitted on another file of that model refuse to run, and say what to do
    ens.tree_inputs[0]["sha256"] = "0" * 16
    ens._input_models = None
    with pytest.raises(MatfoldInputError, match=re.escape(f"refit them with `matfold blend-trees --task "
                                                          f"mp_bulk_modulus --tree-inputs {other}` --model {out}")):
        ens.predict_arrays(idx, amounts)
    assert ens.predict_arrays(idx, amounts, trees=False).trees is None
    # what blend-trees refuses: its own task, a model that keeps only fractions, an unknown task
    with pytest.raises(MatfoldInputError, match="cannot read mp_bulk_modulus's own predictions"):
        training.blend_trees("mp_bulk_modulus", DATA, nets, None, log=lambda m: None, inputs=["mp_bulk_modulus"])
    with pytest.raises(MatfoldInputError, match="this mp_bulk_modulus ensemble keeps only fractions"):
        training.blend_trees("mp_bulk_modulus", DATA, tiny[0], None, log=lambda m: None, inputs=[other])
    capsys.readouterr()
    assert main(["blend-trees", "--task", "mp_bulk_modulus", "--model", str(nets), "--data-dir", str(DATA),
                 "--out", str(tmp_path / "u.pt"), "--tree-inputs", "nope"]) == 2
    assert "unknown task 'nope'" in capsys.readouterr().err
