"""ESM-2 sequence embeddings (mean-pooled), for similarity search over proteins.

Weights as for folding: a local folder (``model=`` or ``MATFOLD_ESM2_MODEL``) or
``facebook/esm2_t33_650M_UR50D`` in the Hugging Face cache; never downloaded here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import config
from ..errors import MatfoldDependencyError, MatfoldInputError
from .sequence import validate_sequence

__all__ = ["embed_sequences", "load_esm2", "ESM2_HUB_ID"]

ESM2_HUB_ID = "facebook/esm2_t33_650M_UR50D"


def load_esm2(model=None, *, device=None):
    """ESM-2 (``EsmModel``) and its tokenizer, on CUDA when present."""
    return load_esm2_class("EsmModel", model, device=device, feature="embeddings",
                           add_pooling_layer=False)[:2]


def load_esm2_class(class_name: str, model=None, *, device=None, feature: str = "ESM-2", **kwargs):
    """A transformers ESM-2 class (``EsmModel``, ``EsmForMaskedLM``) with its tokenizer and loading info.

    Weights from ``model`` (a folder), ``$MATFOLD_ESM2_MODEL``, or :data:`ESM2_HUB_ID` in the
    Hugging Face cache (never downloaded). Returns ``(model, tokenizer, info, source)``.
    """
    try:
        import torch
        import transformers
        from transformers import AutoTokenizer
    except ImportError:
        raise MatfoldDependencyError(f"{feature} need 'transformers' and torch: pip install 'matfold[ml]'") from None
    cls = getattr(transformers, class_name)
    source = model or config.get("esm2_model")
    try:
        if source:
            if not (Path(source) / "config.json").is_file():
                raise MatfoldInputError("is not an ESM-2 model folder (no config.json)", str(source))
            tokenizer = AutoTokenizer.from_pretrained(str(source))
            esm, info = cls.from_pretrained(str(source), output_loading_info=True, **kwargs)
        else:
            tokenizer = AutoTokenizer.from_pretrained(ESM2_HUB_ID, local_files_only=True)
            esm, info = cls.from_pretrained(ESM2_HUB_ID, local_files_only=True, output_loading_info=True, **kwargs)
    except OSError:
        raise MatfoldDependencyError(
            f"no ESM-2 weights found: {ESM2_HUB_ID} is not in the Hugging Face cache. On a machine that "
            f"reaches the model hub run `hf download {ESM2_HUB_ID}`, or pass model=DIR "
            "(or MATFOLD_ESM2_MODEL)") from None
    dev = torch.device(config.device(device))
    return esm.to(dev).eval(), tokenizer, info, source or ESM2_HUB_ID


def embed_sequences(sequences, model=None, *, batch_size: int = 8, device=None) -> np.ndarray:
    """Mean-pooled ESM-2 embeddings, one row per sequence.

    Parameters
    ----------
    sequences : str or list of str
    model : folder, or a (model, tokenizer) pair from :func:`load_esm2`
    batch_size : int
        Sequences per forward pass (padding does not change the result).

    Returns
    -------
    ndarray, shape=(n_sequences, hidden_size)
        Mean over residue positions of the last hidden layer (special tokens excluded).
    """
    import torch

    if isinstance(sequences, str):
        sequences = [sequences]
    clean = [validate_sequence(s, f"sequence {i + 1}", model="esm2") for i, s in enumerate(sequences)]
    esm, tokenizer = model if isinstance(model, tuple) else load_esm2(model, device=device)
    dev = next(esm.parameters()).device
    rows = []
    for start in range(0, len(clean), batch_size):
        batch = clean[start:start + batch_size]
        tokens = tokenizer(batch, return_tensors="pt", padding=True).to(dev)
        with torch.no_grad():
            hidden = esm(**tokens).last_hidden_state.float()
        mask = tokens["attention_mask"].clone()
        mask[:, 0] = 0  # <cls>
        lengths = torch.tensor([len(s) for s in batch], device=dev)
        mask[torch.arange(len(batch), device=dev), lengths + 1] = 0  # <eos>
        pooled = (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        rows.append(pooled.cpu().numpy())
    return np.concatenate(rows, axis=0)
