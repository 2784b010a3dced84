"""Crystal structures: reading, checking and describing them."""

from .info import SYMPREC, StructureInfo, structure_info
from .dicts import structure_from_dict, structure_to_dict
from .io import FORMATS, guess_format, parse_structure, parse_structures, read_structure, read_structures
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
    "parse_structure",
    "parse_structures",
    "read_structure",
    "read_structures",
    "structure_from_dict",
    "structure_info",
    "structure_to_dict",
    "validate_structure",
]
