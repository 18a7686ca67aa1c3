"""The import graph of src/automatte: no import circle between files of different folders, none inside infer/.

The graph is read with :mod:`ast`, so an import inside a function counts as much as one at the top of a file (it
runs all the same, later). So do the imports a module makes from strings: ``importlib.import_module("a.b")``,
``import_module(_LAZY[name])`` over a module-level dict of module names, and ``import_module(f"a.b.{name}")``
(every module of package ``a.b``). A circle is a strongly connected component of two or more files.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules(src: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``src/automatte`` (a package is its ``__init__``)."""
    modules = {}
    for path in sorted((src / "automatte").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _string_targets(call: ast.Call, tree: ast.Module, modules: dict[str, Path]) -> list[str]:
    """Module names an ``import_module(...)`` / ``__import__(...)`` call imports, when they can be read."""
    arg = call.args[0] if call.args else None
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return [arg.value]
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        prefix = str(arg.values[0].value)  # f"automatte.models.{name}": any module of that package
        return [m for m in modules if m.startswith(prefix) and "." not in m[len(prefix) :]]
    if isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name):  # _LAZY[name]: the dict's values
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                if any(isinstance(t, ast.Name) and t.id == arg.value.id for t in node.targets):
                    return [v.value for v in node.value.values if isinstance(v, ast.Constant)]
    return []


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the automatte modules it imports anywhere in its file (top level, functions, strings)."""
    modules = _modules(src)

    def resolve(name: str) -> str | None:  # the module itself, else its closest package
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        names: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                names += [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            elif isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in ("import_module", "__import__"):
                    names += _string_targets(node, tree, modules)
        targets = {resolve(n) for n in names if n == "automatte" or n.startswith("automatte.")}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of two or more modules (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
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
                    found.append(sorted(component))
    return found


def _folder(module: str, src: Path = SRC) -> str:
    return str(_modules(src)[module].parent.relative_to(src))


def forbidden_circles(src: Path = SRC) -> list[str]:
    """Circles between files of different folders, or between files of infer/, with their edges."""
    graph = import_graph(src)
    problems = []
    for component in circles(graph):
        folders = {_folder(m, src) for m in component}
        if len(folders) > 1 or "automatte/infer" in folders:
            edges = [f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in component]
            problems.append(f"{', '.join(sorted(folders))}: " + "; ".join(edges))
    return problems


def test_no_import_circle_between_folders_or_inside_infer():
    problems = forbidden_circles()
    assert not problems, "import circles:\n" + "\n".join(problems)


def test_the_check_sees_a_circle_through_a_function_level_import(tmp_path):
    """A copy of two modules that import each other (one inside a function) is reported; one that only
    imports the other is not."""
    pkg = tmp_path / "automatte"
    (pkg / "infer").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "infer" / "__init__.py").write_text("")
    (pkg / "infer" / "a.py").write_text("from automatte.infer.b import B\n")
    (pkg / "infer" / "b.py").write_text("B = 1\n")
    (pkg / "io.py").write_text("import importlib\n")
    assert forbidden_circles(tmp_path) == []
    (pkg / "infer" / "b.py").write_text("def f():\n    from automatte.infer import a\n")
    assert forbidden_circles(tmp_path) == ["automatte/infer: automatte.infer.a -> automatte.infer.b; "
                                           "automatte.infer.b -> automatte.infer.a"]  # fmt: skip
    (pkg / "infer" / "b.py").write_text("B = 1\n")
    (pkg / "io.py").write_text("import importlib\ndef f():\n    importlib.import_module(f'automatte.infer.{1}')\n")
    (pkg / "infer" / "b.py").write_text("from automatte.io import f\n")
    assert len(forbidden_circles(tmp_path)) == 1  # a string import across folders counts
