"""Hostile structure inputs (issue 26): no file reads, no imports, bounded cost, clear refusals.

Every input the issue found is a file in ``tests/data/hostile/``. Memory and time are
measured in a fresh subprocess (peak RSS growth and wall time per input), with the
bounds the issue names: refused within 1 s using < 200 MB.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pymatgen.core import Lattice, Species, Structure

from matfold_kernel import (
    MatfoldInputError,
    parse_structure,
    parse_structures,
    read_structure,
    structure_from_dict,
)
from matfold_kernel.crystal import structure_to_dict
from matfold_kernel.crystal.validate import closest_pair

from tests.support.paths import DATA, ROOT, STRUCTURES
from tests.support.fake_hub import TokenUsers

HOSTILE = DATA / "hostile"
PATHS = [line for line in (HOSTILE / "path-strings.txt").read_text().splitlines() if line]
DICTS = json.loads((HOSTILE / "pymatgen-dicts-import.json").read_text())


def hostile_text(name: str) -> str:
    path = HOSTILE / name
    return gzip.open(path, "rt").read() if name.endswith(".gz") else path.read_text()


# (file, what the refusal must say)
BOMBS = [
    ("POSCAR-scale90", "Å³ per site"),
    ("species-10M-columns.extxyz", "'species' 10000000 columns"),
    ("pos-1e8-columns.extxyz", "'pos' 100000000 columns"),
    ("cif-repeated-symops.cif.gz", "symmetry operations; a space group has at most 192"),
    ("spec-column-dummies.extxyz", "has no species column"),
    ("atomic-number-0.extxyz", "line 4: atomic number '0' is not an element"),
]


def _python(code: str, timeout: float = 120) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("name, fragment", BOMBS, ids=[b[0] for b in BOMBS])
def test_hostile_file_is_refused_with_a_specific_message(name, fragment):
    with pytest.raises(MatfoldInputError) as info:
        parse_structures(hostile_text(name))
    assert fragment in str(info.value)


def test_memory_bombs_are_refused_within_1_s_using_under_200_mb():
    # One fresh process: import the parsers first, then each bomb; the peak RSS
    # growth (ru_maxrss, KiB on Linux) and wall time are measured around each parse.
    out = _python(f"""
        import gzip, json, resource, time
        from pathlib import Path
        import pymatgen.core, pymatgen.io.cif, pymatgen.io.ase, ase.io.extxyz, scipy.spatial
        from matfold_kernel import MatfoldInputError, parse_structures
        results = {{}}
        for name in {[b[0] for b in BOMBS]!r}:
            path = Path({str(HOSTILE)!r}) / name
            text = gzip.open(path, "rt").read() if name.endswith(".gz") else path.read_text()
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            start = time.perf_counter()
            try:
                parse_structures(text)
                outcome = "accepted"
            except MatfoldInputError:
                outcome = "refused"
            seconds = time.perf_counter() - start
            grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
            results[name] = [outcome, seconds, grown]
        print(json.dumps(results))
    """)
    results = json.loads(out.strip().splitlines()[-1])
    for name, (outcome, seconds, grown_mb) in results.items():
        assert outcome == "refused", name
        assert seconds < 1.0, (name, seconds)
        assert grown_mb < 200, (name, grown_mb)


@pytest.mark.parametrize("text", PATHS)
def test_path_strings_are_parsed_as_text_and_never_opened(text):
    with pytest.raises(MatfoldInputError) as info:
        parse_structure(text, name="structure text")
    message = str(info.value)
    assert message.startswith("structure text: ")
    assert "root:" not in message and "no such file" not in message
    # the message is the same whether or not the path exists: nothing is revealed
    missing = text[:-1] + ("y" if text[-1] != "y" else "z")
    with pytest.raises(MatfoldInputError) as other:
        parse_structure(missing, name="structure text")
    assert str(other.value) == message


def test_read_structure_still_reads_paths_and_text(batio3_cif):
    # the library's path reader stays for people reading their own files
    assert read_structure(batio3_cif).composition.reduced_formula == "BaTiO3"
    assert read_structure(str(batio3_cif)).composition.reduced_formula == "BaTiO3"
    assert read_structure(batio3_cif.read_text()).composition.reduced_formula == "BaTiO3"
    assert parse_structure(batio3_cif.read_bytes()).composition.reduced_formula == "BaTiO3"
    with pytest.raises(MatfoldInputError, match="str or bytes"):
        parse_structure(batio3_cif)  # a Path is not text


@pytest.mark.parametrize("where", sorted(DICTS))
def test_pymatgen_dict_with_objects_to_decode_is_refused(where):
    with pytest.raises(MatfoldInputError) as info:
        structure_from_dict(copy.deepcopy(DICTS[where]))
    assert "not accepted" in str(info.value) or "never accepted" in str(info.value)


def test_module_payload_imports_nothing_anywhere():
    # In a fresh process: the three decoders matfold has (dict, JSON text, store record)
    # refuse {"@module": "this", "@callable": "s"} wherever it sits, and `this` (whose
    # import prints the Zen of Python) is never imported.
    out = _python(f"""
        import json, sys
        from matfold_kernel import MatfoldInputError, parse_structure, structure_from_dict
        from matfold_kernel.store.records import MaterialRecord
        payloads = json.load(open({str(HOSTILE / "pymatgen-dicts-import.json")!r}))
        refused = 0
        for where, payload in payloads.items():
            for decode in (lambda p: structure_from_dict(p), lambda p: parse_structure(json.dumps(p)),
                           lambda p: MaterialRecord.from_json({{"id": 1, "project_id": 1, "formula": "x",
                                                                "reduced_formula": "x", "structure": p}})):
                try:
                    decode(json.loads(json.dumps(payload)))
                except MatfoldInputError:
                    refused += 1
        print(json.dumps({{"refused": refused, "imported": "this" in sys.modules}}))
    """)
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"refused": 3 * len(DICTS), "imported": False}


def test_pymatgen_from_dict_would_import_it():
    # the control: the payload does make pymatgen's own decoder import `this`
    out = _python(f"""
        import json, sys
        from pymatgen.core import Structure
        payload = json.load(open({str(HOSTILE / "pymatgen-dicts-import.json")!r}))["site properties"]
        try:
            Structure.from_dict(payload)
        except Exception:
            pass
        print("imported" if "this" in sys.modules else "not imported")
    """)
    assert out.strip().splitlines()[-1] == "imported"


def _real_structures():
    structures = [read_structure(p) for p in sorted(STRUCTURES.glob("*.cif"))]
    structures += [read_structure(p) for p in sorted(STRUCTURES.glob("POSCAR-*"))]
    rich = Structure(Lattice.hexagonal(3.1, 5.2), [Species("Fe", 2), {"Na": 0.5, "K": 0.5}, "O"],
                     [[0, 0, 0], [1 / 3, 2 / 3, 0.5], [0.5, 0.5, 0.25]],
                     site_properties={"magmom": [2.5, 0.0, -0.1], "selective_dynamics": [[True] * 3] * 3})
    rich.properties["note"] = "kept"
    return structures + [rich]


def test_saved_then_read_round_trip_keeps_the_structure():
    for structure in _real_structures():
        for data in (structure_to_dict(structure), structure.as_dict()):
            back = structure_from_dict(json.loads(json.dumps(data)), validate=False)
            assert back == structure
            assert back.site_properties == structure.site_properties
            assert [s.label for s in back] == [s.label for s in structure]
            assert back.properties.get("note") == structure.properties.get("note")
        # and through the text parser as JSON
        parsed = parse_structure(json.dumps(structure_to_dict(structure)), validate=False)
        assert parsed.lattice == structure.lattice and list(parsed) == list(structure)
        assert parsed.properties["source"] == "<text>"


@pytest.mark.parametrize("mutate, fragment", [
    (lambda d: d["sites"][0]["species"][0].update(element="Xx"), "not a chemical element"),
    (lambda d: d["sites"][0].update(abc=[0, 0, float("nan")]), "not a finite number"),
    (lambda d: d["sites"][0].update(abc=[0, 0]), "list of 3 numbers"),
    (lambda d: d["lattice"].update(matrix=[[1, 0, 0], [0, 1, 0]]), "3 vectors"),
    (lambda d: d["sites"][0]["species"][0].update(occu=7), "occupancy 7"),
    (lambda d: d["sites"][0].update(properties={"deep": json.loads("[" * 40 + "]" * 40)}), "deeper than"),
    (lambda d: d["sites"][0].update(label="x" * 5000), "over the 1024 limit"),
    (lambda d: d.update(sites=d["sites"] * 7000), "over matfold's limit"),
    (lambda d: d.update(sites=[]), "no sites"),
    (lambda d: d["sites"][0].pop("species"), "missing 'species'"),
])
def test_bad_dicts_name_the_field(batio3_cif, mutate, fragment):
    data = json.loads(json.dumps(structure_to_dict(read_structure(batio3_cif))))
    mutate(data)
    with pytest.raises(MatfoldInputError) as info:
        structure_from_dict(data)
    assert fragment in str(info.value)


def test_overlap_check_agrees_with_pymatgen_on_229_structures(spg229):
    # the KD-tree over 27 images finds the same closest pair as pymatgen's neighbour list
    for entry in spg229:
        atoms = entry["atoms"]
        s = Structure(Lattice(atoms["lattice_mat"]), atoms["elements"], atoms["coords"],
                      coords_are_cartesian=atoms["cartesian"])
        wrapped = Structure(s.lattice, s.species, np.mod(s.frac_coords, 1.0))
        for cutoff in (0.5, 1.6):
            _, _, _, distances = wrapped.get_neighbor_list(cutoff, exclude_self=True)
            pair = closest_pair(s.lattice.matrix, s.frac_coords, cutoff)
            if len(distances) == 0:
                assert pair is None, entry["cod"]
            else:
                assert pair is not None and pair[2] == pytest.approx(float(distances.min()), abs=1e-9), entry["cod"]


def test_overlap_check_cost_does_not_grow_with_volume():
    # two atoms in a 1,000 Å cell (the largest allowed); pymatgen's cell list at 0.5 Å
    # would allocate ~8e9 cells. Refused by volume per atom first, so call the check directly.
    pair = closest_pair(np.eye(3) * 1000.0, [[0, 0, 0], [0.9999999, 0, 0]], 0.5)
    assert pair is not None and pair[:2] == (0, 1) and pair[2] == pytest.approx(1e-4, rel=1e-3)
    assert closest_pair(np.eye(3) * 1000.0, [[0, 0, 0], [0.5, 0.5, 0.5]], 0.5) is None


def test_real_structures_pass_the_new_cell_limits(spg229):
    from matfold_kernel.crystal.validate import MAX_CELL_LENGTH, MAX_VOLUME_PER_ATOM

    worst_volume = worst_length = 0.0
    for entry in spg229:
        lattice = np.array(entry["atoms"]["lattice_mat"])
        worst_volume = max(worst_volume, abs(np.linalg.det(lattice)) / len(entry["atoms"]["elements"]))
        worst_length = max(worst_length, np.linalg.norm(lattice, axis=1).max())
    assert worst_volume * 10 < MAX_VOLUME_PER_ATOM and worst_length * 10 < MAX_CELL_LENGTH
    # an isolated atom in a 15 Å vacuum box (a gas-phase reference cell) is accepted
    assert len(parse_structure("Ne\n1.0\n15 0 0\n0 15 0\n0 0 15\nNe\n1\nDirect\n0 0 0\n")) == 1


def test_extxyz_species_columns():
    good = 'Lattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3:forces:R:3'
    s = parse_structure(f"2\n{good}\nNa 0 0 0 0 0 0\nCl 2 2 2 0 0 0\n", "extxyz")
    assert s.composition.reduced_formula == "NaCl"
    by_z = parse_structure('2\nLattice="4 0 0 0 4 0 0 0 4" Properties=pos:R:3:Z:I:1\n0 0 0 11\n2 2 2 17\n')
    assert by_z.composition.reduced_formula == "NaCl"
    with pytest.raises(MatfoldInputError, match="line 4: unknown element 'Qq'"):
        parse_structure('2\nLattice="4 0 0 0 4 0 0 0 4"\nNa 0 0 0\nQq 2 2 2\n')
    with pytest.raises(MatfoldInputError, match="line 3: 3 values, but Properties= on line 2 declares 4"):
        parse_structure('1\nLattice="4 0 0 0 4 0 0 0 4"\nNa 0 0\n')


def test_cif_symmetry_list_at_the_limit_is_read(batio3_cif):
    # Pm-3m has 48 operations; listing them 4 times (192) is silly but bounded, and accepted
    text = batio3_cif.read_text()
    start = text.index("  1  'x, y, z'")
    end = text.index("loop_", start)
    ops = text[start:end].splitlines(keepends=True)
    repeated = "".join(f"  {k + 1}  {op.split(None, 1)[1]}" for k, op in enumerate(ops * 4))
    assert len(ops) == 48
    assert parse_structure(text[:start] + repeated + text[end:]).composition.reduced_formula == "BaTiO3"
    five = "".join(f"  {k + 1}  {op.split(None, 1)[1]}" for k, op in enumerate(ops * 5))
    with pytest.raises(MatfoldInputError, match="240 symmetry operations"):
        parse_structure(text[:start] + five + text[end:])


def test_memory_error_while_parsing_is_an_input_error(monkeypatch, batio3_cif):
    from matfold_kernel.crystal import io

    def explode(text, name):
        raise MemoryError

    monkeypatch.setattr(io, "parse_poscar", explode)
    with pytest.raises(MatfoldInputError, match="ran out of memory"):
        parse_structure("x\n1\n4 0 0\n0 4 0\n0 0 4\nNa\n1\nDirect\n0 0 0\n", "poscar")
    monkeypatch.setattr(io, "_read_cif", lambda text, name: (_ for _ in ()).throw(RecursionError()))
    with pytest.raises(MatfoldInputError, match="nested too deeply"):
        read_structure(batio3_cif)


def test_lone_surrogate_is_refused_without_echoing_it():
    with pytest.raises(MatfoldInputError) as info:
        parse_structure("data_x\n_cell_length_a \ud800\n")
    message = str(info.value)
    assert "U+D800" in message
    message.encode("utf-8")  # the message itself can be sent


# --- the service route, in-process on a real Postgres, with a stand-in for the hub's auth ---


@pytest.fixture(scope="module")
def service(postgres, tmp_path_factory):
    """The service's app with a project of alice's (bob is an editor); yields (client, project id)."""
    import uuid

    import psycopg
    from fastapi.testclient import TestClient

    name = "t_security_parsers_" + uuid.uuid4().hex[:6]
    with psycopg.connect(postgres.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    patch = pytest.MonkeyPatch()
    patch.setenv("DATABASE_URL", postgres.get_uri().replace("/postgres?", f"/{name}?", 1))
    patch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    from matfold_services import PREFIX
    from matfold_services.app import create_app
    from matfold_services.structures import shutdown

    app = create_app()
    app.state.hub_auth = TokenUsers({"alice": "alice", "bob": "bob"})
    with TestClient(app) as client:
        client.api = f"{PREFIX}/api/"
        project = client.post(client.api + "projects", json={"name": "hostile"},
                              headers={"Authorization": "token alice"}).json()["id"]
        client.put(client.api + f"projects/{project}/members/bob", json={"role": "editor"},
                   headers={"Authorization": "token alice"})
        yield client, project
    shutdown()
    app.state.sessionmaker.kw["bind"].dispose()
    patch.undo()
    with psycopg.connect(postgres.get_uri(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def post_material(service, body, who="bob"):
    """POST `body` as JSON; lone surrogates and NaN go out escaped/bare, as a hostile client sends them."""
    client, project = service
    return client.post(client.api + f"projects/{project}/materials", content=json.dumps(body).encode(),
                       headers={"Authorization": f"token {who}", "Content-Type": "application/json"})


def test_route_saves_text_and_dicts_and_reads_them_back(service, lifepo4_cif, batio3_cif):
    from matfold_kernel.store.records import MaterialRecord

    client, _ = service
    saved = [post_material(service, {"structure": lifepo4_cif.read_text()}),
             post_material(service, {"structure": read_structure(batio3_cif).as_dict()}),
             post_material(service, {"structure": (STRUCTURES / "POSCAR-Pc").read_text(), "format": "poscar"})]
    assert [r.status_code for r in saved] == [201, 201, 201], [r.text for r in saved]
    assert [r.json()["reduced_formula"] for r in saved[:2]] == ["LiFePO4", "BaTiO3"]
    got = client.get(client.api + f"materials/{saved[0].json()['id']}", headers={"Authorization": "token bob"})
    record = MaterialRecord.from_json(got.json())
    original = read_structure(lifepo4_cif)
    assert record.structure.lattice == original.lattice and list(record.structure) == list(original)


@pytest.mark.parametrize("text", PATHS)
def test_route_never_reads_a_path(service, text):
    r = post_material(service, {"structure": text})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("structure text: ") and "root:" not in detail and "no such file" not in detail
    missing = post_material(service, {"structure": text[:-1] + ("y" if text[-1] != "y" else "z")})
    assert missing.json()["detail"] == detail  # an existing path answers exactly like a missing one


@pytest.mark.parametrize("where", sorted(DICTS))
def test_route_refuses_objects_to_decode(service, where):
    r = post_material(service, {"structure": DICTS[where]})
    assert r.status_code == 422 and "accepted" in r.json()["detail"], r.text


@pytest.mark.parametrize("name, fragment", BOMBS, ids=[b[0] for b in BOMBS])
def test_route_refuses_the_bombs(service, name, fragment):
    r = post_material(service, {"structure": hostile_text(name)})
    assert r.status_code == 422 and fragment in r.json()["detail"], r.text


def test_route_bounds_size_format_and_roles(service, batio3_cif):
    big = post_material(service, {"structure": "x" * (2 * 1024 * 1024 + 1)})
    assert big.status_code == 413 and "2 MiB" in big.text and len(big.content) < 1000  # not echoed
    big_dict = post_material(service, {"structure": {"lattice": {}, "sites": [{"label": "x" * 1000}] * 2200}})
    assert big_dict.status_code == 413, big_dict.text
    wrong = post_material(service, {"structure": batio3_cif.read_text(), "format": "pdb"})
    assert wrong.status_code == 422
    outsider = post_material(service, {"structure": batio3_cif.read_text()}, who="nobody")
    assert outsider.status_code == 401


@functools.lru_cache(maxsize=1)
def _slow_structure() -> dict:
    """LiFePO4 × 8³ = 14,336 atoms: seconds of parsing and symmetry analysis in a worker."""
    big = read_structure(STRUCTURES / "LiFePO4_mp-19017_computed.cif")
    big.make_supercell([8, 8, 8])
    return structure_to_dict(big)


def test_worker_timeout_and_memory_cap_are_422_and_the_pool_recovers(lifepo4_cif):
    from matfold_services.structures import StructureRejected, StructureWorkers

    data = _slow_structure()
    workers = StructureWorkers(timeout=0.3, workers=1)
    try:
        with pytest.raises(StructureRejected) as slow:
            workers.parse(data)
        assert slow.value.status == 422 and "longer than 0.3 s" in slow.value.detail
        workers.timeout = 60
        assert workers.parse(lifepo4_cif.read_text())["info"]["spacegroup_symbol"] == "Pnma"
    finally:
        workers.shutdown()
    tight = StructureWorkers(memory=32 << 20, workers=1, timeout=60)
    try:
        with pytest.raises(StructureRejected) as heavy:
            tight.parse(data)
        assert heavy.value.status == 422
        assert "memory" in heavy.value.detail.lower() or "MemoryError" in heavy.value.detail
    finally:
        tight.shutdown()


def test_cif_expansion_is_bounded_before_pymatgen_runs(batio3_cif):
    # 105 generic sites × 192 operations = 20,160 generated sites: refused at once
    # (pymatgen would spend ~30 s comparing them), where 104 rows would be read
    from matfold_kernel.crystal.io import MAX_CIF_EXPANSION

    text = batio3_cif.read_text()
    start, end = text.index("  1  'x, y, z'"), text.index("loop_", text.index("  1  'x, y, z'"))
    ops = [op.split(None, 1)[1] for op in text[start:end].splitlines(keepends=True)] * 4
    rows = MAX_CIF_EXPANSION // len(ops) + 1
    atoms = "".join(f"  Na  Na{k}  1  0.{k:03d}1  0.2{k:03d}  0.3{k:03d}  1\n" for k in range(rows))
    loop = text[text.index("loop_", end):]
    header = loop[: loop.index("\n  ", loop.index("_atom_site_occupancy")) + 1]
    cif = text[:start] + "".join(f"  {k + 1}  {op}" for k, op in enumerate(ops)) + text[end:text.index("loop_", end)]
    with pytest.raises(MatfoldInputError, match=r"105 atom sites × 192 symmetry operations"):
        parse_structure(cif + header + atoms)


# The service's request guard (guard.py) refuses these before the route runs; the
# dict decoder's own checks of the same values are tested on structure_from_dict above.
@pytest.mark.parametrize("raw, fragment", [
    ('{"structure": "data_x\\n_cell_length_a \\ud800\\n"}', "body.structure has a lone UTF-16 surrogate"),
    ('{"structure": {"lattice": {"matrix": [[NaN, 0, 0], [0, 1, 0], [0, 0, 1]]}, "sites": []}}',
     "NaN is not a JSON number"),
    ('{"structure": {"lattice": {"matrix": [[1e999, 0, 0], [0, 1, 0], [0, 0, 1]]}, "sites": []}}',
     "overflows a 64-bit float"),
])
def test_route_unencodable_or_non_finite_structures_are_422(service, raw, fragment):
    client, project = service
    r = client.post(client.api + f"projects/{project}/materials", content=raw.encode(),
                    headers={"Authorization": "token bob", "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert fragment in r.text


def test_one_callers_slow_parses_do_not_hold_every_worker(lifepo4_cif, batio3_cif):
    # bob sends three parses that each run into the time limit; alice's parse, sent
    # after them, is answered while bob's are still running or waiting: bob's run one
    # at a time (per_user=1), so the second worker stays free for others.
    import asyncio

    from matfold_services.structures import StructureRejected, StructureWorkers

    slow = _slow_structure()
    workers = StructureWorkers(workers=2, timeout=2, per_user=1, max_waiting_per_user=2)
    workers.parse(batio3_cif.read_text())  # start the pool

    async def scenario():
        order = []

        async def bob():
            try:
                await workers.parse_async(slow, caller="bob")
            except StructureRejected as exc:
                order.append(("bob", exc.status))

        async def alice():
            result = await workers.parse_async(batio3_cif.read_text(), caller="alice")
            order.append(("alice", result["info"]["reduced_formula"]))

        bobs = [asyncio.create_task(bob()) for _ in range(3)]
        await asyncio.sleep(0.2)
        with pytest.raises(StructureRejected) as flood:  # a fourth waiting parse of bob's: 429
            await workers.parse_async(slow, caller="bob")
        await alice()
        await asyncio.gather(*bobs)
        return order, flood.value.status

    try:
        order, flooded = asyncio.run(scenario())
    finally:
        workers.shutdown()
    assert flooded == 429
    assert order[0] == ("alice", "BaTiO3")
    assert order[1:] == [("bob", 422)] * 3


def test_overlap_check_widens_its_shells_for_thin_cells():
    # a 0.3 Å-thick cell with a cutoff of 0.5 Å: the atom meets its own image 0.3 Å away
    pair = closest_pair(np.diag([5.0, 5.0, 0.3]), [[0, 0, 0]], 0.5)
    assert pair is not None and pair[:2] == (0, 0) and pair[2] == pytest.approx(0.3)
