"""The project's limits, read from the source: modules and functions stay short, imports go one way along the
pipeline (data -> train -> sources -> analysis -> draw -> site -> publish), and importing a module changes nothing."""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

import cnnkreport

PACKAGE = Path(cnnkreport.__file__).parent
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
LONG_MARK = "# long:"  # within the first 3 lines of a longer function's body, saying why it stays in one piece

# The pipeline's stages, earliest first. A module may import from its own stage or an earlier one, never a later one.
STAGES: list[tuple[str, ...]] = [
    ("errors", "files", "names", "workers", "executors", "progress", "swap", "tomlio"),
    ("config",),
    ("data", "model", "cost", "userdata"),
    ("rundir",),
    ("train",),
    ("sources",),
    ("analysis",),
    ("draw",),
    ("site",),
    ("publish",),
    ("pipeline", "sweep"),
    ("cli", "__main__", "api", "keras", "lightning"),
]
RANK = {name: rank for rank, names in enumerate(STAGES) for name in names}
TOP = len(STAGES) - 1  # the package __init__ may import anything
# Python runs cnnkreport/__init__.py before any submodule, so taking a name defined there (__version__) orders
# nothing: the root package has no stage. A name it lends lazily is the module that defines it.
LAZY = {
    "cnnkreport.KernelRecorder": "cnnkreport.sources.recorder",
    **{f"cnnkreport.{name}": "cnnkreport.api" for name in ("inspect", "Report", "Layer")},
    "cnnkreport.UserError": "cnnkreport.errors",
}


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name ('cnnkreport.site.pages', 'cnnkreport' for the __init__)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def rank(module: str) -> int | None:
    """The stage of a module of the package, None for the root package itself (see imported_modules)."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    if parts[1] not in RANK:
        raise AssertionError(f"{module} is in no stage: add {parts[1]!r} to STAGES in {__file__}")
    return RANK[parts[1]]


def is_type_checking(test: ast.expr) -> bool:
    """An if-test true only for type checkers: `TYPE_CHECKING` or `typing.TYPE_CHECKING`."""
    if isinstance(test, ast.Attribute):
        return test.attr == "TYPE_CHECKING" and isinstance(test.value, ast.Name) and test.value.id == "typing"
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def import_nodes(tree: ast.AST, type_checking: bool = True) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in the tree, at the top or inside functions; without those in the bodies of
    `if TYPE_CHECKING:` blocks (which never run; their else branches do) unless `type_checking`."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif not type_checking and isinstance(node, ast.If) and is_type_checking(node.test):
            todo += node.orelse
        else:
            todo += ast.iter_child_nodes(node)


def imported_modules(name: str, path: Path, known: set[str], type_checking: bool = True) -> list[tuple[int, str]]:
    """(line, module of the package) for every import in the file, at the top or inside functions (and under
    `if TYPE_CHECKING:` unless `type_checking` is false), in line order. A relative import is resolved from the
    module's own package; `from X import y` names the submodule X.y where there is one."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path)), type_checking):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "cnnkreport"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level - 1 >= len(base):
                    raise AssertionError(f"{path}:{node.lineno}: relative import beyond the package")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "cnnkreport":
                target = node.module
            else:
                continue
            for alias in node.names:
                sub = LAZY.get(f"{target}.{alias.name}", f"{target}.{alias.name}")
                found.append((node.lineno, sub if sub in known else target))
    return sorted(found)


def test_no_module_is_too_long() -> None:
    long = []
    for path in modules().values():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_MODULE_LINES:
            long.append(f"{path.relative_to(PACKAGE.parent)}: {n} lines")
    if long:
        pytest.fail(f"modules over {MAX_MODULE_LINES} lines (split them by what they do):\n" + "\n".join(long))


