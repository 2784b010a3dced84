"""The layers point one way: an import graph of the product code, read from the source.

Every ``import`` of every product module is read with :mod:`ast` (at module level and
inside functions; relative imports resolved; imports under ``if TYPE_CHECKING:`` skipped,
as they never run) and the graph is checked:

- ``matfold_kernel`` imports nothing of ``matfold_widgets``, ``matfold_services``, ``matfold_hub``;
- ``matfold_widgets`` → ``matfold_kernel``; ``matfold_services`` → ``matfold_kernel``;
  ``matfold_hub`` → ``matfold_services``, ``matfold_kernel``;
- no import loops among product modules (strongly connected components of more than one module);
- ``fastapi.testclient`` (an in-process stand-in for HTTP) is imported by no product module.

``python tests/e2e/test_layers.py`` prints the graph's summary (modules, edges, loops,
upward arrows); ``--edges`` lists every edge between packages.
"""

from __future__ import annotations

import ast
import os
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: each layer's package, and the folder that holds it
PACKAGES = {
    "matfold_kernel": ROOT,
    "matfold_widgets": ROOT / "widgets",
    "matfold_services": ROOT / "services",
    "matfold_hub": ROOT / "hub",
}
#: the hub's config file ships inside matfold_hub (pyproject's force-include)
EXTRA_MODULES = {"matfold_hub.jupyterhub_config": ROOT / "hub" / "jupyterhub_config.py"}
#: which packages each package may import (itself included)
ALLOWED = {
    "matfold_kernel": {"matfold_kernel"},
    "matfold_widgets": {"matfold_widgets", "matfold_kernel"},
    "matfold_services": {"matfold_services", "matfold_kernel"},
    "matfold_hub": {"matfold_hub", "matfold_services", "matfold_kernel"},
}
#: modules no product module may import
FORBIDDEN = ("fastapi.testclient",)


def product_files() -> dict[str, Path]:
    """Module name → source file of every product module."""
    modules = {}
    for package, base in PACKAGES.items():
        for path in sorted((base / package).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    modules.update(EXTRA_MODULES)
    return modules


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (they never run)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    skipped.update(id(n) for n in ast.walk(stmt))
    return skipped


def imports_of(module: str, path: Path, is_package: bool) -> list[tuple[str, int]]:
    """Absolute names this module imports (``from a import b`` gives ``a.b``: the module a.b
    when there is one, else a name in a), with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skipped = _type_checking_nodes(tree)
    package = module if is_package else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base_parts = parts[: len(parts) - (node.level - 1)]
                if len(base_parts) < 1 or node.level - 1 > len(parts):
                    raise ValueError(f"{path}:{node.lineno}: relative import beyond the top package")
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module
            # `from a import b` imports the module a.b when there is one, else a
            names += [(base if alias.name == "*" else f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return names


def _resolve(name: str, modules) -> str | None:
    """The product module an imported name lands in (its longest module prefix), or None."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def build_graph(files: dict[str, Path] | None = None):
    """(edges, forbidden): ``{module: {imported module: first line}}`` over product modules, and
    ``[(module, line, name)]`` for imports of :data:`FORBIDDEN` modules."""
    files = product_files() if files is None else files
    edges: dict[str, dict[str, int]] = {m: {} for m in files}
    forbidden = []
    for module, path in files.items():
        for name, line in imports_of(module, path, path.name == "__init__.py"):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                forbidden.append((module, line, name))
            target = _resolve(name, files)
            if target is not None and target != module:
                edges[module].setdefault(target, line)
    return edges, forbidden


def layer(module: str) -> str:
    return module.split(".")[0]


def upward_edges(edges) -> list[tuple[str, str, int]]:
    """Imports a layer may not make: ``(importer, imported, line)``."""
    return sorted((a, b, line) for a, targets in edges.items() for b, line in targets.items()
                  if layer(b) not in ALLOWED.get(layer(a), {layer(a)}))


def import_loops(edges) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, loops = {}, {}, set(), [], []
    counter = [0]
    nodes = set(edges) | {b for targets in edges.values() for b in targets}

    def visit(start):
        # iterative Tarjan: the graph is deep enough to trouble the recursion limit
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        loops.append(sorted(component))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return sorted(loops)


def loop_edges(edges, loop: list[str]) -> list[tuple[str, str, int]]:
    members = set(loop)
    return sorted((a, b, line) for a in loop for b, line in edges.get(a, {}).items() if b in members)


def summary(edges, forbidden, files=None, show_edges: bool = False) -> str:
    """The graph in a few lines: modules, edges, loops (with their edges), upward arrows."""
    ups, loops = upward_edges(edges), import_loops(edges)
    lines = [f"modules: {len(edges)}   edges: {sum(len(t) for t in edges.values())}   "
             f"loops: {len(loops)} ({sum(len(c) for c in loops)} modules)   upward arrows: {len(ups)}   "
             f"{' / '.join(FORBIDDEN)} in product code: {len(forbidden)}"]
    per_layer = defaultdict(int)
    for a, targets in edges.items():
        for b in targets:
            if layer(a) != layer(b):
                per_layer[(layer(a), layer(b))] += 1
    lines.append("between packages: " + ", ".join(f"{a} -> {b} ({n})" for (a, b), n in sorted(per_layer.items())))
    for i, loop in enumerate(loops, 1):
        lines.append(f"loop {i} ({len(loop)} modules): {', '.join(loop)}")
        lines += [f"    {a} -> {b}  (line {line})" for a, b, line in loop_edges(edges, loop)]
    for a, b, line in ups:
        where = f"{files[a].relative_to(ROOT)}:{line}" if files and a in files else f"line {line}"
        lines.append(f"upward: {a} -> {b}  ({where})")
    for module, line, name in forbidden:
        lines.append(f"forbidden: {module} imports {name} (line {line})")
    if show_edges:
        lines += [f"edge: {a} -> {b}" for a, targets in sorted(edges.items()) for b in sorted(targets)
                  if layer(a) != layer(b)]
    return "\n".join(lines)


# -- the tests ----------------------------------------------------------------

def test_the_graph_covers_every_layer():
    files = product_files()
    edges, _ = build_graph(files)
    assert {layer(m) for m in files} == set(PACKAGES)
    # function-level imports count: cli's subcommands and the widgets' kernel imports are found
    assert any(layer(b) == "matfold_kernel" for b in edges["matfold_widgets.prediction_panel"])
    assert len(files) > 100


def test_layers_point_one_way():
    files = product_files()
    edges, forbidden = build_graph(files)
    ups = upward_edges(edges)
    assert not ups, "imports against the layers:\n" + "\n".join(
        f"  {a} -> {b}  ({files[a].relative_to(ROOT)}:{line})" for a, b, line in ups)


def test_no_import_loops():
    edges, _ = build_graph()
    loops = import_loops(edges)
    assert not loops, "import loops:\n" + "\n".join(
        f"  {', '.join(loop)}\n" + "\n".join(f"      {a} -> {b} (line {line})" for a, b, line in loop_edges(edges, loop))
        for loop in loops)


def test_no_test_client_in_product_code():
    _, forbidden = build_graph()
    assert not forbidden, "product code imports test-only modules:\n" + "\n".join(
        f"  {m}:{line} imports {name}" for m, line, name in forbidden)


def test_the_in_process_client_is_only_under_tests():
    # benchmarks and scripts included: they reach the service over HTTP or through tests/support
    skip = {"tests", ".venv", "node_modules", ".git", "__pycache__"}
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in skip]  # never walk the virtualenv
        found += [str(Path(folder, name).relative_to(ROOT)) for name in files if name.endswith(".py")
                  and "fastapi.testclient" in Path(folder, name).read_text(errors="replace")]
    assert found == [], f"fastapi.testclient outside tests/: {found}"


