"""Protein sequences: FASTA records and their validation."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import MatfoldInputError
from ..textsource import read_text_source

__all__ = ["AMINO_ACIDS", "MODEL_MAX_LENGTH", "SequenceRecord", "read_fasta", "validate_sequence"]

#: The 20 standard amino acids (one-letter codes).
AMINO_ACIDS = frozenset("ACDEFGHIKLMNPQRSTVWY")
#: Longest sequence each folding model accepts, in residues.
MODEL_MAX_LENGTH = {"esmfold": 2048, "esm2": 1022}


@dataclass(frozen=True)
class SequenceRecord:
    """One FASTA record: ``id`` (first word of the header), ``description``, ``sequence``."""

    id: str
    description: str
    sequence: str

    def __len__(self) -> int:
        return len(self.sequence)


def validate_sequence(sequence: str, name: str = "sequence", *, allow_x: bool = True,
                      model: str | None = None) -> str:
    """Upper-case `sequence` without white space, or `MatfoldInputError` naming the problem.

    Parameters
    ----------
    sequence : str
        One-letter amino-acid codes; ``*`` at the end (a stop) is dropped.
    name : str
        Shown in messages (record id or file name).
    allow_x : bool
        Accept ``X`` (unknown residue), as ESM models do.
    model : str, optional
        Check the length limit of this model (see :data:`MODEL_MAX_LENGTH`).
    """
    seq = "".join(str(sequence).split()).upper().rstrip("*")
    if not seq:
        raise MatfoldInputError("the sequence is empty", name)
    allowed = AMINO_ACIDS | ({"X"} if allow_x else set())
    bad = [(i, c) for i, c in enumerate(seq) if c not in allowed]
    if bad:
        i, c = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        hint = " (U/O are selenocysteine/pyrrolysine: write C/K or X)" if c in "UO" else ""
        hint = hint or (" (nucleotides? give a protein sequence)" if set(seq) <= set("ACGTUN") else "")
        raise MatfoldInputError(
            f"letter {c!r} at position {i + 1} is not one of the 20 amino acids"
            f"{' or X' if allow_x else ''}{more}{hint}", name)
    if len(seq) >= 20 and set(seq) <= set("ACGTUN"):
        raise MatfoldInputError(
            f"looks like a nucleotide sequence ({len(seq)} letters, only A/C/G/T/U/N); "
            "give the protein sequence (translate it first)", name)
    if model is not None:
        limit = MODEL_MAX_LENGTH.get(model)
        if limit is None:
            raise MatfoldInputError(f"unknown model {model!r}; use one of {', '.join(MODEL_MAX_LENGTH)}")
        if len(seq) > limit:
            raise MatfoldInputError(
                f"the sequence has {len(seq)} residues, over {model}'s limit of {limit}; split it into domains",
                name)
    return seq


def read_fasta(source, *, name: str | None = None, model: str | None = None) -> list[SequenceRecord]:
    """All records of a FASTA file (path, text or bytes), validated.

    Raises
    ------
    MatfoldInputError
        No records, a record without sequence, letters outside the amino acids,
        text before the first header, or a sequence over `model`'s limit.
    """
    src = read_text_source(source, name=name)
    records, header, lines, first = [], None, [], True
    for lineno, line in enumerate(src.text.split("\n"), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        if stripped.startswith(">"):
            if header is not None:
                records.append((header, lines))
            header, lines, first = (stripped[1:].strip(), lineno), [], False
        elif first:
            raise MatfoldInputError(
                f"line {lineno}: a FASTA file starts with a '>' header line, found {stripped[:30]!r}", src.name)
        else:
            lines.append(stripped)
    if header is not None:
        records.append((header, lines))
    if not records:
        raise MatfoldInputError("no FASTA records ('>' header lines) found", src.name)
    result = []
    for (text, lineno), seq_lines in records:
        rid = text.split()[0] if text else f"record{len(result) + 1}"
        label = f"{src.name}: record {rid!r} (line {lineno})"
        if not seq_lines:
            raise MatfoldInputError("has a header but no sequence", label)
        result.append(SequenceRecord(rid, text, validate_sequence("".join(seq_lines), label, model=model)))
    return result