def header_end(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The line (1-based) of the colon that ends a function's `def` line(s)."""
    text = "".join(lines[node.lineno - 1 : node.end_lineno])
    depth = 0
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        elif tok.type == tokenize.OP and tok.string == ":" and depth == 0:
            return node.lineno + tok.start[0] - 1
    raise AssertionError(f"no end to the def line of {node.name}")


def test_no_function_is_too_long_without_saying_why() -> None:
    long = []
    for path in modules().values():
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for node in ast.walk(ast.parse("".join(lines), str(path))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            n = (node.end_lineno or node.lineno) - node.lineno + 1
            if n <= MAX_FUNCTION_LINES:
                continue
            end = header_end(lines, node)
            said = [s.strip() for s in lines[end : end + 3]]
            if not any(s.startswith(LONG_MARK) and s[len(LONG_MARK) :].strip() for s in said):
                long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.name}() is {n} lines")
    if long:
        pytest.fail(
            f"functions over {MAX_FUNCTION_LINES} lines with no '{LONG_MARK} why' comment in their first 3 lines:\n"
            + "\n".join(long)
        )


def test_imports_go_one_way_along_the_pipeline() -> None:
    found = modules()
    wrong = set()
    for name, path in found.items():
        here = TOP if name == "cnnkreport" else rank(name)
        assert here is not None
        for line, target in imported_modules(name, path, set(found)):
            there = rank(target)
            if there is not None and there > here:
                wrong.add(
                    f"{path.relative_to(PACKAGE.parent)}:{line}: {name} (stage {here}) imports {target} (stage {there})"
                )
    if wrong:
        pytest.fail("imports against the pipeline's direction:\n" + "\n".join(sorted(wrong)))


def test_the_stage_rules_read_imports_as_python_does(tmp_path: Path) -> None:
    """The resolver on a made-up module: relative imports from a package's module and from its __init__ (which is
    the package itself), submodules named by `from . import x`, absolute imports, imports inside functions."""
    source = (
        "from . import scores, nothing\nfrom ..rundir import Run\nfrom .. import __version__, KernelRecorder\n"
        "import cnnkreport.site.pages\nimport numpy\nfrom numpy import linalg\n"
        "def f():\n    from ..draw.mosaic import grid\n    from cnnkreport.sweep import expand\n"
    )
    known = {"cnnkreport", "cnnkreport.analysis", "cnnkreport.analysis.scores", "cnnkreport.rundir"}
    known |= {"cnnkreport.site.pages", "cnnkreport.draw.mosaic", "cnnkreport.sweep", "cnnkreport.sources.recorder"}
    expected = [
        "cnnkreport.analysis.scores",
        "cnnkreport.analysis",
        "cnnkreport.rundir",
        "cnnkreport",
        "cnnkreport.sources.recorder",
        "cnnkreport.site.pages",
        "cnnkreport.draw.mosaic",
        "cnnkreport.sweep",
    ]
    for name, file in (("cnnkreport.analysis.report", "report.py"), ("cnnkreport.analysis", "__init__.py")):
        path = tmp_path / file
        path.write_text(source, encoding="utf-8")
        assert sorted(m for _, m in imported_modules(name, path, known)) == sorted(expected), file
    assert [rank(m) for m in ("cnnkreport.errors", "cnnkreport.site.pages", "cnnkreport.cli", "cnnkreport")] == [
        0,
        8,
        11,
        None,
    ]


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the strongly connected components of a directed graph (node -> the nodes it points to),
    each sorted; a component of more than one node, or a node pointing to itself, is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:  # on the stack: in the component being found
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:  # v is the first of its component found: the rest are above it on the stack
            at = stack.index(v)
            components.append(sorted(stack[at:]))
            del stack[at:]

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The components of the graph that are cycles: more than one node, or one that points to itself."""
    return [c for c in strongly_connected(graph) if len(c) > 1 or c[0] in graph.get(c[0], ())]


def import_graph() -> dict[str, dict[str, list[str]]]:
    """module -> {module of the package it imports: where ('path:line', each line once)}, for imports at the top or
    inside functions, not those under `if TYPE_CHECKING:` (they never run)."""
    found = modules()
    graph: dict[str, dict[str, list[str]]] = {name: {} for name in found}
    for name, path in found.items():
        for line, target in imported_modules(name, path, set(found), type_checking=False):
            # The root package is no node, as it has no stage: an import of it (`from .. import __version__`) is no
            # edge. Python runs cnnkreport/__init__.py before any submodule; it defines its own names before it
            # imports anything, and it imports the package only inside functions, lazily
            # (test_the_root_imports_the_package_lazily), so a name taken from it waits on no other module. A name
            # it lends lazily is an edge to the module that defines it (LAZY: imported_modules reads it so). A
            # subpackage's __init__ is a node like any other module: if it imports a submodule that takes a name
            # from it (one that is not a submodule), the two import each other.
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            if target != "cnnkreport" and where not in graph[name].get(target, []):
                graph[name].setdefault(target, []).append(where)
    return graph


def test_no_modules_import_each_other() -> None:
    graph = import_graph()
    found = cycles({name: set(targets) for name, targets in graph.items()})
    report = []
    for component in found:
        inside = set(component)
        edges = [(a, b) for a in component for b in sorted(graph[a]) if b in inside]
        lines = [f"  {at}: {a} imports {b}" for a, b in edges for at in graph[a][b]]
        report.append(" <-> ".join(component) + "\n" + "\n".join(lines))
    if report:
        pytest.fail(
            "modules that import each other (at the top or inside functions; let one hold what both need):\n"
            + "\n".join(report)
        )


def test_the_root_imports_the_package_lazily() -> None:
    """What lets import_graph leave the root package out: it imports none of the package as it runs, only inside
    functions (its __getattr__)."""
    tree = ast.parse(PACKAGE.joinpath("__init__.py").read_text(encoding="utf-8"))

    def of_the_package(node: ast.Import | ast.ImportFrom) -> bool:
        if isinstance(node, ast.Import):
            return any(alias.name.split(".")[0] == "cnnkreport" for alias in node.names)
        return node.level > 0 or (node.module or "").split(".")[0] == "cnnkreport"

    eager = [
        node.lineno
        for stmt in tree.body
        if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in import_nodes(stmt, type_checking=False)
        if of_the_package(node)
    ]
    assert not eager, f"cnnkreport/__init__.py imports the package at lines {eager}: import it inside __getattr__"


def test_the_cycle_finder_on_a_made_up_graph() -> None:
    """A cycle of three, a self-loop, and an acyclic part (a chain and a diamond) that leads out of both."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e", "f"}, "e": {"g"}, "f": {"g"}, "s": {"s", "d"}}
    components = strongly_connected(graph)
    assert sorted(components) == [["a", "b", "c"], ["d"], ["e"], ["f"], ["g"], ["s"]]
    assert sorted(cycles(graph)) == [["a", "b", "c"], ["s"]]
    assert cycles({"x": {"y"}, "y": set()}) == []
    assert sorted(cycles({"p": {"q"}, "q": {"p"}, "r": {"q"}})) == [["p", "q"]]


