"""Crystal structures: reading, checking and describing them."""

from .info import SYMPREC, StructureInfo, structure_info
from .io import FORMATS, guess_format, read_structure, read_structures
from .poscar import parse_poscar
from .validate import MIN_DISTANCE, check_elements, validate_structure

__all__ = [
    "FORMATS",
    "MIN_DISTANCE",
    "SYMPREC",
    "StructureInfo",
    "check_elements",
    "guess_format",
    "parse_poscar",
    "read_structure",
    "read_structures",
    "structure_info",
    "validate_structure",
]
