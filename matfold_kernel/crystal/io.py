"""Reading crystal structures: CIF, POSCAR/CONTCAR, extxyz, pymatgen and ASE objects.

Everything comes back as pymatgen ``Structure`` objects that passed
:func:`~matfold_kernel.crystal.validate.validate_structure`, with
``structure.properties`` holding ``source`` (file name) and ``label`` (CIF block
name, POSCAR comment or frame number).
"""

from __future__ import annotations

import io
import json
import re
import warnings
from functools import partial
from pathlib import Path

from ..errors import MatfoldInputError
from ..textsource import MAX_FILE_BYTES, TextSource, read_text_source, text_source
from .dicts import structure_from_dict
from .poscar import parse_poscar
from .validate import MAX_SITES, check_elements, validate_structure

__all__ = [
    "read_structures",
    "read_structure",
    "parse_structures",
    "parse_structure",
    "guess_format",
    "FORMATS",
    "MAX_CIF_SYMOPS",
    "MAX_EXTXYZ_COLUMNS",
]

#: Formats matfold reads, by the name used for ``format=``. ``json`` is a pymatgen
#: ``Structure.as_dict()`` dict, decoded by :func:`~matfold_kernel.crystal.dicts.structure_from_dict`.
FORMATS = ("cif", "poscar", "extxyz", "json")

#: Most symmetry operations in one CIF block (including magnetic and centring lists):
#: 192 is the order of the largest crystallographic space groups (Fm-3m etc.).
MAX_CIF_SYMOPS = 192
#: Most sites a CIF block may generate before merging (asymmetric-unit rows × symmetry
#: operations). pymatgen's expansion compares each generated site with those kept, so its
#: time grows with this product squared: 3,840 generic positions take 2 s, 19,200 take
#: 29 s (2-core test box). The largest of the 229 jarvis structures written with its
#: symmetry generates 5,184 (54 rows × 96 operations, 4,640 atoms) and parses in 0.8 s.
#: The service also cuts any parse at 10 s.
MAX_CIF_EXPANSION = MAX_SITES
#: Most columns one extxyz atom line may declare in ``Properties=``.
MAX_EXTXYZ_COLUMNS = 256

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?(\(\d+\))?$")


def guess_format(text: str, name: str = "") -> str:
    """Guess the file format: unmistakable content first, then the file name.

    Returns
    -------
    str
        One of :data:`FORMATS`.
    """
    head = text.lstrip()[:20000]
    if head.startswith("{"):
        return "json"
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


def _check_cif_sizes(block, name: str, label: str) -> None:
    """Bound what pymatgen will do with the block: symmetry lists and loop lengths."""
    rows = 0
    symops = 1
    lists = [(key, value) for key, value in block.data.items() if isinstance(value, list)]
    for key, value in lists:
        lowered = key.lower()
        if "symop" in lowered or "equiv_pos" in lowered:
            if len(value) > MAX_CIF_SYMOPS:
                raise MatfoldInputError(
                    f"data block {label!r}: {key} lists {len(value):,} symmetry operations; a space "
                    f"group has at most {MAX_CIF_SYMOPS}: remove the repeated lines",
                    name,
                )
            symops = max(symops, len(value))
    for key, value in lists:
        if len(value) > MAX_SITES:
            raise MatfoldInputError(
                f"data block {label!r}: {key} has {len(value):,} values, over matfold's limit of "
                f"{MAX_SITES:,} per loop",
                name,
            )
        if key.lower() in ("_atom_site_fract_x", "_atom_site_cartn_x"):
            rows = max(rows, len(value))
    if rows * symops > MAX_CIF_EXPANSION:
        raise MatfoldInputError(
            f"data block {label!r}: {rows:,} atom sites × {symops} symmetry operations would generate "
            f"{rows * symops:,} sites, over {MAX_CIF_EXPANSION:,}; give the asymmetric unit of a "
            "smaller structure",
            name,
        )


def _check_cif_block(block, name: str, label: str) -> None:
    _check_cif_sizes(block, name, label)
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


_DEFAULT_PROPERTIES = "species:S:1:pos:R:3"


