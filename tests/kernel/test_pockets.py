"""Binding pockets (fpocket-rs) against fpocket's own reference outputs and bound ligands.

The reference outputs in ../shared/data/proteins/fpocket_reference are fpocket 4's
``*_info.txt`` files for 1UYD, 3LKF and 7TAA: per-pocket descriptors, no residue lists
or coordinates. A pocket of ours is "the same pocket" as a reference pocket when the
descriptors that depend only on which residues line it agree exactly (polarity and
charge scores, integers) or nearly (hydrophobicity score, ±2.5) and its size agrees
within 15 % (alpha spheres, volume). Measured with fpocket-rs 0.1.0:

* reference pocket 1 = our pocket 1 on all three (alpha spheres 143/149, 40/42,
  33/36; volumes within 3 %); with another protein's pockets it never matches;
* reference pockets recovered (one-to-one, at any of our ranks): 1UYD 10/13,
  3LKF 13/18, 7TAA 20/24, the same in 8 repeated runs; against another protein's
  pockets none of them. Below rank 1 the orders differ (1UYD reference pockets 2-5
  are our -, 14, 3, -);
* drug scores do not agree (1UYD pocket 1: fpocket 0.855, fpocket-rs 0.183), see
  the strict xfail below;
* the bound ligand (PU8, PC, ABC) touches pocket 1 in all three; the pocket centre is
  1.5, 1.0 and 1.2 Å from the nearest ligand atom.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from matfold_kernel.errors import MatfoldDependencyError, MatfoldInputError
from matfold_kernel.protein import read_protein
from matfold_kernel.protein.pockets import (
    Pocket,
    find_pockets,
    ligand_atoms,
    ligand_pocket_rank,
)

from tests.support.paths import DATA, SHARED

DATA = DATA / "proteins"
SHARED = SHARED / "data" / "proteins"
REFERENCE = SHARED / "fpocket_reference"
STRUCTURES = ("1UYD", "3LKF", "7TAA")
LIGANDS = {"1UYD": "PU8", "3LKF": "PC", "7TAA": "ABC"}

needs_fpocket = pytest.mark.skipif(importlib.util.find_spec("fpocket_rs") is None,
                                   reason="fpocket-rs is not installed (pip install fpocket-rs)")
needs_shared = pytest.mark.skipif(
    not all((REFERENCE / f"{n}_info.txt").exists() and (SHARED / "pdb" / f"{n}.pdb").exists() for n in STRUCTURES),
    reason="needs ../shared/data/proteins (fpocket reference outputs and the 1UYD/3LKF/7TAA PDB files)")

_INFO_KEYS = {
    "Score": "score", "Druggability Score": "drug_score", "Number of Alpha Spheres": "n_alpha_spheres",
    "Volume": "volume", "Hydrophobicity score": "hydrophobicity_score", "Polarity score": "polarity_score",
    "Charge score": "charge_score",
}


def read_fpocket_info(path: Path) -> list[dict]:
    """Pockets of an fpocket ``*_info.txt`` file, in fpocket's rank order."""
    pockets: list[dict] = []
    for line in path.read_text().splitlines():
        header = re.match(r"Pocket (\d+) :", line)
        if header:
            pockets.append({"rank": int(header.group(1))})
        elif ":" in line and pockets:
            key, value = (part.strip() for part in line.split(":", 1))
            if key in _INFO_KEYS:
                pockets[-1][_INFO_KEYS[key]] = float(value)
    assert pockets and all(len(p) == len(_INFO_KEYS) + 1 for p in pockets), f"unexpected format in {path}"
    return pockets


def same_pocket(ref: dict, pocket: Pocket, size_tolerance: float = 0.15, hydrophobicity_tolerance: float = 2.5) -> bool:
    """True when `pocket` is lined by the same residues (by their scores) and has the size of `ref`."""
    d = pocket.descriptors
    return (d["polarity_score"] == ref["polarity_score"] and d["charge_score"] == ref["charge_score"]
            and abs(d["hydrophobicity_score"] - ref["hydrophobicity_score"]) <= hydrophobicity_tolerance
            and abs(pocket.n_alpha_spheres - ref["n_alpha_spheres"]) <= size_tolerance * ref["n_alpha_spheres"]
            and abs(pocket.volume - ref["volume"]) <= size_tolerance * ref["volume"])


