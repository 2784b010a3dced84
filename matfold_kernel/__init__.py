"""matfold_kernel: the library a matfold notebook imports.

Crystal structures in and out (:func:`read_structure`, :func:`structure_info`),
crystal property prediction (:func:`predict`), and
the one exception family (:class:`MatfoldError`). Nothing heavy is imported here:
pymatgen and friends load on first use.
"""

from .compute import get_client
from .crystal import (
    FORMATS,
    StructureInfo,
    guess_format,
    parse_structure,
    parse_structures,
    read_structure,
    read_structures,
    structure_from_dict,
    structure_info,
    validate_structure,
)
from .errors import MatfoldDependencyError, MatfoldError, MatfoldInputError
from .properties import PROPERTIES, predict
from . import store
from .store import StoreError as MatfoldServiceError  # the old name of the store's error

__version__ = "0.1.0"

__all__ = [
    "FORMATS",
    "MatfoldDependencyError",
    "MatfoldError",
    "MatfoldInputError",
    "MatfoldServiceError",
    "PROPERTIES",
    "StructureInfo",
    "guess_format",
    "parse_structure",
    "parse_structures",
    "read_structure",
    "read_structures",
    "structure_from_dict",
    "structure_info",
    "validate_structure",
    "get_client",
    "predict",
    "store",
    "__version__",
]
