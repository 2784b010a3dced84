"""Variant scoring: the ``matfold variants`` command on real PDB files, and the ESM-2 masked marginal.

The language-model part runs on a tiny, randomly initialised ESM-2 with a masked-LM
head that the tests build (the real weights cannot be fetched here); its marginals
are checked against a direct computation with the same model, so an off-by-one
site, a missing mask or a wrong token would fail.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from matfold_kernel import MatfoldInputError
from matfold_kernel.protein import load_esm2, load_esm2_lm, parse_variant, protein_info, read_protein, score_variants
from matfold_kernel.protein.variants import esm_masked_marginals

from tests.support.esm_tiny import build_tiny_esm2
from .test_cli import matfold

from tests.support.paths import DATA

DATA = DATA / "proteins"
PDB = DATA / "1A8O.pdb"  # HIV-1 capsid C-terminal domain, chain A, residues 151-220
VARIANTS = ["F168D", "Y164P", "L190A", "K158R", "A:E175D"]
KEYS = ["variant", "score", "category", "reasons", "chain", "position", "wild_type", "mutant", "relative_sasa",
        "secondary_structure", "esm_marginal"]


# --- the command -------------------------------------------------------------------------------

@pytest.mark.parametrize("structure", ["1A8O.pdb", "1A8O.cif"])
def test_cli_json_contract(structure, tmp_path):
    listing = tmp_path / "variants.txt"
    listing.write_text("# from a screen\nL190A\nK158R, A:E175D  # surface\n\n")
    result = matfold("variants", DATA / structure, "F168D", "Y164P", "--file", listing, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == ["variants"]
    rows = data["variants"]
    assert [r["variant"] for r in rows] == ["A:F168D", "A:Y164P", "A:L190A", "A:K158R", "A:E175D"]  # input order
    assert all(list(r) == KEYS for r in rows)
    expected = {v.name: v for v in score_variants(read_protein(PDB), VARIANTS)}
    for row in rows:
        ours = expected[row["variant"]]
        assert row["score"] == ours.score and row["reasons"] == list(ours.reasons)
        assert row["esm_marginal"] is None  # no --model
    f168d = rows[0]
    assert (f168d["chain"], f168d["position"], f168d["wild_type"], f168d["mutant"]) == ("A", 168, "F", "D")
    assert f168d["category"] == "likely disruptive" and "buried site (0% exposed)" in f168d["reasons"]
    assert rows[1]["score"] > rows[2]["score"] > rows[3]["score"]  # Y164P (proline into a helix) > L190A > K158R


def test_cli_chain_option_on_a_multichain_file():
    # 2BEG: five chains of amyloid-beta 17-42 stacked in a fibril; the outer chain A is more exposed than C
    result = matfold("variants", DATA / "2BEG.pdb", "F19D", "A:F19D", "--chain", "C", "--json")
    assert result.returncode == 0, result.stderr
    inner, outer = json.loads(result.stdout)["variants"]
    assert inner["variant"] == "C:F19D" and outer["variant"] == "A:F19D"
    assert inner["relative_sasa"] < outer["relative_sasa"]


def test_cli_text_output():
    result = matfold("variants", PDB, "Y164P", "K158R")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("A:Y164P") and "likely disruptive" in lines[0] and "proline into a helix" in lines[0]
    assert lines[1].split()[:3] == ["A:K158R", "0.087", "likely"]


@pytest.mark.parametrize("args, fragment", [
    (["A999Z"], "variant 'A999Z': 'Z' is not one of the 20 amino acids"),
    (["K156"], "variant 'K156' is not written like K156E or A:K156E"),
    (["k158r"], "amino acids are upper case: write 'K158R'"),
    (["K158*"], "only missense substitutions are scored"),
    (["A:K999E"], "chain A has no residue 999 in this structure"),
    (["K168D"], "residue A168 is F, not K; check the numbering"),
    (["F168D", "--chain", "Q"], "chain 'Q' is not in the structure (protein chains: A)"),
    ([], "no variants given: list them (K156E A:F168D) or pass --file LIST.txt"),
    (["--file", "missing.txt"], "missing.txt: no such file; give a text file with one variant per line"),
])
def test_cli_bad_input_exits_2_with_one_line(args, fragment, tmp_path):
    result = matfold("variants", PDB, *args, "--json", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("matfold variants: error: ") and fragment in lines[0]


def test_cli_bad_structure_file(tmp_path):
    path = tmp_path / "notes.pdb"
    path.write_text("this is not a structure\n")
    result = matfold("variants", path, "F168D")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(path) in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_parse_variant_forms():
    assert parse_variant("K156E", "A") == ("A", "K", 156, "E")
    assert parse_variant(" B:K156E ", "A") == ("B", "K", 156, "E")
    assert parse_variant("p.Lys156Glu", "A") == parse_variant("Lys156Glu", "A") == ("A", "K", 156, "E")
    assert parse_variant("A:p.Phe-3Asp", "B") == ("A", "F", -3, "D")
    with pytest.raises(MatfoldInputError, match="'Xaa' is not an amino acid"):
        parse_variant("p.Lys156Xaa", "A")
    with pytest.raises(MatfoldInputError, match="chain 'AB' is not a one-character chain id"):
        parse_variant("AB:K156E", "A")


def test_no_protein_residues():
    atoms = read_protein(PDB)
    with pytest.raises(MatfoldInputError, match="no amino-acid residues"):
        score_variants(atoms[atoms.res_name == "HOH"], ["F168D"])


# --- the ESM-2 masked marginal -----------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A bare tiny ``EsmModel`` (as the embeddings use) and the same size with a masked-LM head."""
    import torch
    from transformers import AutoConfig, EsmForMaskedLM

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("esm2")
    bare = build_tiny_esm2(root / "tiny-esm2")
    mlm = root / "tiny-esm2-mlm"
    torch.manual_seed(1)
    EsmForMaskedLM(AutoConfig.from_pretrained(bare)).save_pretrained(mlm)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (bare / name).is_file():
            shutil.copy(bare / name, mlm / name)
    return bare, mlm