def recovered(reference: list[dict], pockets: list[Pocket]) -> list[int | None]:
    """For each reference pocket, the rank of a matching pocket of ours (each used once), or None."""
    used: set[int] = set()
    ranks = []
    for ref in reference:
        match = next((p for p in pockets if p.rank not in used and same_pocket(ref, p)), None)
        if match is not None:
            used.add(match.rank)
        ranks.append(None if match is None else match.rank)
    return ranks


@pytest.fixture(scope="module")
def holo():
    """Structure (with its ligand), our pockets and fpocket's reference pockets, per PDB id."""
    out = {}
    for name in STRUCTURES:
        atoms = read_protein(SHARED / "pdb" / f"{name}.pdb")
        out[name] = (atoms, find_pockets(atoms), read_fpocket_info(REFERENCE / f"{name}_info.txt"))
    return out


@pytest.fixture(scope="module")
def small_pockets():
    """Pockets of the 70-residue 1A8O (in the repository), for the contract tests."""
    return find_pockets(DATA / "1A8O.pdb")


# (a) agreement with fpocket's reference outputs -------------------------------------------


@needs_fpocket
@needs_shared
@pytest.mark.parametrize("name", STRUCTURES)
def test_reference_top_pocket_is_our_top_pocket(holo, name):
    _, pockets, reference = holo[name]
    assert same_pocket(reference[0], pockets[0]), (reference[0], pockets[0], pockets[0].descriptors)


@needs_fpocket
@needs_shared
@pytest.mark.parametrize("name", STRUCTURES)
def test_reference_pockets_are_recovered(holo, name):
    _, pockets, reference = holo[name]
    ranks = recovered(reference, pockets)
    found = sum(r is not None for r in ranks)
    # measured: 10/13, 13/18, 20/24 (0.77, 0.72, 0.83)
    assert found / len(reference) >= 0.6, f"{name}: reference pockets found at our ranks {ranks}"


@needs_fpocket
@needs_shared
@pytest.mark.parametrize("name, other", [(a, b) for a in STRUCTURES for b in STRUCTURES if a != b])
def test_pockets_of_another_protein_do_not_match(holo, name, other):
    """The matching criterion can fail: another protein's pockets are not recovered."""
    _, _, reference = holo[name]
    _, wrong, _ = holo[other]
    assert not same_pocket(reference[0], wrong[0])
    ranks = recovered(reference, wrong)
    assert sum(r is not None for r in ranks) / len(reference) < 0.2, ranks  # measured: 0 for every pair


@needs_fpocket
@needs_shared
@pytest.mark.xfail(strict=True, reason="fpocket-rs 0.1.0 computes pocket surfaces unlike fpocket 4 (1UYD pocket 1: "
                                       "total SASA 451 vs 215 Å², drug score 0.18 vs 0.86); strict, so a fixed "
                                       "fpocket-rs shows up here")
def test_drug_scores_match_fpocket(holo):
    for name in STRUCTURES:
        _, pockets, reference = holo[name]
        for ref, rank in zip(reference[:5], recovered(reference[:5], pockets)):
            if rank is not None:
                ours = next(p for p in pockets if p.rank == rank)
                assert abs(ours.drug_score - ref["drug_score"]) <= 0.1, (name, ref, ours)


# (b) the bound ligand sits in a top-ranked pocket -----------------------------------------


