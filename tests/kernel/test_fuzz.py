"""Fuzzing the structure readers: any input gives structures or MatfoldInputError.

Never another exception, never a hang. Inputs that once broke a reader are kept
as explicit regression examples below.
"""

from __future__ import annotations

import io

from ase.io import write as ase_write
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from matfold_kernel import MatfoldInputError, read_structures
from matfold_kernel.crystal import validate_structure

from tests.support.paths import STRUCTURES

SEEDS = {
    "cif": (STRUCTURES / "LiFePO4_mp-19017_computed.cif").read_text(),
    "poscar": (STRUCTURES / "POSCAR-Pc").read_text(),
}
_buffer = io.StringIO()
ase_write(_buffer, read_structures(STRUCTURES / "BaTiO3_mp-2998_computed.cif")[0].to_ase_atoms(),
          format="extxyz")
SEEDS["extxyz"] = _buffer.getvalue()

TOKENS = ["nan", "inf", "-1", "0", "1e308", "1e-30", "99999999999", "abc", "Xx", "?", ".",
          "loop_", "data_", "_cell_length_a", "", "-0", "1 2", "\t", "é", "\x00"]

FUZZ = settings(max_examples=300, deadline=5000, suppress_health_check=list(HealthCheck),
                derandomize=True)


def _read(text, fmt):
    try:
        structures = read_structures(text, name=f"fuzz.{ 'vasp' if fmt == 'poscar' else fmt}")
    except MatfoldInputError as exc:
        assert str(exc).strip(), "an error must say something"
        return
    for s in structures:  # whatever comes back passed validation
        validate_structure(s)


@st.composite
def mutated(draw, fmt):
    lines = SEEDS[fmt].split("\n")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 4))
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if not lines:
            break
        if op == 0:
            del lines[i]
        elif op == 1:
            words = lines[i].split()
            if words:
                words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(TOKENS))
            lines[i] = " ".join(words)
        elif op == 2:
            lines.insert(i, lines[draw(st.integers(0, len(lines) - 1))])
        elif op == 3:
            lines = lines[: i + 1]
            cut = draw(st.integers(0, len(lines[-1])))
            lines[-1] = lines[-1][:cut]
        else:
            lines[i] = draw(st.text(max_size=40))
    return "\n".join(lines)


@FUZZ
@given(text=mutated("cif"))
@example(text="data_x\nloop_\n1 2 3\n")  # loop values with no tags: was ZeroDivisionError
def test_fuzz_cif(text):
    _read(text, "cif")


@FUZZ
@given(text=mutated("poscar"))
# a fractional coordinate of 1e11 once made the overlap check allocate 24 GB
@example(text=SEEDS["poscar"].replace("0.2619925809476460", "99999999999"))
@example(text="x\n1\n1e-30 0 0\n0 1 0\n0 0 1\nNa\n1\nDirect\n0 0 0\n")  # sliver cell
@example(text="x\n1\n1e308 0 0\n0 1e308 0\n0 0 1e308\nNa\n1\nDirect\n0 0 0\n")  # det overflow
def test_fuzz_poscar(text):
    _read(text, "poscar")


@FUZZ
@given(text=mutated("extxyz"))
def test_fuzz_extxyz(text):
    _read(text, "extxyz")


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_bytes(data):
    for fmt in (None, "cif", "poscar", "extxyz"):
        try:
            read_structures(data, fmt)
        except MatfoldInputError:
            pass


# --- pymatgen dicts (issue 26): mutated as_dict() payloads, hostile values at any place ---

import copy  # noqa: E402
import json  # noqa: E402

from matfold_kernel import parse_structure, structure_from_dict  # noqa: E402
from matfold_kernel.crystal import structure_to_dict  # noqa: E402

SEED_DICT = structure_to_dict(read_structures(STRUCTURES / "LiFePO4_mp-19017_computed.cif")[0])
HOSTILE_VALUES = [None, True, 0, -1, 1e308, -1e308, 2**70, "", "Fe", "X0+", "\ud800", "x" * 2000, [], {},
                  [0, 0], [1e308] * 3, {"@module": "this", "@callable": "s"},
                  {"@module": "pymatgen.core.periodic_table", "@class": "DummySpecies", "element": "X"},
                  {"element": "Fe", "occu": 1}, [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0] * 3] * 3]


def _leaves(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, path + (key,))
    elif isinstance(node, list):
        for k, value in enumerate(node):
            yield from _leaves(value, path + (k,))


@st.composite
def mutated_dict(draw):
    data = copy.deepcopy(SEED_DICT)
    paths = list(_leaves(data))
    for _ in range(draw(st.integers(1, 3))):
        path = paths[draw(st.integers(1, len(paths) - 1))]
        parent = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            op = draw(st.integers(0, 2))
            if op == 0:
                parent[path[-1]] = draw(st.sampled_from(HOSTILE_VALUES))
            elif op == 1 and isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.sampled_from(["@module", "@class", "@callable", "extra"]))] = draw(
                    st.sampled_from(HOSTILE_VALUES))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed the path
    return data


@FUZZ
@given(data=mutated_dict())
@example(data={"@module": "this", "@callable": "s"})
@example(data=dict(SEED_DICT, sites=[dict(SEED_DICT["sites"][0], properties={"m": {"@module": "this"}})]))
def test_fuzz_pymatgen_dicts(data):
    for decode in (lambda d: structure_from_dict(d), lambda d: parse_structure(json.dumps(d), "json")):
        try:
            structure = decode(copy.deepcopy(data))
        except MatfoldInputError as exc:
            assert str(exc).strip()
            continue
        validate_structure(structure)


# --- the same inputs through the service route (in-process app, real Postgres) ---

from .test_security_parsers import post_material, service  # noqa: E402,F401  (module fixture)

ROUTE_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck),
                      derandomize=True)


def _route(service, structure):
    response = post_material(service, {"structure": structure})
    assert response.status_code in (201, 422), (response.status_code, response.text[:300])
    if response.status_code == 422:
        detail = response.json()["detail"]
        assert isinstance(detail, (str, list)) and detail
        assert "matfold bug" not in str(detail), detail  # the worker's catch-all must never be needed


@ROUTE_FUZZ
@given(text=st.one_of(mutated("cif"), mutated("poscar"), mutated("extxyz")))
def test_fuzz_route_text(service, text):
    _route(service, text)


@ROUTE_FUZZ
@given(data=mutated_dict())
@example(data={"lattice\ud800": {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}, "sites": []})  # found by fuzzing
@example(data={"lattice": {"matrix": [[float("nan"), 0, 0], [0, 1, 0], [0, 0, 1]]}, "sites": []})
def test_fuzz_route_dicts(service, data):
    # sent as json.dumps writes it: lone surrogates escaped, NaN/Infinity bare (the guard's 422)
    _route(service, data)