def _extxyz_columns(comment: str, lineno: int, frame: int, name: str):
    """Parse ``Properties=`` of one frame's comment line before ASE allocates anything.

    Returns
    -------
    (int, str, int)
        Total number of columns, the species column kind (``"species"`` or ``"Z"``)
        and its index among the whitespace-separated values of an atom line.
    """
    from ase.io.extxyz import key_val_str_to_dict

    try:
        info = key_val_str_to_dict(comment)
    except Exception as exc:  # ASE's tokenizer raises whatever it meets
        raise MatfoldInputError(
            f"line {lineno}: the comment line of frame {frame} is not key=value pairs ({_short(exc)})",
            name,
        ) from None
    props = info.get("Properties", _DEFAULT_PROPERTIES)
    if not isinstance(props, str):
        raise MatfoldInputError(f"line {lineno}: Properties= must be NAME:TYPE:COUNT triples", name)
    fields = props.split(":")
    if len(fields) % 3:
        raise MatfoldInputError(
            f"line {lineno}: Properties={props[:80]!r} is not NAME:TYPE:COUNT triples", name
        )
    total, species, position = 0, None, False
    for pname, ptype, count in zip(fields[::3], fields[1::3], fields[2::3]):
        if ptype not in ("R", "I", "S", "L"):
            raise MatfoldInputError(
                f"line {lineno}: Properties= column {pname[:40]!r} has type {ptype[:10]!r}; "
                "types are R, I, S or L",
                name,
            )
        if not count.isdigit() or not 1 <= int(count[:6]) <= MAX_EXTXYZ_COLUMNS or len(count) > 6:
            raise MatfoldInputError(
                f"line {lineno}: Properties= gives {pname[:40]!r} {count[:20]} columns; each property "
                f"has 1 to {MAX_EXTXYZ_COLUMNS}",
                name,
            )
        n = int(count)
        if pname in ("species", "Z") and species is None:
            expected = "S" if pname == "species" else "I"
            if ptype != expected or n != 1:
                raise MatfoldInputError(
                    f"line {lineno}: Properties= declares {pname}:{ptype}:{n}; it must be "
                    f"{pname}:{expected}:1",
                    name,
                )
            species = (pname, total)
        if pname == "pos":
            if ptype != "R" or n != 3:
                raise MatfoldInputError(
                    f"line {lineno}: Properties= declares pos:{ptype}:{n}; it must be pos:R:3", name
                )
            position = True
        total += n
        if total > MAX_EXTXYZ_COLUMNS:
            raise MatfoldInputError(
                f"line {lineno}: Properties= declares more than {MAX_EXTXYZ_COLUMNS} columns", name
            )
    if species is None:
        raise MatfoldInputError(
            f"line {lineno}: Properties={props[:80]!r} has no species column; name the element "
            "column 'species:S:1' (symbols) or 'Z:I:1' (atomic numbers), otherwise every atom "
            "would be read as a dummy atom",
            name,
        )
    if not position:
        raise MatfoldInputError(
            f"line {lineno}: Properties={props[:80]!r} has no positions; add pos:R:3", name
        )
    return total, species[0], species[1]


def _check_extxyz_species(token: str, kind: str, lineno: int, name: str) -> None:
    from pymatgen.core.periodic_table import Element

    if kind == "Z":
        if not token.isdigit() or not 1 <= int(token[:4]) <= 118 or len(token) > 3:
            raise MatfoldInputError(
                f"line {lineno}: atomic number {token[:20]!r} is not an element (1-118)", name
            )
        return
    if not Element.is_valid_symbol(token):
        try:
            check_elements([token])
        except MatfoldInputError as exc:
            raise MatfoldInputError(f"line {lineno}: {exc.reason}", name) from None


def _read_extxyz(text: str, name: str):
    from ase.io import read as ase_read
    from pymatgen.io.ase import AseAtomsAdaptor

    lines = text.split("\n")
    i, frame, total_atoms = 0, 0, 0
    starts = []
    while i < len(lines) and lines[i].strip():
        count = lines[i].strip()
        if not count.isdigit():
            raise MatfoldInputError(
                f"line {i + 1}: expected the number of atoms of frame {frame + 1}, found {count[:40]!r}",
                name,
            )
        n = int(count) if len(count) <= 9 else MAX_SITES + 1
        if n == 0:
            raise MatfoldInputError(f"line {i + 1}: frame {frame + 1} has 0 atoms", name)
        if n > MAX_SITES:
            raise MatfoldInputError(
                f"line {i + 1}: frame {frame + 1} has {count[:12]} atoms, over matfold's limit of "
                f"{MAX_SITES:,}",
                name,
            )
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
        columns, kind, column = _extxyz_columns(comment, i + 2, frame + 1, name)
        for k, line in enumerate(lines[i + 2 : i + 2 + n]):
            values = line.split()
            if len(values) < columns:
                raise MatfoldInputError(
                    f"line {i + 3 + k}: {len(values)} values, but Properties= on line {i + 2} "
                    f"declares {columns} columns",
                    name,
                )
            _check_extxyz_species(values[column], kind, i + 3 + k, name)
        starts.append(i + 3)
        total_atoms += n
        if total_atoms > 10 * MAX_SITES:
            raise MatfoldInputError(
                f"line {i + 1}: the file holds more than {10 * MAX_SITES:,} atoms in all; split it", name
            )
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
        dummies = [a for a, z in enumerate(atoms.numbers) if z <= 0]
        if dummies:
            line = starts[k] + dummies[0] if k < len(starts) else "?"
            raise MatfoldInputError(
                f"line {line}: atom {dummies[0] + 1} of frame {k + 1} has atomic number 0 (a dummy "
                "atom); give a chemical element",
                name,
            )
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


def _json_structures(text: str, name: str, validate: bool, allow_overlap: bool):
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MatfoldInputError(f"is not valid JSON ({_short(exc)})", name) from None
    items = data if isinstance(data, list) else [data]
    if len(items) > 1000:
        raise MatfoldInputError(f"holds {len(items):,} structures; give at most 1,000 at once", name)
    return [structure_from_dict(item, name=name, validate=validate, allow_overlap=allow_overlap)
            for item in items]


