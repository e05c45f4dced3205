"""The import rules of the layout: no cycles between modules, no import from a higher layer.

Data flows nn -> train -> (ode, pinn, implicit, pde, uq, data, surrogate) -> study ->
problems / CLI; a package may import only from its own layer or lower ones. The
imports are read from the source (every `import` and `from ... import`, including
those inside functions), so a lazy import cannot hide a back-edge.
"""

import ast
import pathlib

import pytest


ROOT = pathlib.Path(__file__).resolve().parents[1]

# Rank of each part of the library; a module may import only modules of equal or lower rank
# (within one rank, only its own package, except the shared root helpers).
LAYERS = {
    "sciml._misc": 0,
    "sciml._results": 0,
    "sciml._config": 0,
    "sciml.nn": 1,
    "sciml.parallel": 2,
    "sciml.train": 2,
    "sciml.testing": 2,
    "sciml.ode": 3,
    "sciml.pinn": 3,
    "sciml.implicit": 3,
    "sciml.pde": 3,
    "sciml.uq": 3,
    "sciml.data": 3,
    "sciml.surrogate": 4,
    "sciml.study": 5,
    "sciml": 6,  # the package root re-exports everything
    "problems": 7,
    "sciml.cli": 8,  # finds problems through entry points, never the other way round
    "sciml.__main__": 9,
}
# Same-rank packages that may import each other, in this direction only.
ALLOWED_SIDEWAYS = {
    ("sciml.pde", "sciml.ode"),  # a method-of-lines discretisation is an ODE vector field
    ("sciml.parallel", "sciml.train"),
    ("sciml.train", "sciml.parallel"),
}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, pathlib.Path]:
    files = list((ROOT / "sciml").rglob("*.py")) + list((ROOT / "problems").rglob("*.py"))
    return {_module_name(f): f for f in files}


def _imports(name: str, path: pathlib.Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from pkg import sub` imports the submodule; `from pkg import name` the package.
            subs = [f"{module}.{a.name}" for a in node.names]
            targets = [t for t in subs if t in known] or [module]
        else:
            continue
        for target in targets:
            if target in known:
                found.add(target)
    found.discard(name)
    return found


def _layer(module: str) -> str:
    best = ""
    for prefix in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best = prefix
    return best


GRAPH = None


def _graph() -> dict[str, set[str]]:
    global GRAPH
    if GRAPH is None:
        modules = _modules()
        GRAPH = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    return GRAPH


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in _graph() if not _layer(m))
    assert not unplaced, f"modules outside the layer map of tests/test_layers.py: {unplaced}"


def test_no_import_from_a_higher_layer():
    bad = []
    for module, targets in _graph().items():
        own = _layer(module)
        for target in targets:
            other = _layer(target)
            if own == other or other == "sciml" and own.startswith("sciml."):
                # a subpackage importing the root package means importing everything
                if own != other:
                    bad.append(f"{module} -> {target} (imports the package root)")
                continue
            if LAYERS[other] > LAYERS[own]:
                bad.append(f"{module} -> {target} ({other} is above {own})")
            elif LAYERS[other] == LAYERS[own] and (own, other) not in ALLOWED_SIDEWAYS:
                bad.append(f"{module} -> {target} ({other} and {own} are siblings)")
    assert not bad, "imports against the layering:\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    graph = _graph()

    # Cycles between packages (a module importing its own package's __init__ for
    # re-exported names is not a cycle of concepts): collapse modules to their package.
    def package(m: str) -> str:
        layer = _layer(m)
        return layer if layer not in ("sciml", "problems") else m

    pgraph: dict[str, set[str]] = {}
    for module, targets in graph.items():
        pgraph.setdefault(package(module), set()).update(package(t) for t in targets if package(t) != package(module))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in pgraph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in list(pgraph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles between packages: {cycles}"


@pytest.mark.parametrize("module", ["sciml.train", "sciml.nn", "sciml.ode", "sciml.pinn"])
def test_library_never_imports_problems_or_cli(module):
    for name, targets in _graph().items():
        if _layer(name) == module:
            assert not {t for t in targets if _layer(t) in ("problems", "sciml.cli")}, name
