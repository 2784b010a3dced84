"""Protein I/O, `matfold info` on proteins, and alignment against TM-align's values."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from matfold_kernel import MatfoldInputError
from matfold_kernel.cli import main
from matfold_kernel.protein import align_structures, protein_info, read_fasta, read_protein, validate_sequence

from tests.support.paths import DATA, SHARED

DATA = DATA / "proteins"
SHARED = SHARED / "data" / "proteins"


def test_pdb_and_mmcif_give_the_same_chain(tmp_path):
    pdb, cif = read_protein(DATA / "1A8O.pdb"), read_protein(DATA / "1A8O.cif")
    a, b = protein_info(pdb).chains, protein_info(cif).chains
    assert [(c.id, c.length) for c in a] == [("A", 70)] == [(c.id, c.length) for c in b]
    assert a[0].sequence == b[0].sequence and a[0].sequence.startswith("MDIRQGPKEPFRDYVDRFYKTLRAEQASQEVKNW")
    assert np.allclose(pdb.coord, cif.coord, atol=1e-3)


def test_info_json_for_proteins(capsys):
    assert main(["info", str(DATA / "1A8O.cif"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["format"] == "mmcif" and data["chains"][0]["id"] == "A" and data["chains"][0]["length"] == 70
    assert main(["info", str(DATA / "f003.fa"), "--json"]) == 0
    fasta = json.loads(capsys.readouterr().out)
    assert fasta["chains"][0] == {"id": "gi|3318709|pdb|1A91|", "length": 79,
                                  "sequence": fasta["chains"][0]["sequence"]}
    assert fasta["chains"][0]["sequence"].startswith("MENLNMDLLYMAAAVMMG")


@pytest.mark.parametrize("text, name, fragment", [
    ("", "x.fasta", "the file is empty"),
    (">a\n", "x.fasta", "has a header but no sequence"),
    ("MKT\n>a\nMKT\n", "x.fasta", "starts with a '>' header line"),
    (">a\nMKTZB1\n", "x.fasta", "letter 'Z' at position 4 is not one of the 20 amino acids or X (and 2 more)"),
    (">a\nMKUT\n", "x.fasta", "selenocysteine"),
    ("ATOM  garbage\n", "x.pdb", "is not a readable PDB file"),
    ("HEADER nothing\nEND\n", "x.pdb", "contains no atoms"),
])
def test_bad_protein_files(tmp_path, text, name, fragment):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(MatfoldInputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        (read_fasta if name.endswith("fasta") else read_protein)(path)


def test_nucleotide_fasta_is_refused_by_info(capsys):
    assert main(["info", str(DATA / "nucleotide_lib.fa")]) == 2
    assert "looks like a nucleotide sequence" in capsys.readouterr().err


def test_length_limits_per_model():
    assert validate_sequence("MK" * 500, model="esmfold") == "MK" * 500
    with pytest.raises(MatfoldInputError, match="over esm2's limit of 1022"):
        validate_sequence("MK" * 600, model="esm2")


@settings(max_examples=200, deadline=5000, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.text(max_size=300))
@example(">\n\n")
@example(">a\n*\n")
def test_fuzz_fasta(text):
    try:
        records = read_fasta(text + "\n")
    except MatfoldInputError:
        return
    assert all(r.sequence and set(r.sequence) <= set("ACDEFGHIKLMNPQRSTVWYX") for r in records)


@settings(max_examples=100, deadline=5000, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(st.integers(0, 60), max_size=5), st.sampled_from(["", "nan", "x", "99999999", "-"]))
def test_fuzz_pdb_lines(cuts, token):
    lines = (DATA / "1A8O.pdb").read_text().split("\n")[:400]
    for cut in cuts:
        i = cut * 5 % len(lines)
        lines[i] = lines[i][: cut] + token + lines[i][cut + len(token):]
    try:
        atoms = read_protein("\n".join(lines) + "\n", "pdb")
    except MatfoldInputError:
        return
    assert len(atoms) > 0 and np.all(np.isfinite(atoms.coord))


@pytest.mark.skipif(not (SHARED / "pdb" / "2gtl.pdb").exists(), reason="needs ../shared")
def test_alignment_agrees_with_tm_align_on_2gtl():
    atoms = read_protein(SHARED / "pdb" / "2gtl.pdb")
    result = align_structures(atoms, atoms, "A", "B")
    # TM-align (tmtools) on the same pair: 0.885 by A, 0.896 by B
    assert result.tm_score_1 == pytest.approx(0.885, abs=0.01)
    assert result.tm_score_2 == pytest.approx(0.896, abs=0.01)
    assert result.aligned_length >= 140 and result.rmsd < 2.5
    # rotation/translation reproduce the superposed coordinates
    ca = atoms[(atoms.chain_id == "B") & (atoms.atom_name == "CA")]
    moved = result.superposed[(result.superposed.chain_id == "B") & (result.superposed.atom_name == "CA")]
    assert np.allclose(ca.coord @ result.rotation.T + result.translation, moved.coord, atol=1e-3)
    # a structure aligned to itself is perfect
    self_aligned = align_structures(atoms, atoms, "A", "A")
    assert self_aligned.tm_score_1 == pytest.approx(1.0) and self_aligned.rmsd < 1e-3


def test_align_cli_contract_and_errors(capsys):
    assert main(["align", str(DATA / "1A8O.pdb"), str(DATA / "1A8O.cif"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"tm_score_1", "tm_score_2", "rmsd", "aligned_length", "rotation", "translation", "pairs"} <= set(data)
    assert data["tm_score_1"] == pytest.approx(1.0) and data["aligned_length"] == 70
    assert main(["align", str(DATA / "1A8O.pdb"), str(DATA / "1A8O.cif"), "--chain2", "Q"]) == 2
    err = capsys.readouterr().err
    assert "chain 'Q' has 0 Cα atoms" in err and "protein chains here: A" in err


def _dssp(path):
    lines = path.read_text().split("\n")
    start = next(k for k, line in enumerate(lines) if line.startswith("  #  RESIDUE"))
    rows = {}
    for line in lines[start + 1:]:
        if len(line) > 40 and line[13] != "!":
            rows[(line[11], int(line[5:10]))] = (line[16], int(line[34:38]))
    return rows


def test_sasa_and_secondary_structure_against_dssp():
    from matfold_kernel.protein import residue_properties

    props = residue_properties(read_protein(DATA / "2BEG.pdb"))  # amyloid-beta fibril: all strands
    reference = _dssp(DATA / "2BEG.dssp")
    ours = {(c, int(r)): (s, a) for c, r, s, a in zip(props.chain, props.res_id, props.secondary_structure,
                                                       props.sasa)}
    keys = [k for k in reference if k in ours]
    assert len(keys) == 130
    three_state = {"H": "a", "G": "a", "I": "a", "E": "b", "B": "b"}
    agreement = np.mean([three_state.get(reference[k][0], "c") == ours[k][0] for k in keys])
    assert agreement > 0.8  # measured 0.846 (P-SEA from Cα against DSSP)
    acc_ref = np.array([reference[k][1] for k in keys], dtype=float)
    acc = np.array([ours[k][1] for k in keys])
    assert np.corrcoef(acc_ref, acc)[0, 1] > 0.95  # measured 0.980
    assert np.mean(np.abs(acc_ref - acc)) < 10  # Å², measured 6.8
    assert props.buried().sum() > 0 and np.nanmax(props.relative_sasa) < 1.5


def test_variant_scores_follow_structure():
    from matfold_kernel.protein import score_variants

    atoms = read_protein(DATA / "1A8O.pdb")
    scores = {v.name: v for v in score_variants(atoms, ["F168D", "Y164P", "L190A", "K158R", "A:E175D"])}
    # buried core aromatic to charged, proline into a helix: disruptive; surface conservative: tolerated
    assert scores["A:F168D"].category == "likely disruptive" and "buried site (0% exposed)" in scores["A:F168D"].reasons
    assert "proline into a helix" in scores["A:Y164P"].reasons
    assert scores["A:K158R"].category == scores["A:E175D"].category == "likely tolerated"
    assert scores["A:Y164P"].score > scores["A:L190A"].score > scores["A:K158R"].score


@pytest.mark.parametrize("variant, fragment", [
    ("K156", "is not written like K156E"),
    ("A:K999E", "chain A has no residue 999"),
    ("K168D", "residue A168 is F, not K"),
    ("B:F168D", "chain B has no residue 168"),
])
def test_bad_variants(variant, fragment):
    from matfold_kernel.protein import score_variants

    with pytest.raises(MatfoldInputError, match=fragment):
        score_variants(read_protein(DATA / "1A8O.pdb"), [variant])
