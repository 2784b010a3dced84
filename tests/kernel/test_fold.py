"""ESMFold pipeline on a tiny random model: the real loading, folding, caching and output code."""

from __future__ import annotations

import json

import numpy as np
import pytest

from matfold_kernel import MatfoldDependencyError, MatfoldInputError
from matfold_kernel.cli import main
from matfold_kernel.protein import read_protein
from matfold_kernel.protein.esmfold import LINKER, fold, load_esmfold

from tests.support.esm_tiny import build_tiny_esmfold

SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIE"  # 31 residues


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return build_tiny_esmfold(tmp_path_factory.mktemp("esm") / "tiny-esmfold")


def test_fold_writes_plddt_into_b_factors(tiny_model, tmp_path):
    (result,) = fold(SEQ, tiny_model, cache_dir=tmp_path / "cache")
    assert result.plddt.shape == (31,) and result.pae.shape == (31, 31)
    assert 0 <= result.plddt.min() and result.plddt.max() <= 100
    assert 0 <= result.ptm <= 1
    atoms = read_protein(result.save(tmp_path / "fold.pdb"))
    ca = atoms[atoms.atom_name == "CA"]
    assert len(ca) == 31 and np.allclose(ca.b_factor, result.plddt, atol=0.01)
    cif = read_protein(result.save(tmp_path / "fold.cif"))
    assert len(cif[cif.atom_name == "CA"]) == 31


def test_results_are_cached_by_sequence(tiny_model, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = fold(SEQ, tiny_model, cache_dir=cache)[0]
    assert len(list(cache.glob("*.npz"))) == 1
    import matfold_kernel.protein.esmfold as fold_module

    monkeypatch.setattr(fold_module, "_predict", lambda *a: pytest.fail("the cache was not used"))
    again = fold(SEQ.lower(), tiny_model, cache_dir=cache)[0]
    assert again.pdb == first.pdb and np.array_equal(again.plddt, first.plddt)


def test_multimer_by_chain_break(tiny_model):
    (result,) = fold("MKTAYIAKQR:GSHMLEDPVD", tiny_model, cache_dir=False)
    atoms = result.atoms
    ca = atoms[atoms.atom_name == "CA"]
    assert list(dict.fromkeys(ca.chain_id)) == ["A", "B"]
    assert (ca.chain_id == "A").sum() == 10 and (ca.chain_id == "B").sum() == 10
    assert result.pae.shape == (20, 20)  # the linker is gone
    assert "G" * len(LINKER) not in result.sequence


def test_bad_sequences_and_missing_weights(tmp_path, monkeypatch):
    with pytest.raises(MatfoldInputError, match="letter 'J' at position 3"):
        fold("MKJ", tmp_path, cache_dir=False)
    with pytest.raises(MatfoldInputError, match="over ESMFold's limit of 2048"):
        fold("M" * 2100, tmp_path, cache_dir=False)
    with pytest.raises(MatfoldInputError, match="is not an ESMFold model folder"):
        load_esmfold(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    monkeypatch.delenv("MATFOLD_ESMFOLD_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MatfoldDependencyError, match="hf download facebook/esmfold_v1"):
        load_esmfold()


def test_fold_cli(tiny_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MATFOLD_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "pred.pdb"
    assert main(["fold", SEQ, "--model", str(tiny_model), "--out", str(out)]) == 0
    assert "31 residues, mean pLDDT" in capsys.readouterr().out
    assert read_protein(out).res_id.max() == 31
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chains"][0]["sequence"] == SEQ
    assert main(["fold", "MKXB", "--model", str(tiny_model), "--out", str(out)]) == 2
    assert "letter 'B'" in capsys.readouterr().err