@needs_fpocket
@needs_shared
@pytest.mark.parametrize("name", STRUCTURES)
def test_bound_ligand_sits_in_a_top_pocket(holo, name, record_property):
    atoms, pockets, _ = holo[name]
    rank = ligand_pocket_rank(atoms, pockets)
    record_property("ligand_rank", rank)
    assert rank is not None and rank <= 3, f"{name}: ligand {LIGANDS[name]} touches pocket rank {rank}"  # measured: 1
    assert rank == ligand_pocket_rank(atoms, pockets, ligand_resname=LIGANDS[name])
    pocket = next(p for p in pockets if p.rank == rank)
    ligand = ligand_atoms(atoms, LIGANDS[name])
    nearest = np.linalg.norm(ligand.coord - np.asarray(pocket.center), axis=1).min()
    assert nearest < 3.0, f"{name}: pocket centre {pocket.center} is {nearest:.1f} Å from the ligand"  # 1.0-1.5 Å


@needs_fpocket
@needs_shared
def test_ligand_rank_needs_contact(holo):
    atoms, pockets, _ = holo["1UYD"]
    assert ligand_pocket_rank(atoms, pockets, cutoff=4.0) == 1
    assert ligand_pocket_rank(atoms, pockets[1:]) != 1
    assert ligand_pocket_rank(atoms, []) is None
    far = [Pocket(rank=1, score=0.0, drug_score=0.0, volume=1.0, center=(0.0, 0.0, 0.0), residues=[("A", 16)])]
    assert ligand_pocket_rank(atoms, far) is None


# (c) the Pocket / to_dict contract --------------------------------------------------------


@needs_fpocket
def test_pocket_fields_and_units(small_pockets):
    atoms = read_protein(DATA / "1A8O.pdb")
    present = set(zip(atoms.chain_id.tolist(), atoms.res_id.tolist()))
    low, high = atoms.coord.min(axis=0), atoms.coord.max(axis=0)
    assert len(small_pockets) >= 3
    assert [p.rank for p in small_pockets] == list(range(1, len(small_pockets) + 1))
    assert [p.score for p in small_pockets] == sorted((p.score for p in small_pockets), reverse=True)
    for p in small_pockets:
        assert isinstance(p.rank, int) and isinstance(p.score, float)
        assert isinstance(p.drug_score, float) and 0.0 <= p.drug_score <= 1.0
        assert isinstance(p.volume, float) and 10.0 < p.volume < 10_000.0
        assert isinstance(p.center, tuple) and len(p.center) == 3 and all(isinstance(c, float) for c in p.center)
        assert np.all(np.asarray(p.center) >= low) and np.all(np.asarray(p.center) <= high)
        assert isinstance(p.residues, list) and p.residues == sorted(set(p.residues)) and p.residues
        assert all(isinstance(c, str) and isinstance(n, int) for c, n in p.residues)
        assert set(p.residues) <= present
        assert p.n_alpha_spheres >= 15 and "polarity_score" in p.descriptors
    with pytest.raises(dataclasses.FrozenInstanceError):
        small_pockets[0].rank = 2


@needs_fpocket
def test_to_dict_is_the_cli_contract(small_pockets):
    for p in small_pockets:
        d = p.to_dict()
        assert set(d) == {"rank", "score", "drug_score", "volume", "center", "residues"}
        assert d["rank"] == p.rank and d["drug_score"] == pytest.approx(p.drug_score, abs=1e-4)
        assert d["volume"] == pytest.approx(p.volume, abs=0.01)
        assert d["center"] == pytest.approx(list(p.center), abs=1e-3) and isinstance(d["center"], list)
        assert d["residues"] == [[c, n] for c, n in p.residues]
        assert json.loads(json.dumps(d)) == d
    payload = {"pockets": [p.to_dict() for p in small_pockets]}
    assert json.loads(json.dumps(payload))["pockets"][0]["rank"] == 1