def _parse(src: TextSource, format: str | None, validate: bool, allow_overlap: bool):
    label, text = src.name, src.text
    fmt = (format or guess_format(text, label)).lower()
    if fmt in ("vasp", "contcar"):
        fmt = "poscar"
    if fmt == "xyz":
        fmt = "extxyz"
    if fmt not in FORMATS:
        raise MatfoldInputError(
            f"unknown format {str(format)[:40]!r}; use one of {', '.join(FORMATS)}", label
        )
    if fmt == "json":
        structures = _json_structures(text, label, validate, allow_overlap)
    else:
        reader = {"cif": _read_cif, "poscar": parse_poscar, "extxyz": _read_extxyz}[fmt]
        try:
            result = reader(text, label)
        except MatfoldInputError:
            raise
        except (ValueError, IndexError, KeyError, TypeError, AttributeError, ZeroDivisionError) as exc:
            raise MatfoldInputError(f"is not a valid {fmt.upper()} file ({_short(exc)})", label) from None
        structures = result if isinstance(result, list) else [result]
        if validate:
            for structure in structures:
                validate_structure(structure, label, allow_overlap=allow_overlap)
    if not structures:
        raise MatfoldInputError(f"holds no structure (read as {fmt.upper()})", label)
    for structure in structures:
        structure.properties.setdefault("label", "")
        structure.properties["source"] = label
    return structures


def _contained(function, label, *args):
    """Run a parse; resource exhaustion becomes a MatfoldInputError, not a crash."""
    try:
        return function(*args)
    except MemoryError:
        raise MatfoldInputError(
            "ran out of memory while reading this structure; it is far larger than a crystal "
            "needs (check the cell, the scale factor and the atom counts)",
            label,
        ) from None
    except RecursionError:
        raise MatfoldInputError("is nested too deeply to read", label) from None
    except OverflowError as exc:
        raise MatfoldInputError(f"holds a number too large to use ({_short(exc)})", label) from None


def parse_structures(text, format: str | None = None, *, name: str = "<text>",
                     validate: bool = True, allow_overlap: bool = False, max_bytes: int | None = None):
    """Parse every crystal structure in `text`; never touches the file system.

    The text-only twin of :func:`read_structures` for input from other people (a
    request, a form): a ``str`` is always file content, even a one-line
    ``"/etc/passwd"``, which fails as unreadable structure text.

    Parameters
    ----------
    text : str or bytes
        CIF, POSCAR/CONTCAR, extxyz, or a pymatgen ``Structure.as_dict()`` as JSON
        (decoded with the allow-list of :func:`~matfold_kernel.crystal.dicts.structure_from_dict`).
    format : {"cif", "poscar", "extxyz", "json"}, optional
        Skip format detection (which reads the content only).
    name : str
        Name for error messages (default ``"<text>"``).
    validate, allow_overlap : bool
        As in :func:`read_structures`.
    max_bytes : int, optional
        Largest text accepted, in bytes (default 50 MiB).

    Returns
    -------
    list of pymatgen.core.Structure
        Lattice in Å.

    Raises
    ------
    MatfoldInputError
        For anything that is not a valid structure, including input that would
        exhaust memory.
    """
    src = text_source(text, name=name, max_bytes=max_bytes or MAX_FILE_BYTES)
    return _contained(_parse, src.name, src, format, validate, allow_overlap)


def parse_structure(text, format: str | None = None, *, index: int = 0, name: str = "<text>",
                    validate: bool = True, allow_overlap: bool = False, max_bytes: int | None = None):
    """Parse one crystal structure from text; `index` picks a CIF block or extxyz frame.

    Parameters and errors as :func:`parse_structures`; never opens a file.

    Returns
    -------
    pymatgen.core.Structure
    """
    structures = parse_structures(text, format, name=name, validate=validate,
                                  allow_overlap=allow_overlap, max_bytes=max_bytes)
    return _pick(structures, index)


def _pick(structures, index: int):
    try:
        return structures[index]
    except (IndexError, TypeError):
        raise MatfoldInputError(
            f"asked for structure {index} but the file holds {len(structures)} "
            f"(valid indices 0 to {len(structures) - 1})",
            structures[0].properties.get("source"),
        ) from None


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
        for structure in structures:
            if validate:
                _contained(partial(validate_structure, allow_overlap=allow_overlap), label, structure, label)
            structure.properties.setdefault("label", "")
            structure.properties["source"] = label
        return structures
    src = read_text_source(source, name=name)
    return _contained(_parse, src.name, src, format, validate, allow_overlap)


def read_structure(source, format: str | None = None, *, index: int = 0, name: str | None = None,
                   validate: bool = True, allow_overlap: bool = False):
    """Read one crystal structure; `index` picks a CIF block or extxyz frame.

    Parameters and errors as :func:`read_structures`; `index` may be negative.
    For text from other people use :func:`parse_structure`, which never opens a file.

    Returns
    -------
    pymatgen.core.Structure
    """
    structures = read_structures(
        source, format, name=name, validate=validate, allow_overlap=allow_overlap
    )
    return _pick(structures, index)
