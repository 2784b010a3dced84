"""Variant impact from structure: a transparent heuristic, not a trained predictor.

Each missense variant ``K156E`` (or ``A:K156E``) is scored 0-1 from four parts a
structural biologist would look at: how unusual the substitution is (BLOSUM62), how
buried the site is (relative SASA), whether it breaks a helix or strand (Pro/Gly
into secondary structure), and how the hydropathy changes in the core. Scores are
comparable between variants of one protein; they are no pathogenicity
probability. (A language-model score such as ESM-1v needs its weights: not here.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import MatfoldInputError

__all__ = ["VariantScore", "score_variants", "parse_variant"]

_VARIANT = re.compile(r"^(?:(?P<chain>[A-Za-z0-9]):)?(?P<wt>[ACDEFGHIKLMNPQRSTVWY])(?P<pos>-?\d+)(?P<mut>[ACDEFGHIKLMNPQRSTVWY])$")
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

    @property
    def name(self) -> str:
        return f"{self.chain}:{self.wild_type}{self.position}{self.mutant}"


def parse_variant(text: str, default_chain: str) -> tuple[str, str, int, str]:
    """``"A:K156E"`` or ``"K156E"`` → (chain, wild type, position, mutant)."""
    match = _VARIANT.match(text.strip())
    if not match:
        raise MatfoldInputError(f"variant {text!r} is not written like K156E or A:K156E (one-letter codes)")
    return match["chain"] or default_chain, match["wt"], int(match["pos"]), match["mut"]


def score_variants(atoms, variants) -> list[VariantScore]:
    """Score missense variants on a structure (biotite AtomArray).

    Raises
    ------
    MatfoldInputError
        A malformed variant, a residue missing from the structure, or a wild type that
        does not match the structure's residue.
    """
    import numpy as np
    from biotite.sequence import ProteinSequence
    from biotite.sequence.align import SubstitutionMatrix

    from .surface import residue_properties

    props = residue_properties(atoms)
    index = {(str(c), int(r)): i for i, (c, r) in enumerate(zip(props.chain, props.res_id))}
    default_chain = str(props.chain[0])
    blosum = SubstitutionMatrix.std_protein_matrix()
    results = []
    for text in variants:
        chain, wt, pos, mut = parse_variant(text, default_chain)
        i = index.get((chain, pos))
        if i is None:
            raise MatfoldInputError(f"variant {text!r}: chain {chain} has no residue {pos} in this structure")
        try:
            actual = ProteinSequence.convert_letter_3to1(str(props.res_name[i]))
        except KeyError:
            actual = "X"
        if actual != wt:
            raise MatfoldInputError(f"variant {text!r}: residue {chain}{pos} is {actual}, not {wt}; "
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
        results.append(VariantScore(chain, pos, wt, mut, round(score, 3), category, round(rsa, 3), ss, tuple(reasons)))
    return results