def test_the_library_names_no_layer_above_it():
    # the grep: not even a comment or a string names the packages above the library
    names = ("matfold_services", "matfold_widgets", "matfold_hub")
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in sorted((ROOT / "matfold_kernel").rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if any(name in line for name in names)]
    assert found == [], "\n".join(found)


def test_the_checker_flags_a_loop_and_an_upward_edge(tmp_path):
    # a synthetic tree: kernel.a -> kernel.b -> kernel.a (a loop, through a relative import
    # inside a function), kernel.b -> services (upward), services -> kernel.c (allowed)
    files = {}
    sources = {
        "matfold_kernel": "from .a import f\n",
        "matfold_kernel.a": "def f():\n    from . import b\n    return b\n",
        "matfold_kernel.b": "from matfold_kernel.a import f\nimport matfold_services.app\n",
        "matfold_services": "",
        "matfold_kernel.c": "X = 1\n",
        "matfold_services.app": "from matfold_kernel import c\nfrom fastapi.testclient import TestClient\n",
        "matfold_hub": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import matfold_widgets\n",
        "matfold_widgets": "",
    }
    for module, text in sources.items():
        parts = module.split(".")
        path = tmp_path.joinpath(*parts, "__init__.py") if len(parts) == 1 else tmp_path.joinpath(*parts[:-1], parts[-1] + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        files[module] = path
    edges, forbidden = build_graph(files)
    assert edges["matfold_kernel.a"] == {"matfold_kernel.b": 2}
    assert import_loops(edges) == [["matfold_kernel.a", "matfold_kernel.b"]]
    assert upward_edges(edges) == [("matfold_kernel.b", "matfold_services.app", 2)]
    assert forbidden == [("matfold_services.app", 2, "fastapi.testclient.TestClient")]
    assert edges["matfold_services.app"] == {"matfold_kernel.c": 1}
    assert "matfold_widgets" not in edges["matfold_hub"]  # TYPE_CHECKING imports never run
    text = summary(edges, forbidden)
    assert "loops: 1 (2 modules)" in text and "upward: matfold_kernel.b -> matfold_services.app" in text


if __name__ == "__main__":
    _files = product_files()
    _edges, _forbidden = build_graph(_files)
    print(summary(_edges, _forbidden, _files, show_edges="--edges" in sys.argv))
    sys.exit(1 if upward_edges(_edges) or import_loops(_edges) or _forbidden else 0)
