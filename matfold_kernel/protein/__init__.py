"""Proteins: sequences (FASTA), structures (PDB, mmCIF) and structural alignment."""

from .align import Alignment, align_structures
from .sequence import AMINO_ACIDS, MODEL_MAX_LENGTH, SequenceRecord, read_fasta, validate_sequence
from .surface import MAX_ASA, ResidueProperties, residue_properties
from .structure import ChainInfo, ProteinInfo, chain_sequence, guess_protein_format, protein_info, read_protein

__all__ = [
    "AMINO_ACIDS", "MAX_ASA", "MODEL_MAX_LENGTH", "Alignment", "ResidueProperties", "residue_properties", "ChainInfo", "ProteinInfo", "SequenceRecord",
    "align_structures", "chain_sequence", "guess_protein_format", "protein_info", "read_fasta", "read_protein",
    "validate_sequence",
]
