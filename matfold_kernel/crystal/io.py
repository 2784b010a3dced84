"""Reading crystal structures: CIF, POSCAR/CONTCAR, extxyz, pymatgen and ASE objects.

Everything comes back as pymatgen ``Structure`` objects that passed
:func:`~matfold_kernel.crystal.validate.validate_structure`, with
``structure.properties`` holding ``source`` (file name) and ``label`` (CIF block
name, POSCAR comment or frame number).
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

from ..errors import MatfoldInputError
from ..textsource import read_text_source
from .poscar import parse_poscar
from .validate import check_elements, validate_structure

__all__ = ["read_structures", "read_structure", "guess_format", "FORMATS"]

#: Formats matfold reads, by the name used for ``format=``.
FORMATS = ("cif", "poscar", "extxyz")

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?(\(\d+\))?$")


def guess_format(text: str, name: str = "") -> str:
    """Guess the file format: unmistakable content first, then the file name.

    Returns
    -------
    str
        One of :data:`FORMATS`.
    """
    head = text.lstrip()[:20000]
    if re.search(r"^\s*data_", head, re.M):
        return "cif"
    lines = head.split("\n", 2)
    if len(lines) >= 2 and lines[0].strip().isdigit() and "=" in lines[1]:
        return "extxyz"
    base = Path(name).name.lower() if name and not name.startswith("<") else ""
    if base.endswith((".vasp", ".poscar")) or "poscar" in base or "contcar" in base:
        return "poscar"
    if base.endswith((".cif", ".mcif")):
        return "cif"
    if base.endswith((".xyz", ".extxyz")):
        return "extxyz"
    if re.search(r"^\s*_cell_length_a", head, re.M):
        return "cif"
    if lines and lines[0].strip().isdigit():
        return "extxyz"
    return "poscar"


def _cif_number(block, key: str, name: str, label: str) -> float:
    raw = block.data.get(key)
    if raw is None:
        raise MatfoldInputError(
            f"data block {label!r} has atoms but no {key}; add the cell parameters", name
        )
    value = raw[0] if isinstance(raw, list) else raw
    text = str(value).strip()
    if not _NUMBER.match(text):
        raise MatfoldInputError(
            f"data block {label!r}: {key} is {text!r}, not a number", name
        )
    number = float(text.split("(")[0])
    return number


def _check_cif_block(block, name: str, label: str) -> None:
    lengths = [_cif_number(block, f"_cell_length_{x}", name, label) for x in "abc"]
    for axis, length in zip("abc", lengths):
        if length <= 0:
            raise MatfoldInputError(
                f"data block {label!r}: _cell_length_{axis} is {length:g} Å; "
                "cell lengths must be positive",
                name,
            )
    for axis in ("alpha", "beta", "gamma"):
        key = f"_cell_angle_{axis}"
        if key in block.data:
            angle = _cif_number(block, key, name, label)
            if not 0 < angle < 180:
                raise MatfoldInputError(
                    f"data block {label!r}: {key} is {angle:g}°; angles must lie between 0 and 180",
                    name,
                )
    symbols = block.data.get("_atom_site_type_symbol")
    if symbols is not None:
        cleaned = [re.sub(r"[\d+\-.]+$", "", str(s).strip()) for s in symbols]
        check_elements([s for s in cleaned if s not in ("?", ".", "")], name)


def _has_sites(block) -> bool:
    keys = block.data
    return any(k in keys for k in ("_atom_site_fract_x", "_atom_site_Cartn_x"))


def _read_cif(text: str, name: str):
    from pymatgen.io.cif import CifFile, CifParser

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cif = CifFile.from_str(text)
    except Exception as exc:  # pymatgen raises bare Exceptions from its tokenizer
        raise MatfoldInputError(f"is not a readable CIF: {_cif_reason(exc)}", name) from None
    blocks = [(label, block) for label, block in cif.data.items() if _has_sites(block)]
    if not blocks:
        raise MatfoldInputError(
            "no data block with atom sites (_atom_site_fract_x or _atom_site_Cartn_x); "
            "this CIF holds no crystal structure",
            name,
        )
    structures = []
    for label, block in blocks:
        _check_cif_block(block, name, label)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                parser = CifParser.from_str(str(block))
                found = parser.parse_structures(primitive=False, on_error="ignore")
            except MatfoldInputError:
                raise
            except Exception as exc:
                raise MatfoldInputError(
                    f"data block {label!r} cannot be turned into a structure: {_cif_reason(exc)}",
                    name,
                ) from None
        if not found:
            why = [str(w.message).splitlines()[0] for w in caught
                   if "parse" in str(w.message).lower() or "occupanc" in str(w.message).lower()]
            raise MatfoldInputError(
                f"data block {label!r} cannot be turned into a structure: "
                + (why[0] if why else _CIF_HINTS[-1][1](None)),
                name,
            )
        for structure in found:
            structure.properties["label"] = label
            structures.append(structure)
    return structures


def _read_extxyz(text: str, name: str):
    from ase.io import read as ase_read
    from pymatgen.io.ase import AseAtomsAdaptor

    lines = text.split("\n")
    i, frame = 0, 0
    while i < len(lines) and lines[i].strip():
        count = lines[i].strip()
        if not count.isdigit():
            raise MatfoldInputError(
                f"line {i + 1}: expected the number of atoms of frame {frame + 1}, found {count!r}",
                name,
            )
        n = int(count)
        if n == 0:
            raise MatfoldInputError(f"line {i + 1}: frame {frame + 1} has 0 atoms", name)
        atom_lines = [l for l in lines[i + 2 : i + 2 + n] if l.strip()]
        if len(atom_lines) < n:
            raise MatfoldInputError(
                f"line {i + 1}: frame {frame + 1} promises {n} atoms but only "
                f"{len(atom_lines)} atom lines follow",
                name,
            )
        comment = lines[i + 1] if i + 1 < len(lines) else ""
        if "lattice=" not in comment.lower():
            raise MatfoldInputError(
                f"line {i + 2}: frame {frame + 1} has no Lattice=\"...\" in its comment line; "
                "a crystal needs a cell (plain XYZ holds molecules)",
                name,
            )
        check_elements([l.split()[0] for l in atom_lines], name)
        i += 2 + n
        frame += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frames = ase_read(io.StringIO(text), index=":", format="extxyz")
    except Exception as exc:
        raise MatfoldInputError(f"is not a readable extended XYZ file ({_short(exc)})", name) from None
    structures = []
    for k, atoms in enumerate(frames):
        try:
            structure = AseAtomsAdaptor.get_structure(atoms)
        except Exception as exc:
            raise MatfoldInputError(f"frame {k + 1} is not a crystal ({_short(exc)})", name) from None
        structure.properties["label"] = f"frame {k + 1}"
        structures.append(structure)
    return structures


_CIF_HINTS = (
    (re.compile(r"len\(items\)=(\d+) is not a multiple of n=(\d+)"),
     lambda m: f"a loop_ has {m.group(1)} values for {m.group(2)} columns: a value is missing "
               "or extra in one of its rows"),
    (re.compile(r"modulo by zero|division by zero"),
     lambda m: "a loop_ is incomplete (column names with no values, or values with no "
               "names): is the file truncated?"),
    (re.compile(r"zip\(\) argument \d+ is (longer|shorter)"),
     lambda m: "the columns of the atom site loop have different lengths"),
    (re.compile(r"Invalid CIF file with no structures"),
     lambda m: "no atom could be placed: check the atom site loop (element symbols, "
               "coordinates, occupancies) and the symmetry operations"),
)


def _cif_reason(exc: BaseException) -> str:
    text = _short(exc)
    for pattern, explain in _CIF_HINTS:
        match = pattern.search(text)
        if match:
            return explain(match)
    return text


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _from_object(obj):
    """pymatgen Structure or ASE Atoms → list of Structure, or None."""
    try:
        from pymatgen.core import IStructure, Structure
    except ImportError:  # pragma: no cover - pymatgen is a hard dependency
        return None
    if isinstance(obj, (Structure, IStructure)):
        return [Structure.from_sites(obj.sites, properties=dict(obj.properties or {}))]
    if type(obj).__module__.startswith(("ase.", "pymatgen.")) and hasattr(obj, "get_cell"):
        from pymatgen.io.ase import AseAtomsAdaptor

        if not obj.pbc.any() or abs(obj.cell.volume) < 1e-2:
            raise MatfoldInputError(
                "this ASE Atoms object has no periodic cell; set atoms.cell and atoms.pbc=True",
                "<ase.Atoms>",
            )
        check_elements(obj.get_chemical_symbols(), "<ase.Atoms>")
        return [AseAtomsAdaptor.get_structure(obj)]
    return None


def read_structures(source, format: str | None = None, *, name: str | None = None,
                    validate: bool = True, allow_overlap: bool = False):
    """Read every crystal structure in `source`.

    Parameters
    ----------
    source : str, os.PathLike, bytes, file-like, pymatgen Structure or ase.Atoms
        A path; file content as text (a ``str`` with a newline) or bytes; an open
        file; or an in-memory structure.
    format : {"cif", "poscar", "extxyz"}, optional
        Skip format detection (which uses the file name, then the content).
    name : str, optional
        Name for error messages when reading text or bytes.
    validate : bool
        Run :func:`validate_structure` (overlapping atoms, NaN, zero volume).
    allow_overlap : bool
        Accept fully occupied sites closer than 0.5 Å (disorder written as full sites).

    Returns
    -------
    list of pymatgen.core.Structure
        One per CIF data block or extxyz frame; lattice in Å.

    Raises
    ------
    MatfoldInputError
        For anything that is not a valid structure, naming the file and the problem.

    Examples
    --------
    >>> [s.composition.reduced_formula for s in read_structures("BaTiO3.cif")]  # doctest: +SKIP
    ['BaTiO3']
    """
    objects = _from_object(source)
    if objects is not None:
        label = name or "<object>"
        structures = objects
    else:
        text_source = read_text_source(source, name=name)
        label, text = text_source.name, text_source.text
        fmt = (format or guess_format(text, label)).lower()
        if fmt in ("vasp", "contcar"):
            fmt = "poscar"
        if fmt == "xyz":
            fmt = "extxyz"
        if fmt not in FORMATS:
            raise MatfoldInputError(
                f"unknown format {format!r}; use one of {', '.join(FORMATS)}", label
            )
        reader = {"cif": _read_cif, "poscar": parse_poscar, "extxyz": _read_extxyz}[fmt]
        try:
            result = reader(text, label)
        except MatfoldInputError:
            raise
        except (ValueError, IndexError, KeyError, TypeError, AttributeError, ZeroDivisionError, OverflowError) as exc:
            raise MatfoldInputError(f"is not a valid {fmt.upper()} file ({_short(exc)})", label) from None
        structures = result if isinstance(result, list) else [result]
    for structure in structures:
        if validate:
            validate_structure(structure, label, allow_overlap=allow_overlap)
        structure.properties.setdefault("label", "")
        structure.properties["source"] = label
    return structures


def read_structure(source, format: str | None = None, *, index: int = 0, name: str | None = None,
                   validate: bool = True, allow_overlap: bool = False):
    """Read one crystal structure; `index` picks a CIF block or extxyz frame.

    Parameters and errors as :func:`read_structures`; `index` may be negative.

    Returns
    -------
    pymatgen.core.Structure
    """
    structures = read_structures(
        source, format, name=name, validate=validate, allow_overlap=allow_overlap
    )
    try:
        return structures[index]
    except IndexError:
        raise MatfoldInputError(
            f"asked for structure {index} but the file holds {len(structures)} "
            f"(valid indices 0 to {len(structures) - 1})",
            structures[0].properties.get("source"),
        ) from None
