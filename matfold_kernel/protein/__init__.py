"""Proteins: sequences (FASTA), structures (PDB, mmCIF) and structural alignment."""

from .align import Alignment, align_structures
from .export import PLDDT_BANDS, plot_pae, plot_plddt, pymol_script, read_annotations, write_structure
from .fetch import MatfoldNetworkError, UniProtEntry, fetch_alphafold, fetch_pdb, fetch_uniprot
from .embeddings import ESM2_HUB_ID, embed_sequences, load_esm2
from .esmfold import FoldResult, fold, load_esmfold
from .pockets import Pocket, find_pockets, ligand_pocket_rank
from .sequence import AMINO_ACIDS, MODEL_MAX_LENGTH, SequenceRecord, read_fasta, validate_sequence
from .variants import VariantScore, load_esm2_lm, parse_variant, score_variants
from .surface import MAX_ASA, ResidueProperties, residue_properties
from .structure import ChainInfo, ProteinInfo, chain_sequence, guess_protein_format, protein_info, read_protein

__all__ = [
    "AMINO_ACIDS", "MAX_ASA", "MODEL_MAX_LENGTH", "Alignment", "ESM2_HUB_ID", "FoldResult", "embed_sequences", "load_esm2", "PLDDT_BANDS", "plot_pae", "plot_plddt", "pymol_script", "read_annotations",
    "write_structure", "VariantScore", "load_esm2_lm", "parse_variant", "score_variants", "MatfoldNetworkError", "UniProtEntry", "fetch_alphafold", "fetch_pdb",
    "fetch_uniprot", "Pocket", "fold", "load_esmfold", "ResidueProperties", "find_pockets", "ligand_pocket_rank", "residue_properties", "ChainInfo", "ProteinInfo", "SequenceRecord",
    "align_structures", "chain_sequence", "guess_protein_format", "protein_info", "read_fasta", "read_protein",
    "validate_sequence",
]
