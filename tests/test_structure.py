"""The project's limits, read from the source: modules and functions stay short, imports go one way along the
pipeline (data -> train -> sources -> analysis -> draw -> site -> publish), and importing a module changes nothing."""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

import cnnkreport

PACKAGE = Path(cnnkreport.__file__).parent
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
LONG_MARK = "# long:"  # within the first 3 lines of a longer function's body, saying why it stays in one piece

# The pipeline's stages, earliest first. A module may import from its own stage or an earlier one, never a later one.
STAGES: list[tuple[str, ...]] = [
    ("errors", "files", "names", "workers", "executors", "progress", "swap"),
    ("config",),
    ("data", "model"),
    ("rundir",),
    ("train",),
    ("sources",),
    ("analysis",),
    ("draw",),
    ("site",),
    ("publish",),
    ("pipeline", "sweep"),
    ("cli", "__main__", "api"),
]
RANK = {name: rank for rank, names in enumerate(STAGES) for name in names}
TOP = len(STAGES) - 1  # the package __init__ may import anything
# Python runs cnnkreport/__init__.py before any submodule, so taking a name defined there (__version__) orders
# nothing: the root package has no stage. A name it lends lazily is the module that defines it.
LAZY = {"cnnkreport.KernelRecorder": "cnnkreport.sources.recorder"}


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


def imported_modules(name: str, path: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, module of the package) for every import in the file, at the top or inside functions. A relative import
    is resolved from the module's own package; `from X import y` names the submodule X.y where there is one."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
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
    return found


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