def _direct_marginal(model, sequence: str, index: int, wt: str, mut: str) -> float:
    """log P(mut) - log P(wt) at `index` masked, straight from the model's logits."""
    import torch

    esm, tokenizer = model
    ids = tokenizer(sequence, return_tensors="pt")["input_ids"]
    ids[0, index + 1] = tokenizer.mask_token_id
    with torch.no_grad():
        logp = torch.log_softmax(esm(input_ids=ids).logits[0, index + 1], dim=-1)
    return float(logp[tokenizer.convert_tokens_to_ids(mut)] - logp[tokenizer.convert_tokens_to_ids(wt)])


def test_masked_marginal_matches_the_model(tiny_models):
    _, mlm = tiny_models
    model = load_esm2_lm(mlm)
    atoms = read_protein(PDB)
    sequence = protein_info(atoms).chains[0].sequence
    plain = score_variants(atoms, VARIANTS)
    scored = score_variants(atoms, VARIANTS, model)
    assert [s.name for s in scored] == [p.name for p in plain]
    for with_lm, without in zip(scored, plain):
        direct = _direct_marginal(model, sequence, with_lm.position - 151, with_lm.wild_type, with_lm.mutant)
        assert with_lm.esm_marginal == pytest.approx(direct, abs=2e-4)
        verdict = "prefers the wild type" if with_lm.esm_marginal < 0 else "accepts the mutant"
        reason = f"ESM-2 masked marginal {with_lm.esm_marginal:+.2f} ({verdict})"
        assert with_lm.reasons == (*without.reasons, reason)
        assert with_lm.score == without.score  # reported beside the structural score, not mixed in
    assert len({s.esm_marginal for s in scored}) == len(scored)
    # masking matters: the unmasked log-odds differ
    import torch

    esm, tokenizer = model
    ids = tokenizer(sequence, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(esm(input_ids=ids).logits[0, 168 - 151 + 1], dim=-1)
    unmasked = float(logp[tokenizer.convert_tokens_to_ids("D")] - logp[tokenizer.convert_tokens_to_ids("F")])
    assert abs(unmasked - scored[0].esm_marginal) > 1e-3


def test_marginal_window_on_long_chains(tiny_models):
    _, mlm = tiny_models
    model = load_esm2_lm(mlm)
    sequence = "".join(np.random.default_rng(0).choice(list("ACDEFGHIKLMNPQRSTVWY"), 1500))
    site = 1200  # window: the last 1,022 residues, [478, 1500)
    logp = esm_masked_marginals(sequence, [site], model)[0]
    wt, mut = sequence[site], "W" if sequence[site] != "W" else "A"
    window = sequence[1500 - 1022:]
    assert logp[mut] - logp[wt] == pytest.approx(_direct_marginal(model, window, site - 478, wt, mut), abs=1e-4)
    first = esm_masked_marginals(sequence, [3], model)[0]  # near the start: the first 1,022
    assert first[mut] - first[sequence[3]] == pytest.approx(
        _direct_marginal(model, sequence[:1022], 3, sequence[3], mut), abs=1e-4)


def test_cli_model_option(tiny_models):
    _, mlm = tiny_models
    result = matfold("variants", PDB, "F168D", "K158R", "--model", mlm, "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["variants"]
    expected = score_variants(read_protein(PDB), ["F168D", "K158R"], load_esm2_lm(mlm))
    assert [r["esm_marginal"] for r in rows] == pytest.approx([e.esm_marginal for e in expected], abs=2e-4)
    assert rows[0]["reasons"][-1].startswith("ESM-2 masked marginal")


def test_model_without_language_model_head_is_refused(tiny_models, tmp_path):
    bare, _ = tiny_models
    with pytest.raises(MatfoldInputError, match="has no masked-language-model head"):
        load_esm2_lm(bare)
    with pytest.raises(MatfoldInputError, match="use load_esm2_lm"):
        score_variants(read_protein(PDB), ["F168D"], load_esm2(bare))
    with pytest.raises(MatfoldInputError, match="is not an ESM-2 model folder"):
        load_esm2_lm(tmp_path)
    result = matfold("variants", PDB, "F168D", "--model", bare)
    assert result.returncode == 2 and "has no masked-language-model head" in result.stderr
