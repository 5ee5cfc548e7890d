"""Architecture rules for src/routerlab, checked from the source with ``ast`` (no imports, no models).

Layers (ARCHITECTURE.md): core -> trunk (datasets, lm, scoring) -> branches (binary, kmodel, token);
cli.py, config_check.py and metric_index.py sit on top and may import anything. Every ``import`` counts, including
those inside functions: a lazy import still couples two modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "routerlab"

MAX_LINES = 600
# {path relative to src/routerlab: one-sentence reason}. Keep it empty; a module that grows past
# MAX_LINES is split, not listed here, unless there is a reason a reader would accept.
LINE_ALLOWLIST: dict[str, str] = {}

CORE = "core"
TRUNK = ("datasets", "lm", "scoring")
BRANCHES = ("binary", "kmodel", "token")


# --- the import graph ---------------------------------------------------------------------------

def module_files(src: Path = SRC, package: str = PACKAGE) -> dict[str, Path]:
    """Module name -> source file; a package's ``__init__.py`` is the package itself. Directories
    without an ``__init__.py`` (namespace packages) still count as packages of their modules."""
    out: dict[str, Path] = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _packages(modules: dict[str, Path]) -> set[str]:
    """Every package name: modules that are ``__init__.py`` plus every dotted prefix of a module."""
    pkgs = {name for name, path in modules.items() if path.name == "__init__.py"}
    for name in modules:
        parts = name.split(".")
        pkgs.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return pkgs


def _resolve_from(module: str, is_package: bool, node: ast.ImportFrom) -> str | None:
    """The absolute base module of ``from <base> import ...`` (relative imports resolved)."""
    if not node.level:
        return node.module
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]  # a plain module's relative base is its package
    if node.level > 1:
        parts = parts[: len(parts) - (node.level - 1)]
    if node.module:
        parts += node.module.split(".")
    return ".".join(parts) or None


def _known(name: str, known: set[str]) -> str | None:
    """``name`` if it is a known module or package, else its longest known prefix (an attribute
    import such as ``import routerlab.x.func`` is not legal, but be lenient)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, tree: ast.AST, known: set[str], packages: set[str]) -> list[tuple[str, ast.AST, str | None]]:
    """``(target module, node, imported name)`` for every import of a routerlab module in ``tree``.

    ``from routerlab.x import y`` resolves to ``routerlab.x.y`` when that is a module, else to
    ``routerlab.x`` with imported name ``y``. ``import routerlab.x.y`` resolves to ``routerlab.x.y``.
    """
    is_package = module in packages
    out: list[tuple[str, ast.AST, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known(alias.name, known)
                if target:
                    out.append((target, node, None))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(module, is_package, node)
            if not base:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if alias.name != "*" and sub in known:
                    out.append((sub, node, None))
                else:
                    target = _known(base, known)
                    if target:
                        out.append((target, node, None if alias.name == "*" else alias.name))
    return out


def _parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def import_graph(src: Path = SRC, package: str = PACKAGE) -> dict[str, set[str]]:
    modules = module_files(src, package)
    packages = _packages(modules)
    known = set(modules) | packages
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in modules.items():
        for target, _, _ in imports_of(name, _parse(path), known, packages):
            graph[name].add(target)
    return graph


def strongly_connected_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit). Returns every SCC, members sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    sccs: list[list[str]] = []
    counter = 0
    nodes = set(graph) | {t for ts in graph.values() for t in ts}
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                sccs.append(sorted(component))
    return sccs


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of size > 1, and self-loops."""
    return sorted(
        c for c in strongly_connected_components(graph)
        if len(c) > 1 or c[0] in graph.get(c[0], ())
    )


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


# --- a. no import cycles -------------------------------------------------------------------------

def test_cycle_finder_detects_a_cycle_and_a_self_loop():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"d"}}
    assert import_cycles(g) == [["a", "b", "c"], ["e"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    # every node lands in exactly one component
    comps = strongly_connected_components(g)
    assert sorted(n for c in comps for n in c) == sorted(g)


def test_graph_builder_resolves_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .leaf import thing\n")
    (pkg / "sub" / "leaf.py").write_text("def thing():\n    from pkg import top\n")
    (pkg / "top.py").write_text("import pkg.sub\nfrom pkg.sub import leaf\nfrom . import other\nimport os\n")
    (pkg / "other.py").write_text("from .sub.leaf import thing\n")
    g = import_graph(tmp_path, "pkg")
    assert g["pkg.sub"] == {"pkg.sub.leaf"}
    assert g["pkg.sub.leaf"] == {"pkg.top"}  # the import inside a function counts
    assert g["pkg.top"] == {"pkg.sub", "pkg.sub.leaf", "pkg.other"}
    assert g["pkg.other"] == {"pkg.sub.leaf"}
    assert import_cycles(g) == [["pkg.other", "pkg.sub", "pkg.sub.leaf", "pkg.top"]]


def test_graph_covers_the_package(graph):
    """Guards the checks below against a graph that silently came out empty."""
    for area in (CORE, *TRUNK, *BRANCHES):
        assert f"{PACKAGE}.{area}" in graph, area
    assert sum(len(t) for t in graph.values()) > 50


def test_no_import_cycles(graph):
    cycles = import_cycles(graph)
    lines = []
    for cycle in cycles:
        members = set(cycle)
        edges = sorted(f"{a} -> {b}" for a in cycle for b in graph[a] if b in members)
        lines.append(" <-> ".join(cycle) + "\n      " + "\n      ".join(edges))
    assert not cycles, "import cycles in src/routerlab:\n  " + "\n  ".join(lines)


# --- b. no reaching into another module's private names ------------------------------------------

def private_name_violations(src: Path = SRC, package: str = PACKAGE) -> list[str]:
    """``from routerlab.a import _x`` and ``routerlab_module._x`` across modules.

    A private *module* (``datasets/_formats.py``) belongs to its package: modules inside that
    package may import it and its public names; modules outside may not import it at all."""
    modules = module_files(src, package)
    packages = _packages(modules)
    known = set(modules) | packages
    problems: list[str] = []

    def private_parts(name: str) -> list[str]:
        return [p for p in name.split(".") if p.startswith("_") and not p.startswith("__")]

    for name, path in modules.items():
        tree = _parse(path)
        rel = path.relative_to(src).as_posix()
        own_package = name if name in packages else name.rpartition(".")[0]
        aliases: dict[str, str] = {}  # local name -> routerlab module it is bound to
        for target, node, imported in imports_of(name, tree, known, packages):
            if target == name:
                continue
            # a private module may be used only from inside the package that holds it
            for i, part in enumerate(target.split(".")):
                if part in private_parts(target):
                    holder = ".".join(target.split(".")[:i])
                    if not (own_package == holder or own_package.startswith(holder + ".")):
                        problems.append(f"{rel}:{node.lineno}: imports private module {target}")
                    break
            if imported and imported.startswith("_") and not imported.startswith("__"):
                problems.append(f"{rel}:{node.lineno}: imports private name {target}.{imported}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in known:
                        if alias.asname:  # import routerlab.a.b as m  ->  m is routerlab.a.b
                            aliases[alias.asname] = alias.name
                        else:  # import routerlab.a.b  ->  binds routerlab
                            top = alias.name.split(".")[0]
                            aliases[top] = top
            elif isinstance(node, ast.ImportFrom):
                base = _resolve_from(name, name in packages, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}" if base else None
                    if sub in known:
                        aliases[alias.asname or alias.name] = sub
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                chain = []
                value = node.value
                while isinstance(value, ast.Attribute):
                    chain.append(value.attr)
                    value = value.value
                if not isinstance(value, ast.Name) or value.id not in aliases:
                    continue
                target = ".".join([aliases[value.id], *reversed(chain)])
                if target in known and target != name:
                    problems.append(f"{rel}:{node.lineno}: accesses private name {target}.{node.attr}")
    return sorted(set(problems))


def test_private_name_checker_catches_both_forms(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("_x = 1\ndef _f():\n    return _x\n")
    (pkg / "b.py").write_text("from pkg.a import _x\n")
    (pkg / "c.py").write_text("from pkg import a\ny = a._f()\n")
    (pkg / "d.py").write_text("import pkg.a\ny = pkg.a._x\n")
    (pkg / "e.py").write_text("from pkg.a import _f as g\nfrom pkg.a import __name__ as n\n")
    (pkg / "ok.py").write_text("from pkg import a\nclass K:\n    def _m(self):\n        return self._m\ny = a.__doc__\n")
    found = private_name_violations(tmp_path, "pkg")
    assert [line.split(":")[0] for line in found] == ["pkg/b.py", "pkg/c.py", "pkg/d.py", "pkg/e.py"], found


def test_no_private_names_across_modules():
    problems = private_name_violations()
    assert not problems, "private names used across modules:\n  " + "\n  ".join(problems)


# --- c. module size ------------------------------------------------------------------------------

def test_no_module_over_line_limit():
    too_long = {}
    for path in module_files().values():
        rel = path.relative_to(SRC / PACKAGE).as_posix()
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES and rel not in LINE_ALLOWLIST:
            too_long[rel] = n
    assert not too_long, (
        f"modules over {MAX_LINES} lines (split them, or add a reason to LINE_ALLOWLIST): "
        + ", ".join(f"{p} ({n})" for p, n in sorted(too_long.items())))


def test_line_allowlist_is_current():
    stale = [p for p in LINE_ALLOWLIST if not (SRC / PACKAGE / p).is_file()
             or len((SRC / PACKAGE / p).read_text(encoding="utf-8").splitlines()) <= MAX_LINES]
    assert not stale, f"LINE_ALLOWLIST entries no longer needed: {stale}"
    assert all(reason.strip() for reason in LINE_ALLOWLIST.values())


# --- d. layering ---------------------------------------------------------------------------------

def _area(module: str) -> str | None:
    """The top-level area of a routerlab module: core, datasets, lm, scoring, binary, ... or None
    for the package root itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    forbidden: dict[str, set[str]] = {CORE: set(TRUNK) | set(BRANCHES)}
    for t in TRUNK:
        forbidden[t] = set(BRANCHES)
    for b in BRANCHES:
        forbidden[b] = set(BRANCHES) - {b}
    # nothing below the top may import the entry points
    top = {"cli", "config_check", "metric_index", "proxy", "leaderboard"}
    for area in [CORE, *TRUNK, *BRANCHES]:
        forbidden[area] |= top
    problems = []
    for src_mod, targets in graph.items():
        area = _area(src_mod)
        for target in targets:
            if _area(target) in forbidden.get(area, ()):
                problems.append(f"{src_mod} -> {target}")
    return sorted(problems)


def test_layer_checker_flags_a_branch_import():
    g = {"routerlab.core.io": {"routerlab.lm.models"},
         "routerlab.binary.routers": {"routerlab.kmodel.routers", "routerlab.core.registry"},
         "routerlab.lm.models": {"routerlab.core.io", "routerlab.config_check"},
         "routerlab.scoring.rows": {"routerlab.token.labels"},
         "routerlab.cli": {"routerlab.binary.routers", "routerlab.kmodel.routers"}}
    assert layer_violations(g) == ["routerlab.binary.routers -> routerlab.kmodel.routers",
                                   "routerlab.core.io -> routerlab.lm.models",
                                   "routerlab.lm.models -> routerlab.config_check",
                                   "routerlab.scoring.rows -> routerlab.token.labels"]


def test_layers_are_respected(graph):
    problems = layer_violations(graph)
    assert not problems, ("layer rule broken (core -> datasets/lm/scoring -> binary/kmodel/token; "
                          "branches independent; see ARCHITECTURE.md):\n  " + "\n  ".join(problems))


def test_every_package_ships():
    """setuptools' find_packages (pyproject) only ships folders with an __init__.py: a folder of
    modules without one imports from a checkout but is missing from an installed wheel."""
    from setuptools import find_packages

    folders = {".".join(p.parent.relative_to(SRC).parts) for p in (SRC / PACKAGE).rglob("*.py")}
    assert folders - set(find_packages(str(SRC))) == set()