@needs_fpocket
def test_filters_keep_ranks(small_pockets):
    ours = find_pockets(DATA / "1A8O.pdb", max_pockets=2)
    assert [p.rank for p in ours] == [1, 2]
    threshold = sorted(p.drug_score for p in small_pockets)[len(small_pockets) // 2]
    kept = find_pockets(DATA / "1A8O.pdb", min_drug_score=threshold)
    assert kept and all(p.drug_score >= threshold for p in kept)
    assert [p.rank for p in kept] == sorted(p.rank for p in kept)  # fpocket's ranks, not renumbered
    assert len(find_pockets(DATA / "1A8O.pdb", min_drug_score=threshold, max_pockets=1)) == 1


@needs_fpocket
def test_path_atoms_and_mmcif_give_the_same_pockets(small_pockets):
    """Same pockets (as residue sets) from a path, an AtomArray and the mmCIF file."""
    expected = {tuple(p.residues) for p in small_pockets}
    assert {tuple(p.residues) for p in find_pockets(read_protein(DATA / "1A8O.pdb"))} == expected
    assert {tuple(p.residues) for p in find_pockets(DATA / "1A8O.cif")} == expected
    assert {tuple(p.residues) for p in find_pockets((DATA / "1A8O.pdb").read_bytes())} == expected


# (d) errors --------------------------------------------------------------------------------

WATER_ONLY = (
    "HETATM    1  O   HOH A 101      10.000  10.000  10.000  1.00 20.00           O\n"
    "HETATM    2  O   HOH A 102      12.500  10.000  10.000  1.00 20.00           O\n"
    "END\n"
)


def test_no_protein_atoms_is_an_input_error():
    with pytest.raises(MatfoldInputError, match="no protein atoms"):
        find_pockets(WATER_ONLY)
    with pytest.raises(MatfoldInputError, match="no such file"):
        find_pockets("no/such/structure.pdb")


def test_bad_options_and_model_stacks():
    with pytest.raises(MatfoldInputError, match="min_drug_score"):
        find_pockets(DATA / "1A8O.pdb", min_drug_score=1.5)
    with pytest.raises(MatfoldInputError, match="max_pockets"):
        find_pockets(DATA / "1A8O.pdb", max_pockets=0)
    import biotite.structure as struc

    atoms = read_protein(DATA / "1A8O.pdb")
    with pytest.raises(MatfoldInputError, match="stack"):
        find_pockets(struc.stack([atoms, atoms]))


def test_missing_fpocket_rs_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "fpocket_rs", None)  # makes `import fpocket_rs` raise ImportError
    with pytest.raises(MatfoldDependencyError, match=r"pip install fpocket-rs"):
        find_pockets(DATA / "1A8O.pdb")


def test_ligand_rank_without_a_ligand():
    atoms = read_protein(DATA / "1A8O.pdb")  # HETATMs are selenomethionines and waters only
    assert len(ligand_atoms(atoms)) == 0
    with pytest.raises(MatfoldInputError, match=r"no ligand.*MSE"):
        ligand_pocket_rank(atoms, [])
    with pytest.raises(MatfoldInputError, match="no residue named 'ATP'"):
        ligand_pocket_rank(atoms, [], ligand_resname="ATP")
    # a named residue is used even when it is not a ligand by default
    mse = ligand_atoms(atoms, "MSE")
    assert len(mse) > 0
    chain, number = str(mse.chain_id[0]), int(mse.res_id[0])
    next_to = [Pocket(rank=4, score=0.0, drug_score=0.0, volume=1.0, center=(0.0, 0.0, 0.0),
                      residues=[(chain, number + 1)])]
    assert ligand_pocket_rank(atoms, next_to, ligand_resname="MSE") == 4  # peptide bond: within 4 Å
    assert ligand_pocket_rank(atoms, next_to, ligand_resname="MSE", cutoff=1.0) is None


def test_pockets_cli_contract(capsys):
    from matfold_kernel.cli import main

    path = DATA / "1A8O.pdb"  # DATA is tests/data/proteins here
    assert main(["pockets", str(path), "--json", "--max", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert 1 <= len(data["pockets"]) <= 3
    assert set(data["pockets"][0]) == {"rank", "score", "drug_score", "volume", "center", "residues"}
    assert [p["rank"] for p in data["pockets"]] == sorted(p["rank"] for p in data["pockets"])
    assert main(["pockets", str(path.with_name("f003.fa"))]) == 2
