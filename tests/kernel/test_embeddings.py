"""ESM-2 embeddings on a tiny model the tests build: the real loading and pooling code."""

from __future__ import annotations

import numpy as np
import pytest

from matfold_kernel import MatfoldDependencyError, MatfoldInputError
from matfold_kernel.protein.embeddings import embed_sequences, load_esm2

from tests.support.esm_tiny import build_tiny_esm2


@pytest.fixture(scope="module")
def tiny_esm2(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return build_tiny_esm2(tmp_path_factory.mktemp("esm2") / "tiny-esm2")


def test_mean_pooled_embeddings_ignore_padding(tiny_esm2):
    model = load_esm2(tiny_esm2)
    alone = embed_sequences("MKTAYIAKQR", model)
    batched = embed_sequences(["MKTAYIAKQR", "MKTAYIAKQRQISFVKSHFSRQLEERLGLIE"], model, batch_size=2)
    assert alone.shape == (1, 32) and batched.shape == (2, 32)
    assert np.allclose(alone[0], batched[0], atol=1e-5)  # padding does not leak into the mean
    assert not np.allclose(batched[0], batched[1])
    assert np.allclose(embed_sequences("MKTAYIAKQR", model), alone)  # deterministic


def test_embedding_errors(tmp_path, monkeypatch, tiny_esm2):
    with pytest.raises(MatfoldInputError, match="over esm2's limit"):
        embed_sequences("M" * 1100, load_esm2(tiny_esm2))
    with pytest.raises(MatfoldInputError, match="is not an ESM-2 model folder"):
        load_esm2(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("MATFOLD_ESM2_MODEL", raising=False)
    with pytest.raises(MatfoldDependencyError, match="hf download facebook/esm2_t33_650M_UR50D"):
        load_esm2()
