"""The kernel's store API on the real embedded Postgres (the laptop path)."""

from __future__ import annotations

import pytest

import matfold_kernel as mk
from matfold_kernel import MatfoldInputError
from matfold_kernel.store import StoreError


@pytest.fixture
def store(database_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("MATFOLD_SERVICE_URL", raising=False)
    return mk.store.connect(user="laptop-user")


def test_local_store_round_trip(store, lifepo4_cif, batio3_cif):
    project = store.create_project("Cathodes", target_properties=["band_gap"])
    assert project.role == "owner" and store.projects() == [project]
    saved = store.save_material(project, lifepo4_cif, source_database="mp", source_id="mp-19017")
    store.save_material(project, batio3_cif)
    assert (saved.reduced_formula, saved.spacegroup_number) == ("LiFePO4", 62)
    again = store.material(saved)
    assert again.structure.composition.reduced_formula == "LiFePO4"  # a pymatgen Structure
    assert [m.reduced_formula for m in store.materials(project, elements=["Fe", "O"])] == ["LiFePO4"]
    store.save_prediction(saved, "band_gap", 3.6, "eV", uncertainty=0.2, model="cgcnn", model_version="1")
    store.save_prediction(saved, "band_gap", 3.7, "eV", uncertainty=0.2, model="cgcnn", model_version="2")
    history = store.predictions(saved)
    assert [(p.value, p.model_version) for p in history] == [(3.7, "2"), (3.6, "1")]
    assert [m.id for m in store.materials(project, property="band_gap", min=3.65)] == [saved.id]
    assert store.usage()["plan"] == "free"


def test_local_store_errors_are_matfold_errors(store, tmp_path):
    project = store.create_project("P")
    bad = tmp_path / "broken.cif"
    bad.write_text("data_x\n_cell_length_a 4\n")
    with pytest.raises(MatfoldInputError, match="broken.cif"):
        store.save_material(project, bad)  # refused before it is sent
    with pytest.raises(MatfoldInputError, match="uncertainty"):
        store.save_prediction(store.save_material(project, mk.read_structure(
            "tests/data/structures/POSCAR-Cmcm")), "band_gap", 1.0, "eV", uncertainty=-1)
    with pytest.raises(StoreError, match="not found"):
        store.material(123456)


def test_hub_store_needs_a_hub(monkeypatch):
    monkeypatch.delenv("MATFOLD_SERVICE_URL", raising=False)
    with pytest.raises(StoreError, match="not inside a matfold hub server"):
        mk.store.connect(local=False)


def test_similar_materials_through_the_store(store, lifepo4_cif, batio3_cif, structures_dir):
    import numpy as np

    project = store.create_project("Search")
    other = store.create_project("Other")
    rng = np.random.default_rng(0)
    base = rng.normal(size=128)
    query = store.save_material(project, lifepo4_cif, embedding=base)
    near = store.save_material(project, batio3_cif, embedding=base + 0.05 * rng.normal(size=128))
    far = store.save_material(other, structures_dir / "POSCAR-Cmcm", embedding=-base)
    store.save_material(project, structures_dir / "POSCAR-Pc")  # no embedding: never a hit
    hits = store.similar(query, k=5)
    assert [r.id for r, _ in hits] == [near.id, far.id]  # itself excluded, nearest first
    assert hits[0][1] < 0.01 and hits[1][1] > 1.9  # cosine distances
    with pytest.raises(StoreError, match="has no embedding"):
        store.similar(store.materials(project, formula="SnPSe3")[0])