def test_imports_for_type_checkers_only_are_no_edges(tmp_path: Path) -> None:
    """A made-up module: imports under `if TYPE_CHECKING:` and `if typing.TYPE_CHECKING:` never run, so the cycle
    test skips them (the stage test still reads them); their else branches and every other import count."""
    source = (
        "import typing\nfrom typing import TYPE_CHECKING\nfrom . import scores\n"
        "if TYPE_CHECKING:\n    from ..rundir import Run\n    from . import bank\n"
        "if typing.TYPE_CHECKING:\n    from ..draw import mosaic\nelse:\n    from ..draw import svg\n"
        "def f():\n    if TYPE_CHECKING:\n        from ..site import pages\n    from ..files import atomic_write\n"
    )
    path = tmp_path / "report.py"
    path.write_text(source, encoding="utf-8")
    known = {"cnnkreport.analysis.scores", "cnnkreport.analysis.bank", "cnnkreport.rundir", "cnnkreport.files"}
    known |= {"cnnkreport.draw.mosaic", "cnnkreport.draw.svg", "cnnkreport.site.pages"}
    run = imported_modules("cnnkreport.analysis.report", path, known, type_checking=False)
    assert run == [(3, "cnnkreport.analysis.scores"), (10, "cnnkreport.draw.svg"), (14, "cnnkreport.files")]
    every = imported_modules("cnnkreport.analysis.report", path, known)
    assert [m for _, m in every] == [
        "cnnkreport.analysis.scores",
        "cnnkreport.rundir",
        "cnnkreport.analysis.bank",
        "cnnkreport.draw.mosaic",
        "cnnkreport.draw.svg",
        "cnnkreport.site.pages",
        "cnnkreport.files",
    ]


