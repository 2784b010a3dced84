"""A tiny, randomly initialised ESMFold the tests build (the real weights are ~8 GB)."""

from __future__ import annotations

from pathlib import Path


def build_tiny_esmfold(path: Path, seed: int = 0) -> Path:
    """Save an ``EsmForProteinFolding`` with hidden size 32, 2 layers, 1 trunk block."""
    import torch
    from transformers import EsmConfig, EsmForProteinFolding
    from transformers.models.esm.configuration_esm import get_default_vocab_list

    vocab = get_default_vocab_list()
    config = EsmConfig(
        vocab_size=len(vocab), pad_token_id=1, mask_token_id=32, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, max_position_embeddings=1026,
        position_embedding_type="rotary", is_folding_model=True, token_dropout=True,
        emb_layer_norm_before=False, vocab_list=vocab,
        esmfold_config={"fp16_esm": False, "trunk": {
            "num_blocks": 1, "sequence_state_dim": 32, "pairwise_state_dim": 32,
            "sequence_head_width": 8, "pairwise_head_width": 8,
            "structure_module": {"sequence_dim": 32, "pairwise_dim": 32, "ipa_dim": 16, "num_heads_ipa": 2,
                                 "num_blocks": 1, "num_transition_layers": 1, "num_resnet_blocks": 1,
                                 "resnet_dim": 16}}})
    torch.manual_seed(seed)
    EsmForProteinFolding(config).save_pretrained(path)
    return Path(path)


def build_tiny_esm2(path: Path, seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide ``EsmModel`` with the real ESM vocabulary and tokenizer."""
    import torch
    from transformers import EsmConfig, EsmModel, EsmTokenizer
    from transformers.models.esm.configuration_esm import get_default_vocab_list

    vocab = get_default_vocab_list()
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab))
    tokenizer = EsmTokenizer(str(path / "vocab.txt"))
    config = EsmConfig(vocab_size=len(vocab), pad_token_id=tokenizer.pad_token_id,
                       mask_token_id=tokenizer.mask_token_id, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=4, intermediate_size=64, position_embedding_type="rotary",
                       token_dropout=True, emb_layer_norm_before=False)
    torch.manual_seed(seed)
    EsmModel(config, add_pooling_layer=False).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
