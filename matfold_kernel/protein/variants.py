"""Variant impact from structure: a transparent heuristic, not a trained predictor.

Each missense variant ``K156E`` (or ``A:K156E``) is scored 0-1 from four parts a
structural biologist would look at: how unusual the substitution is (BLOSUM62), how
buried the site is (relative SASA), whether it breaks a helix or strand (Pro/Gly
into secondary structure), and how the hydropathy changes in the core. Scores are
comparable between variants of one protein; they are no pathogenicity
probability.

When an ESM-2 language model is given (``model=``: a folder, or the pair from
:func:`load_esm2_lm`), each variant also gets the masked marginal of Meier et al.
(2021): log P(mutant) − log P(wild type) at the site, masked, given the rest of the
chain (natural log; below 0 the model prefers the wild type). It is reported beside
the structural score (``esm_marginal`` and a reason), not mixed into it. Weights as
for embeddings: a local folder, ``$MATFOLD_ESM2_MODEL`` or the Hugging Face cache;
never downloaded here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import MatfoldInputError
from .embeddings import ESM2_HUB_ID, load_esm2_class
from .structure import chain_sequence
from .surface import residue_properties

__all__ = ["VariantScore", "score_variants", "parse_variant", "load_esm2_lm", "esm_masked_marginals"]

_VARIANT = re.compile(r"^(?:(?P<chain>[A-Za-z0-9]):)?(?P<wt>[ACDEFGHIKLMNPQRSTVWY])(?P<pos>-?\d+)(?P<mut>[ACDEFGHIKLMNPQRSTVWY])$")
# anything shaped like a substitution, to say which part of a bad one is wrong
_LOOSE = re.compile(r"^(?:(?P<chain>[^:\s]+):)?(?:p\.)?(?P<wt>[A-Za-z]{1,3})(?P<pos>-?\d+)(?P<mut>[A-Za-z]{1,3}|\*|=)$")
_THREE = {"Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E", "Gly": "G",
          "His": "H", "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F", "Pro": "P", "Ser": "S",
          "Thr": "T", "Trp": "W", "Tyr": "Y", "Val": "V"}
_ONE_LETTER = "ACDEFGHIKLMNPQRSTVWY"
_ESM2_WINDOW = 1022  # residues ESM-2 sees at once (1024 tokens with <cls> and <eos>)
_KD = {"A": 1.8, "R": -4.5, "N": -3.5, "D": -3.5, "C": 2.5, "Q": -3.5, "E": -3.5, "G": -0.4, "H": -3.2, "I": 4.5,
       "L": 3.8, "K": -3.9, "M": 1.9, "F": 2.8, "P": -1.6, "S": -0.8, "T": -0.7, "W": -0.9, "Y": -1.3, "V": 4.2}


@dataclass(frozen=True)
class VariantScore:
    """Impact score of one variant (0 benign-looking ... 1 disruptive-looking)."""

    chain: str
    position: int
    wild_type: str
    mutant: str
    score: float
    category: str
    relative_sasa: float
    secondary_structure: str
    reasons: tuple = field(default=())
    esm_marginal: float | None = None  # log P(mut) - log P(wt), nats; None without a language model

    @property
    def name(self) -> str:
        return f"{self.chain}:{self.wild_type}{self.position}{self.mutant}"

    def to_dict(self) -> dict:
        """JSON-ready: ``variant`` (``A:K156E``), ``score``, ``reasons`` and the parts behind them."""
        return {"variant": self.name, "score": self.score, "category": self.category, "reasons": list(self.reasons),
                "chain": self.chain, "position": self.position, "wild_type": self.wild_type, "mutant": self.mutant,
                "relative_sasa": self.relative_sasa, "secondary_structure": self.secondary_structure,
                "esm_marginal": self.esm_marginal}


def parse_variant(text: str, default_chain: str) -> tuple[str, str, int, str]:
    """``"A:K156E"``, ``"K156E"`` or ``"p.Lys156Glu"`` → (chain, wild type, position, mutant)."""
    text = str(text).strip()
    match = _VARIANT.match(text)
    if match:
        return match["chain"] or default_chain, match["wt"], int(match["pos"]), match["mut"]
    loose = _LOOSE.match(text)
    if loose and len(loose["wt"]) == 3 and loose["wt"] in _THREE and loose["mut"] in _THREE:  # p.Lys156Glu
        return loose["chain"] or default_chain, _THREE[loose["wt"]], int(loose["pos"]), _THREE[loose["mut"]]
    form = "write variants like K156E or A:K156E (one-letter codes, the structure's residue numbers)"
    problem = None
    if loose:
        if loose["chain"] is not None and not re.fullmatch(r"[A-Za-z0-9]", loose["chain"]):
            problem = f"chain {loose['chain']!r} is not a one-character chain id; {form}"
        elif loose["mut"] in ("*", "=", "Ter"):
            problem = f"only missense substitutions are scored ({loose['mut']!r} is a stop or synonymous change)"
        else:
            for letter in (loose["wt"], loose["mut"]):
                if len(letter) == 1 and letter.islower() and letter.upper() in _ONE_LETTER:
                    problem = f"amino acids are upper case: write {text.upper()!r}"
                elif len(letter) == 1 and letter not in _ONE_LETTER:
                    problem = f"{letter!r} is not one of the 20 amino acids ({_ONE_LETTER}); {form}"
                elif len(letter) > 1 and letter not in _THREE:
                    problem = f"{letter!r} is not an amino acid; {form}"
                if problem:
                    break
    if problem:
        raise MatfoldInputError(f"variant {text!r}: {problem}")
    raise MatfoldInputError(f"variant {text!r} is not written like K156E or A:K156E "
                            "(one-letter codes, the structure's residue numbers)")


def load_esm2_lm(model=None, *, device=None):
    """ESM-2 with its masked-language-model head (``EsmForMaskedLM``) and its tokenizer.

    Parameters
    ----------
    model : str or os.PathLike, optional
        A model folder; default ``$MATFOLD_ESM2_MODEL``, then
        ``facebook/esm2_t33_650M_UR50D`` from the Hugging Face cache (never downloaded).

    Raises
    ------
    MatfoldInputError
        The folder is no model, or holds a bare ``EsmModel`` without the ``lm_head`` weights
        (such a head would be random).
    MatfoldDependencyError
        transformers/torch missing, or no weights found.
    """
    esm, tokenizer, info, source = load_esm2_class("EsmForMaskedLM", model, device=device,
                                                    feature="language-model scores")
    if any(key.startswith("lm_head") for key in info.get("missing_keys", [])):
        raise MatfoldInputError("has no masked-language-model head (lm_head weights): it was saved as a bare "
                                f"EsmModel; give an EsmForMaskedLM checkpoint such as {ESM2_HUB_ID}",
                                str(source))
    return esm, tokenizer


def esm_masked_marginals(sequence: str, sites, model, *, batch_size: int = 8) -> list[dict]:
    """Log-probabilities of every amino acid at each site of `sequence`, the site masked.

    Parameters
    ----------
    sequence : str
        One-letter sequence of the chain (``X`` allowed).
    sites : list of int
        0-based positions in `sequence`.
    model : (EsmForMaskedLM, tokenizer)
        From :func:`load_esm2_lm`.

    Returns
    -------
    list of dict
        For each site, ``{letter: log P(letter)}`` (natural log) over the 20 amino acids.
        Chains longer than 1,022 residues are cut to a 1,022-residue window around the site.
    """
    import torch

    esm, tokenizer = model
    dev = next(esm.parameters()).device
    letter_ids = tokenizer.convert_tokens_to_ids(list(_ONE_LETTER))
    rows = []
    for site in sites:
        start = min(max(0, site - _ESM2_WINDOW // 2), max(0, len(sequence) - _ESM2_WINDOW))
        ids = tokenizer(sequence[start:start + _ESM2_WINDOW])["input_ids"]
        token = 1 + site - start  # after <cls>
        ids[token] = tokenizer.mask_token_id
        rows.append((ids, token))
    out = []
    for begin in range(0, len(rows), batch_size):
        chunk = rows[begin:begin + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, (ids, _) in enumerate(chunk):
            input_ids[i, :len(ids)] = torch.tensor(ids)
            mask[i, :len(ids)] = 1
        with torch.no_grad():
            logits = esm(input_ids=input_ids.to(dev), attention_mask=mask.to(dev)).logits.float()
        logp = torch.log_softmax(logits, dim=-1).cpu()
        for i, (_, token) in enumerate(chunk):
            out.append({a: float(logp[i, token, t]) for a, t in zip(_ONE_LETTER, letter_ids)})
    return out


def _as_language_model(model, device=None):
    if isinstance(model, tuple):
        if not hasattr(model[0], "lm_head"):
            raise MatfoldInputError("model: this ESM-2 has no masked-language-model head (load_esm2 gives the "
                                    "embedding model); use load_esm2_lm(...) or pass the model folder")
        return model
    return load_esm2_lm(model, device=device)


def _residue_index(atoms, chain: str) -> tuple[str, dict]:
    """The chain's one-letter sequence and {residue number: 0-based position}.

    With insertion codes (52, 52A) the last residue of a number wins, as in the structural part.
    """
    import biotite.structure as struc

    part = atoms[(atoms.chain_id == chain) & struc.filter_amino_acids(atoms)]
    res_ids, _ = struc.get_residues(part)
    positions = {}
    for i, r in enumerate(res_ids.tolist()):
        positions[int(r)] = i
    return chain_sequence(atoms, chain), positions


def score_variants(atoms, variants, model=None, *, chain: str | None = None, device=None) -> list[VariantScore]:
    """Score missense variants on a structure (biotite AtomArray).

    Parameters
    ----------
    atoms : biotite.structure.AtomArray
    variants : list of str
        ``K156E``, ``A:K156E`` or ``p.Lys156Glu``; numbers are the structure's residue numbers,
        the chain defaults to `chain`.
    model : folder or (EsmForMaskedLM, tokenizer), optional
        An ESM-2 language model (see :func:`load_esm2_lm`): adds ``esm_marginal`` (nats) and a
        reason to each result. Without it the score is structural only.
    chain : str, optional
        Chain of variants written without one (default: the first protein chain).

    Raises
    ------
    MatfoldInputError
        A malformed variant, a residue missing from the structure, or a wild type that
        does not match the structure's residue.
    """
    import biotite.structure as struc
    from biotite.sequence import ProteinSequence
    from biotite.sequence.align import SubstitutionMatrix

    if not struc.filter_amino_acids(atoms).any():
        raise MatfoldInputError("the structure has no amino-acid residues to score variants on")
    props = residue_properties(atoms)
    index = {(str(c), int(r)): i for i, (c, r) in enumerate(zip(props.chain, props.res_id))}
    chains = list(dict.fromkeys(props.chain.tolist()))
    if chain is not None and chain not in chains:
        raise MatfoldInputError(f"chain {chain!r} is not in the structure (protein chains: {', '.join(chains)})")
    default_chain = chain or chains[0]
    blosum = SubstitutionMatrix.std_protein_matrix()
    results = []
    for text in variants:
        site_chain, wt, pos, mut = parse_variant(text, default_chain)
        i = index.get((site_chain, pos))
        if i is None:
            raise MatfoldInputError(f"variant {text!r}: chain {site_chain} has no residue {pos} in this structure "
                                    f"(protein chains: {', '.join(chains)}; the structure's residue numbers are used)")
        try:
            actual = ProteinSequence.convert_letter_3to1(str(props.res_name[i]))
        except KeyError:
            actual = "X"
        if actual != wt:
            raise MatfoldInputError(f"variant {text!r}: residue {site_chain}{pos} is {actual}, not {wt}; "
                                    "check the numbering (the structure's residue numbers are used)")
        reasons = []
        substitution = blosum.get_score(wt, mut) if wt != mut else 4
        s_sub = float(np.clip((4 - substitution) / 8, 0, 1))  # +4 (identical-like) .. -4 (rare) -> 0..1
        if substitution < 0:
            reasons.append(f"rare substitution (BLOSUM62 {substitution})")
        rsa = float(np.nan_to_num(props.relative_sasa[i], nan=0.5))
        s_burial = float(np.clip(1 - rsa / 0.5, 0, 1))  # fully buried 1, half exposed or more 0
        if rsa < 0.2:
            reasons.append(f"buried site ({rsa:.0%} exposed)")
        ss = str(props.secondary_structure[i])
        s_ss = 0.0
        if ss in ("a", "b") and mut in "PG" and wt not in "PG":
            s_ss = 1.0
            reasons.append(f"{'proline' if mut == 'P' else 'glycine'} into a {'helix' if ss == 'a' else 'strand'}")
        s_hyd = float(np.clip(abs(_KD[wt] - _KD[mut]) / 9, 0, 1)) * s_burial
        if s_hyd > 0.4:
            reasons.append(f"hydropathy change in the core ({_KD[wt]:+.1f} → {_KD[mut]:+.1f})")
        score = 0.35 * s_sub + 0.3 * s_burial * s_sub + 0.2 * s_ss + 0.15 * s_hyd if wt != mut else 0.0
        score = float(np.clip(score + 0.3 * s_burial * (s_ss + s_hyd) / 2, 0, 1))
        category = "likely disruptive" if score >= 0.5 else "possibly disruptive" if score >= 0.3 else "likely tolerated"
        results.append(VariantScore(site_chain, pos, wt, mut, round(score, 3), category, round(rsa, 3), ss, tuple(reasons)))
    if model is None or not results:
        return results
    return _add_marginals(atoms, results, _as_language_model(model, device))


def _add_marginals(atoms, results, model) -> list[VariantScore]:
    marginals = {}
    for chain in dict.fromkeys(r.chain for r in results):
        sequence, positions = _residue_index(atoms, chain)
        sites = sorted({positions[r.position] for r in results if r.chain == chain})
        table = dict(zip(sites, esm_masked_marginals(sequence, sites, model)))
        for i, r in enumerate(results):
            if r.chain == chain:
                logp = table[positions[r.position]]
                marginals[i] = round(logp[r.mutant] - logp[r.wild_type], 4)
    scored = []
    for i, r in enumerate(results):
        verdict = "prefers the wild type" if marginals[i] < 0 else "accepts the mutant"
        reason = f"ESM-2 masked marginal {marginals[i]:+.2f} ({verdict})"
        scored.append(replace(r, esm_marginal=marginals[i], reasons=r.reasons + (reason,)))
    return scored
