"""Structural rules of the source tree: the architecture issue's "done when" items that a test can
check, over every module of ``src/lazyvol`` (no allow-list):

- no import cycles among lazyvol's modules, imports inside functions included (``if
  TYPE_CHECKING:`` blocks excluded), found from the source with :mod:`ast`;
- no module over 600 lines, no function over 100 lines;
- no call of numpy's global-state functions;
- no ``# type: ignore`` in the modules mypy checks strictly.

Import layering is checked by ``lint-imports`` (.ci/run) and strict typing by mypy (pyproject.toml).
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "lazyvol"

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 100

#: numpy functions that change process-wide state (printing, floating-point errors, the legacy RNG).
GLOBAL_STATE = {
    "set_printoptions",
    "seterr",
    "seterrcall",
    "setbufsize",
    "set_string_function",
    "seed",
}


def _modules(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package rooted at ``src``."""
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _rel(path: Path) -> str:
    return str(path.relative_to(SRC.parent))


# -- import graph ------------------------------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (functions, classes, try blocks), except those in the
    body of an ``if TYPE_CHECKING:`` (its ``else:`` branch runs, so it counts)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The most specific known module that ``name`` (a dotted name) lies in."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (anywhere in its code, TYPE_CHECKING aside)."""
    known = _modules(src)
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        is_package = path.name == "__init__.py"
        package = module if is_package else module.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base_parts = package.split(".")
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                    base = ".".join(base_parts)
                    origin = f"{base}.{node.module}" if node.module else base
                else:
                    origin = node.module or ""
                # ``from pkg import sub`` imports the module pkg.sub when there is one
                targets = [
                    f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in known else origin
                    for alias in node.names
                ]
            for target in targets:
                resolved = _resolve(target, known)
                if resolved is not None and resolved != module:
                    graph[module].add(resolved)
    return graph


def import_components(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module: each is a set of modules that
    import each other in a circle (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
                    components.append(sorted(component))
    return sorted(components)


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One shortest cycle (``[a, b, ..., a]``) per component of :func:`import_components`."""
    return [_cycle_in(c, graph) for c in import_components(graph)]


def _cycle_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first)."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node] & members):
                if child == start:
                    return [*paths[node], start]
                if child not in paths:
                    paths[child] = [*paths[node], child]
                    nxt.append(child)
        frontier = nxt
    return component  # pragma: no cover - a component always holds a cycle


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = [
        f"{', '.join(c)} (e.g. {' -> '.join(_cycle_in(c, graph))})"
        for c in import_components(graph)
    ]
    assert not found, "modules importing each other (imports inside functions count):\n" + (
        "\n".join(found)
    )


def test_the_cycle_detector_counts_function_imports_but_not_type_checking(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import f\n")
    (pkg / "a.py").write_text("def f():\n    from .b import g\n    return g\n")
    (pkg / "b.py").write_text("from . import a\ndef g():\n    pass\n")
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .d import x\n"
        "else:\n    import pkg.sub.e\n"
    )
    (pkg / "d.py").write_text("from .c import y\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "e.py").write_text("import pkg.sub\nfrom .. import c\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.sub.e"} and graph["pkg.sub.e"] == {"pkg.sub", "pkg.c"}
    assert sorted(import_cycles(graph)) == [
        ["pkg.a", "pkg.b", "pkg.a"],
        ["pkg.c", "pkg.sub.e", "pkg.c"],
    ]


# -- sizes -------------------------------------------------------------------------------------------


def _long_functions(tree: ast.AST) -> list[str]:
    return [
        f"{node.name} (line {node.lineno}: {node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]


def test_no_module_over_600_lines() -> None:
    long = {
        _rel(path): n
        for path in _modules().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_over_100_lines() -> None:
    long = {
        _rel(path): found
        for path in _modules().values()
        if (found := _long_functions(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_the_size_rules_see_nested_functions_and_methods() -> None:
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    code = f"class A:\n    def m(self):\n{body}\n\ndef short():\n    return 1\n"
    assert [s.split(" ")[0] for s in _long_functions(ast.parse(code))] == ["m"]


# -- numpy global state ------------------------------------------------------------------------------


def _global_state_calls(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in GLOBAL_STATE:
                if name == "seed" and not (
                    isinstance(func, ast.Attribute) and ast.unparse(func.value).endswith("random")
                ):
                    continue  # only numpy's legacy np.random.seed
                found.append((node.lineno, ast.unparse(func)))
    return found


def test_no_numpy_global_state_anywhere_in_the_package() -> None:
    bad = []
    for path in _modules().values():
        for line, call in _global_state_calls(ast.parse(path.read_text(encoding="utf-8"))):
            bad.append(f"{_rel(path)}:{line}: {call}()")
    assert not bad, bad


def test_the_detector_finds_global_state_calls() -> None:
    code = "import numpy as np\nnp.set_printoptions(precision=3)\nnp.random.seed(0)\nrng.seed(1)\n"
    assert [c for _, c in _global_state_calls(ast.parse(code))] == [
        "np.set_printoptions",
        "np.random.seed",
    ]


# -- strict typing -----------------------------------------------------------------------------------


def _strict_files() -> list[Path]:
    """Files of the modules listed in pyproject's strict mypy override."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns: list[str] = []
    for override in config["tool"]["mypy"].get("overrides", []):
        if override.get("disallow_untyped_defs"):
            mods = override["module"]
            patterns += [mods] if isinstance(mods, str) else mods
    out = []
    for module, path in _modules().items():
        for pattern in patterns:
            prefix = pattern.removesuffix(".*")
            if module == pattern or (pattern.endswith(".*") and module.startswith(prefix + ".")):
                out.append(path)
                break
    return sorted(out)


@pytest.mark.parametrize("path", _strict_files(), ids=_rel)
def test_strict_modules_have_no_type_ignore(path: Path) -> None:
    lines = [
        n
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "type: ignore" in line
    ]
    assert not lines, f"{path.name}: # type: ignore on lines {lines}"
