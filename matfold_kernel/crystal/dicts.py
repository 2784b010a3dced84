"""pymatgen structure dicts, decoded without running anyone's code.

``Structure.from_dict`` hands site properties to monty's ``MontyDecoder``, which
imports any ``@module`` and resolves any ``@callable`` named in the data: a dict from
a request or from a server can make the reader's process import and call Python.
:func:`structure_from_dict` reads only the fields a structure is made of (lattice
matrix, sites with species, occupancies, coordinates, labels, and properties that are
plain JSON) and refuses every other ``@module``/``@class``/``@callable``; nothing is
imported on the data's say-so. :func:`structure_to_dict` writes the same shape as
plain JSON, so what matfold saves it can read back.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from ..errors import MatfoldInputError
from .validate import MAX_SITES, validate_structure

__all__ = [
    "structure_from_dict",
    "structure_to_dict",
    "ALLOWED_CLASSES",
    "MAX_DICT_DEPTH",
    "MAX_STRING",
    "MAX_SPECIES_PER_SITE",
]

#: The only ``(@module, @class)`` pairs accepted, each at its own place in the dict.
#: DummySpecies (``X0+``) and every other class are refused.
ALLOWED_CLASSES = {
    "structure": {("pymatgen.core.structure", "Structure"), ("pymatgen.core.structure", "IStructure")},
    "lattice": {("pymatgen.core.lattice", "Lattice")},
    "site": {("pymatgen.core.sites", "PeriodicSite"), ("pymatgen.core.sites", "Site")},
    "species": {("pymatgen.core.periodic_table", "Element"), ("pymatgen.core.periodic_table", "Species")},
}
#: Deepest nesting of lists/dicts anywhere in the payload.
MAX_DICT_DEPTH = 12
#: Longest string (characters) anywhere in the payload: labels, keys, property values.
MAX_STRING = 1024
#: Most species (occupancy entries) on one site.
MAX_SPECIES_PER_SITE = 16
#: Most JSON values (numbers, strings, lists, dicts) in the whole payload.
MAX_NODES = MAX_SITES * 200

_MARKERS = ("@module", "@class", "@version")


class _Budget:
    def __init__(self, name: str):
        self.name = name
        self.nodes = 0

    def fail(self, where: str, message: str):
        raise MatfoldInputError(f"{where}: {message}", self.name)


def _plain(value, where: str, budget: _Budget, depth: int = 0):
    """Check that `value` is plain JSON (no ``@`` keys), bounded; returns it as is."""
    budget.nodes += 1
    if budget.nodes > MAX_NODES:
        budget.fail(where, f"the structure dict has more than {MAX_NODES:,} values; it is too large")
    if depth > MAX_DICT_DEPTH:
        budget.fail(where, f"nested deeper than {MAX_DICT_DEPTH} levels; properties must be plain, "
                           "shallow JSON")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            budget.fail(where, f"a string of {len(value):,} characters, over the {MAX_STRING} limit")
        return value
    if isinstance(value, Integral):
        if abs(int(value)) > 2**63:
            budget.fail(where, f"the integer {str(value)[:20]}... is too large")
        return value
    if isinstance(value, Real):
        if not math.isfinite(float(value)):
            budget.fail(where, f"{value!r} is not a finite number")
        return value
    if isinstance(value, (list, tuple)):
        for k, item in enumerate(value):
            _plain(item, f"{where}[{k}]", budget, depth + 1)
        return value
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                budget.fail(where, f"key {key!r} is not a string")
            if len(key) > MAX_STRING:
                budget.fail(where, f"a key of {len(key):,} characters, over the {MAX_STRING} limit")
            if key.startswith("@"):
                budget.fail(f"{where}.{key}", "objects to decode (keys starting with '@', such as "
                                              "@module or @callable) are not accepted here; properties "
                                              "must be plain JSON values")
            _plain(item, f"{where}.{key}", budget, depth + 1)
        return value
    budget.fail(where, f"a {type(value).__name__} is not a JSON value")


def _object(value, where: str, kind: str, budget: _Budget, required: tuple[str, ...]) -> dict:
    """A dict at a known place: its markers must name an allowed class; keys checked."""
    if not isinstance(value, dict):
        budget.fail(where, f"expected an object (dict), got {type(value).__name__}")
    module, cls = value.get("@module"), value.get("@class")
    if "@callable" in value:
        budget.fail(where, "@callable is never accepted: matfold does not call functions named in data")
    if module is not None or cls is not None:
        if not isinstance(module, str) or not isinstance(cls, str) or (module, cls) not in ALLOWED_CLASSES[kind]:
            allowed = ", ".join(sorted(f"{m}.{c}" for m, c in ALLOWED_CLASSES[kind]))
            budget.fail(where, f"@module {str(module)[:80]!r} / @class {str(cls)[:80]!r} is not accepted; "
                               f"a {kind} here must be {allowed} (nothing else is imported)")
    for key in value:
        if not isinstance(key, str):
            budget.fail(where, f"key {key!r} is not a string")
        if key.startswith("@") and key not in _MARKERS:
            budget.fail(f"{where}.{key}", "unknown '@' key; only @module, @class and @version are read")
    for key in required:
        if key not in value:
            budget.fail(where, f"missing {key!r}")
    return value


def _numbers(value, count: int, where: str, budget: _Budget) -> list[float]:
    if not isinstance(value, (list, tuple)) or len(value) != count:
        budget.fail(where, f"expected a list of {count} numbers, got {_brief(value)}")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, Real):
            budget.fail(where, f"expected numbers, got {_brief(item)}")
        number = float(item)
        if not math.isfinite(number):
            budget.fail(where, f"{item!r} is not a finite number")
        out.append(number)
    return out


def _brief(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _species(entry, where: str, budget: _Budget):
    from pymatgen.core.periodic_table import Element, Species

    _object(entry, where, "species", budget, ("element",))
    symbol = entry["element"]
    if not isinstance(symbol, str) or not Element.is_valid_symbol(symbol):
        budget.fail(where, f"element {_brief(symbol)} is not a chemical element (dummy species such as "
                           "X0+ are not accepted); use a symbol from the periodic table")
    oxidation = entry.get("oxidation_state")
    spin = entry.get("spin")
    for key, number in (("oxidation_state", oxidation), ("spin", spin)):
        if number is not None and (isinstance(number, bool) or not isinstance(number, Real)
                                   or not math.isfinite(float(number)) or abs(float(number)) > 20):
            budget.fail(f"{where}.{key}", f"{_brief(number)} is not a number between -20 and 20")
    occu = entry.get("occu", 1)
    if isinstance(occu, bool) or not isinstance(occu, Real) or not 0 < float(occu) <= 1 + 1e-6:
        budget.fail(f"{where}.occu", f"occupancy {_brief(occu)} must be a number in (0, 1]")
    for key, item in entry.items():
        if key not in ("element", "oxidation_state", "spin", "occu") and key not in _MARKERS:
            _plain(item, f"{where}.{key}", budget, 3)
    if oxidation is None and spin is None:
        return Element(symbol), float(occu)
    return Species(symbol, oxidation, spin=spin), float(occu)


def structure_from_dict(data, *, name: str = "structure", validate: bool = True,
                        allow_overlap: bool = False):
    """Build a pymatgen ``Structure`` from a ``Structure.as_dict()`` dict, safely.

    Only these fields are read: ``lattice.matrix`` (Å) and ``lattice.pbc``; for each
    site ``species`` (``element``, ``occu``, optional ``oxidation_state`` and
    ``spin``), ``abc`` (fractional) or else ``xyz`` (Cartesian, Å), ``label`` and
    ``properties``; the structure's ``charge`` and ``properties``. ``@module`` /
    ``@class`` may only name the pymatgen classes in :data:`ALLOWED_CLASSES`, each
    at its own place; ``@callable`` and any ``@`` key inside properties are refused.
    Properties must be plain JSON and are kept as given, never decoded. Nothing is
    imported because the data says so.

    Parameters
    ----------
    data : dict
        The dict, e.g. parsed from JSON.
    name : str
        What to call the input in error messages.
    validate : bool
        Run :func:`~matfold_kernel.crystal.validate.validate_structure` on the result.
    allow_overlap : bool
        Passed to the validation.

    Returns
    -------
    pymatgen.core.Structure

    Raises
    ------
    MatfoldInputError
        Naming the path of the first bad field, e.g. ``sites[3].species[0].element``.
    """
    from pymatgen.core import Lattice, PeriodicSite, Structure

    budget = _Budget(name)
    top = _object(data, "top level", "structure", budget, ("lattice", "sites"))
    lattice_dict = _object(top["lattice"], "lattice", "lattice", budget, ("matrix",))
    matrix = lattice_dict["matrix"]
    if not isinstance(matrix, (list, tuple)) or len(matrix) != 3:
        budget.fail("lattice.matrix", f"expected 3 vectors of 3 numbers, got {_brief(matrix)}")
    rows = [_numbers(row, 3, f"lattice.matrix[{i}]", budget) for i, row in enumerate(matrix)]
    pbc = lattice_dict.get("pbc", (True, True, True))
    if not isinstance(pbc, (list, tuple)) or len(pbc) != 3 or not all(isinstance(p, bool) for p in pbc):
        budget.fail("lattice.pbc", f"expected 3 booleans, got {_brief(pbc)}")
    for key, item in lattice_dict.items():
        if key not in ("matrix", "pbc") and key not in _MARKERS:
            _plain(item, f"lattice.{key}", budget, 1)
    sites = top["sites"]
    if not isinstance(sites, (list, tuple)):
        budget.fail("sites", f"expected a list of sites, got {_brief(sites)}")
    if not sites:
        budget.fail("sites", "the structure has no sites")
    if len(sites) > MAX_SITES:
        budget.fail("sites", f"{len(sites):,} sites, over matfold's limit of {MAX_SITES:,}")
    charge = top.get("charge")
    if charge is not None and (isinstance(charge, bool) or not isinstance(charge, Real)
                               or not math.isfinite(float(charge))):
        budget.fail("charge", f"{_brief(charge)} is not a finite number")
    properties = top.get("properties") or {}
    if not isinstance(properties, dict):
        budget.fail("properties", f"expected an object, got {_brief(properties)}")
    _plain(properties, "properties", budget, 1)
    for key, item in top.items():
        if key not in ("lattice", "sites", "charge", "properties") and key not in _MARKERS:
            _plain(item, key, budget, 1)

    lattice = Lattice(rows, pbc=tuple(pbc))
    built = []
    for i, site in enumerate(sites):
        where = f"sites[{i}]"
        _object(site, where, "site", budget, ("species",))
        entries = site["species"]
        if not isinstance(entries, (list, tuple)) or not entries:
            budget.fail(f"{where}.species", f"expected a non-empty list, got {_brief(entries)}")
        if len(entries) > MAX_SPECIES_PER_SITE:
            budget.fail(f"{where}.species", f"{len(entries)} species on one site, over {MAX_SPECIES_PER_SITE}")
        species = {}
        for k, entry in enumerate(entries):
            sp, occu = _species(entry, f"{where}.species[{k}]", budget)
            species[sp] = species.get(sp, 0.0) + occu
        if sum(species.values()) > 1 + 1e-3:
            budget.fail(f"{where}.species", f"occupancies add up to {sum(species.values()):.4g}, over 1")
        if "abc" in site:
            coords, cartesian = _numbers(site["abc"], 3, f"{where}.abc", budget), False
        elif "xyz" in site:
            coords, cartesian = _numbers(site["xyz"], 3, f"{where}.xyz", budget), True
        else:
            budget.fail(where, "has neither 'abc' (fractional) nor 'xyz' (Cartesian) coordinates")
        label = site.get("label")
        if label is not None and not isinstance(label, str):
            budget.fail(f"{where}.label", f"expected a string, got {_brief(label)}")
        props = site.get("properties") or {}
        if not isinstance(props, dict):
            budget.fail(f"{where}.properties", f"expected an object, got {_brief(props)}")
        _plain(props, f"{where}.properties", budget, 2)
        if label is not None:
            _plain(label, f"{where}.label", budget, 2)
        for key, item in site.items():
            if key not in ("species", "abc", "xyz", "label", "properties") and key not in _MARKERS:
                _plain(item, f"{where}.{key}", budget, 2)
        try:
            built.append(PeriodicSite(species, coords, lattice, coords_are_cartesian=cartesian,
                                      properties=dict(props), label=label))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            budget.fail(where, f"is not a valid site ({str(exc)[:160]})")
    try:
        structure = Structure.from_sites(built, charge=None if charge is None else float(charge),
                                         properties=dict(properties))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MatfoldInputError(f"is not a valid structure ({str(exc)[:200]})", name) from None
    if validate:
        validate_structure(structure, name, allow_overlap=allow_overlap)
    return structure


def _to_plain(value):
    """numpy and tuples to plain JSON; NaN/inf to None; anything else to its str."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.ndarray):
        return _to_plain(value.tolist())
    if isinstance(value, np.generic):
        return _to_plain(value.item())
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_plain(v) for k, v in value.items() if not str(k).startswith("@")}
    return str(value)


def structure_to_dict(structure) -> dict:
    """``structure.as_dict()`` as plain JSON that :func:`structure_from_dict` reads back.

    numpy values become lists and numbers, NaN becomes ``null``, and property values
    that are objects become their string form: nothing in the result asks a reader
    to import anything.
    """
    data = structure.as_dict()
    out = {key: _to_plain(value) for key, value in data.items() if key in ("charge", "properties")}
    out["@module"], out["@class"] = "pymatgen.core.structure", "Structure"
    out["lattice"] = {"matrix": _to_plain(structure.lattice.matrix),
                      "pbc": [bool(p) for p in structure.lattice.pbc]}
    for key in ("a", "b", "c", "alpha", "beta", "gamma", "volume"):
        out["lattice"][key] = _to_plain(data["lattice"].get(key))
    sites = []
    for site in data["sites"]:
        species = [{k: _to_plain(v) for k, v in sp.items() if not k.startswith("@")} for sp in site["species"]]
        plain = {"species": species, "abc": _to_plain(site["abc"]), "xyz": _to_plain(site.get("xyz")),
                 "label": _to_plain(site.get("label")), "properties": _to_plain(site.get("properties") or {})}
        sites.append(plain)
    out["sites"] = sites
    return out