IMPORT_EVERYTHING = """
import importlib, json, matplotlib, os, pkgutil, sys

def caller():  # the module of the package whose code is running (the import that runs it may be another's)
    frame = sys._getframe(2)
    while frame is not None and not frame.f_globals.get("__name__", "").startswith("cnnkreport"):
        frame = frame.f_back
    return frame.f_globals["__name__"] if frame is not None else "outside the package"

calls, real_umask, real_use = [], os.umask, matplotlib.use
def umask(mask):
    calls.append(("os.umask", caller()))
    return real_umask(mask)
def use(*args, **kwargs):
    calls.append(("matplotlib.use", caller()))
    return real_use(*args, **kwargs)
os.umask, matplotlib.use = umask, use
real_umask(0o027)
before = matplotlib.get_backend()
import pytest

import cnnkreport
names = ["cnnkreport"] + [m.name for m in pkgutil.walk_packages(cnnkreport.__path__, "cnnkreport.")]
changed = []
for name in names:
    if name == "cnnkreport.__main__":
        continue  # `python -m cnnkreport`: running the command is what importing it is for
    importlib.import_module(name)
    mask = real_umask(0o027)
    backend = matplotlib.get_backend()
    if mask != 0o027:
        changed.append(f"{name}: the umask became {mask:o}")
    if backend != before:
        changed.append(f"{name}: the matplotlib backend became {backend}")
        real_use(before)
print(json.dumps({"names": names, "calls": calls, "changed": changed}))
"""


@pytest.mark.slow
def test_importing_a_module_changes_nothing_in_the_process() -> None:
    env = {**os.environ, "MPLBACKEND": "svg"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert sorted(report["names"]) == sorted(modules())  # every module was imported (walk_packages missed none)
    problems = [f"{module}: calls {call} at import" for call, module in report["calls"]] + report["changed"]
    if problems:
        pytest.fail("importing these modules changes the process:\n" + "\n".join(sorted(set(problems))))


ARCHITECTURE = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")


def test_each_stage_names_its_modules() -> None:
    """A stage's __init__ docstring lists every module of the stage, and docs/architecture.md names every module."""
    unnamed, undocumented = [], []
    for name, path in modules().items():
        parts = name.split(".")
        if len(parts) != 3:
            continue
        stage = path.parent / "__init__.py"
        doc = ast.get_docstring(ast.parse(stage.read_text(encoding="utf-8"))) or ""
        if not re.search(rf"\b{parts[2]}\b", doc):
            unnamed.append(f"{stage.relative_to(PACKAGE.parent)} does not name {parts[2]}")
    for name in modules():
        leaf = name.split(".")[-1]
        if name != "cnnkreport" and leaf != "__main__" and f"`{leaf}" not in ARCHITECTURE and leaf not in ARCHITECTURE:
            undocumented.append(name)
    assert not unnamed, "\n".join(unnamed)
    assert not undocumented, f"docs/architecture.md does not name: {undocumented}"


def test_the_documented_import_order_is_the_tested_one() -> None:
    """docs/architecture.md's import order is STAGES, stage by stage, and the README gives the same order."""
    line = next(ln for ln in ARCHITECTURE.splitlines() if ln.startswith("errors,"))
    block = ARCHITECTURE[ARCHITECTURE.index(line) :].split("```")[0]
    documented = [tuple(re.findall(r"[a-z_]+", stage)) for stage in block.replace("\n", " ").split("→")]
    tested = [tuple(n for n in stage if n != "__main__") for stage in STAGES]
    assert [sorted(s) for s in documented] == [sorted(s) for s in tested]
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    assert " ".join(block.split()) in " ".join(readme.split()), "the README gives another import order"
