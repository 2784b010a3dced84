"""The hull of known formation energies, and formation-energy networks that learn the energy above it.

The hull is checked against pymatgen's PhaseDiagram on real Materials Project phases
(tests/data/composition/matbench_mp_e_form: the Li-Fe-O-S and Al-Cu-Zn-O-N rows) and on
random phase sets; the networks are tiny ones trained here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matfold_kernel.errors import MatfoldInputError
from matfold_kernel.properties import FormationHull
from matfold_kernel.properties.training import load_task_csv
from tests.support.paths import DATA

DATA = DATA / "composition"
TASK = "matbench_mp_e_form"


def _pymatgen_hull(formulas, energies, queries):
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    comps = [Composition(f) for f in formulas]
    out = []
    for q in queries:
        q = Composition(q)
        system = {el.symbol for el in q.elements}
        entries = [PDEntry(Composition(el), 0.0) for el in system]
        entries += [PDEntry(c, e * c.num_atoms) for c, e in zip(comps, energies)
                    if {el.symbol for el in c.elements} <= system]
        out.append(PhaseDiagram(entries).get_hull_energy_per_atom(q))
    return np.array(out)


@pytest.fixture(scope="module")
def phases():
    return load_task_csv(DATA / TASK / "train.csv"), load_task_csv(DATA / TASK / "val.csv")


def test_hull_energy_matches_pymatgen_on_materials_project_phases(phases):
    train, val = phases
    hull = FormationHull(list(train.formula), train.target.to_numpy())
    queries = list(val.formula) + ["LiFeO2", "Li2S", "Fe", "CuZnAlON", "Li0.1Fe0.2O0.3S0.4", "Cu3N"]
    got = hull.energy(queries)
    want = _pymatgen_hull(train.formula, train.target, queries)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert got.min() < -2.0  # oxides and sulfides are there, not a flat hull at 0
    assert got[queries.index("Fe")] == 0.0


def test_leave_one_out_leaves_out_the_row_and_keeps_its_polymorphs(phases):
    train, _ = phases
    formulas, energies = list(train.formula), train.target.to_numpy()
    hull = FormationHull(formulas, energies)
    loo = hull.leave_one_out()
    full = hull.energy(formulas)
    # rows that shape the hull: their own energy is the hull; without them it is higher
    shaping = np.flatnonzero(np.isclose(energies, full, atol=1e-6) & (energies < 0))
    assert len(shaping) > 10
    assert (loo[shaping] > full[shaping] + 1e-6).sum() > 10
    rows = list(shaping[:8]) + list(np.flatnonzero(energies > full + 0.05)[:4])
    for i in rows:
        others = [j for j in range(len(formulas)) if j != i]
        want = _pymatgen_hull([formulas[j] for j in others], energies[others], [formulas[i]])[0]
        assert loo[i] == pytest.approx(want, abs=1e-6), formulas[i]
    # a polymorph stays: with two entries of one composition, leaving out the lower gives the other
    twice = FormationHull(["LiO2", "Li2O4", "Li2O"], [-1.0, -0.8, -1.0])
    # LiO2 (x_Li 1/3): Li2O4 at -0.8 is above the O-Li2O line's -0.5; Li2O4: LiO2 is still there;
    # Li2O (2/3) without itself: the LiO2-Li line, -0.5
    np.testing.assert_allclose(twice.leave_one_out(), [-0.8, -1.0, -0.5], atol=1e-9)


def test_hull_state_round_trips(phases):
    train, val = phases
    hull = FormationHull(list(train.formula), train.target.to_numpy())
    again = FormationHull.from_state(hull.to_state())
    np.testing.assert_allclose(again.energy(val.formula), hull.energy(val.formula), atol=1e-6)


ELEMENTS = ["Li", "Fe", "O"]


@st.composite
def phase_sets(draw):
    n = draw(st.integers(1, 12))
    formulas, energies = [], []
    for _ in range(n):
        amounts = draw(st.lists(st.integers(0, 4), min_size=3, max_size=3).filter(lambda a: sum(a) > 0))
        formulas.append("".join(f"{el}{a}" for el, a in zip(ELEMENTS, amounts) if a))
        energies.append(draw(st.floats(-3.0, 1.0, allow_nan=False).map(lambda e: round(e, 3))))
    return formulas, energies


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(phase_sets(), st.lists(st.integers(0, 5), min_size=3, max_size=3).filter(lambda a: sum(a) > 0))
def test_hull_energy_matches_pymatgen_on_random_phase_sets(table, amounts):
    # degenerate sets too: collinear phases, phases at 0, one binary only, duplicates
    formulas, energies = table
    query = "".join(f"{el}{a}" for el, a in zip(ELEMENTS, amounts) if a)
    hull = FormationHull(formulas, energies)
    queries = [query] + formulas
    np.testing.assert_allclose(hull.energy(queries), _pymatgen_hull(formulas, energies, queries), atol=1e-6)
    loo = hull.leave_one_out()
    for i in range(len(formulas)):
        others = [j for j in range(len(formulas)) if j != i]
        want = _pymatgen_hull([formulas[j] for j in others], [energies[j] for j in others], [formulas[i]])[0]
        assert loo[i] == pytest.approx(want, abs=1e-6)


# -- networks that learn the energy above the hull ------------------------------------------

torch = pytest.importorskip("torch")

from matfold_kernel.properties import compnet  # noqa: E402
from matfold_kernel.properties.ensemble import CompositionEnsemble  # noqa: E402
from matfold_kernel.properties.training import TrainingPlan, merge_runs, train_task  # noqa: E402


TINY = compnet.CompNetConfig(d_model=16, n_layers=1, n_heads=2, d_ff=32, n_fourier=4)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("hull-runs")
    quiet = lambda m: None  # noqa: E731
    offset = dataclasses.replace(TINY, hull_offset=True, cell_size=True)
    train_task(TASK, DATA, folder / "hull.pt", plan=TrainingPlan(epochs=20, batch_size=32, config=offset),
               progress=False, log=quiet)
    train_task(TASK, DATA, folder / "plain.pt", plan=TrainingPlan(epochs=20, batch_size=32, config=TINY),
               progress=False, log=quiet)
    return folder / "hull.pt", folder / "plain.pt"


def test_a_hull_offset_network_predicts_formation_energy(runs, phases):
    hull_run, plain_run = runs
    train, val = phases
    ens = CompositionEnsemble.load(hull_run)
    assert ens.hull_offset.all() and ens.hull is not None and len(ens.hull) > 100
    # the networks' own outputs are energies above the hull; the ensemble adds the hull back
    idx, amounts = ens.encode(val.formula)
    raw = ens.raw_outputs(idx, amounts)[:, :, 0].astype(np.float64) * ens.target_std + ens.target_mean
    pred = ens.predict_arrays(idx, amounts)
    np.testing.assert_allclose(pred.members - raw, np.repeat(ens.hull.energy(val.formula)[:, None], 5, 1),
                               atol=1e-9)
    # 20 epochs of a 16-wide network (0.239 against 0.302 eV/atom when written): the hull carries it
    # past the plain run of the same size; a hull added with the wrong sign or to the wrong rows would not
    truth = val.target.to_numpy()
    plain = CompositionEnsemble.load(plain_run)
    hull_mae = np.abs(pred.value - truth).mean()
    plain_mae = np.abs(plain.predict_arrays(*plain.encode(val.formula)).value - truth).mean()
    assert hull_mae < 0.9 * plain_mae, (hull_mae, plain_mae)


def test_hull_offset_runs_merge_with_plain_runs_and_export_to_onnx(runs, phases, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from matfold_kernel.properties.models import composition_card

    monkeypatch.setenv("MATFOLD_MODEL_DIR", str(tmp_path))
    hull_run, plain_run = runs
    _, val = phases
    merge_runs(TASK, DATA, [hull_run, plain_run], tmp_path / "merged.pt", log=lambda m: None, keep=3)
    merged = CompositionEnsemble.load(tmp_path / "merged.pt")
    assert merged.hull_offset.tolist() == [True] * 3 + [False] * 3
    idx, amounts = merged.encode(val.formula)
    both = merged.predict_arrays(idx, amounts)
    for path, cols in ((hull_run, slice(0, 3)), (plain_run, slice(3, 6))):
        alone = CompositionEnsemble.load(path)
        want = alone.predict_arrays(*alone.encode(val.formula)).members[:, -3:]
        np.testing.assert_allclose(both.members[:, cols], want, atol=1e-6)
    onnx = merged.predict_arrays(idx, amounts, backend="onnx")
    assert np.abs(onnx.members - both.members).max() <= 1e-4
    card = composition_card(merged)
    assert [r.get("hull_offset", False) for r in card.extra["runs"]] == [True, False]
    assert "convex hull" in card.notes


def test_hull_offset_is_refused_where_there_is_no_formation_energy(tmp_path):
    cfg = dataclasses.replace(TINY, hull_offset=True)
    with pytest.raises(MatfoldInputError, match="formation energy"):
        train_task("mp_bulk_modulus", DATA, None, plan=TrainingPlan(epochs=1, batch_size=32, config=cfg),
                   progress=False, log=lambda m: None)
    with pytest.raises(ValueError, match="hull"):
        CompositionEnsemble(TASK, cfg, [compnet.CompNet(cfg).state_dict()], 0.0, 1.0)


def test_cli_trains_a_hull_offset_run_and_refuses_it_elsewhere(tmp_path, capsys):
    from matfold_kernel.cli import main

    out = tmp_path / "e_form.pt"
    assert main(["train", "--task", TASK, "--data-dir", str(DATA), "--epochs", "2", "--hull-offset",
                 "--out", str(out)]) == 0
    assert "leave-one-out hull energies" in capsys.readouterr().err
    assert CompositionEnsemble.load(out).hull_offset.all()
    code = main(["train", "--task", "mp_bulk_modulus", "--data-dir", str(DATA), "--epochs", "2", "--hull-offset",
                 "--out", str(tmp_path / "bulk.pt")])
    err = capsys.readouterr().err
    assert code == 2 and "formation energy" in err and not (tmp_path / "bulk.pt").exists()
