"""Hostile input (issue 7). A committed corpus of bad files (tests/hostile/, made by make_corpus.py), every config
key with a wrong type and out of range, output paths that cannot be written, and layer names meant to break paths and
pages; then property-based tests of the config loader and the checkpoint reader.

Every bad input gives exit code 2 and exactly one `error:` line on stderr (nothing on stdout, no traceback), writes
nothing outside the output folder, and leaves that folder uncreated, or byte for byte as it was. Code in a pickle never
runs. Valid but unfriendly layer names render, escaped in every page, into paths inside the output folder."""

from __future__ import annotations

import dataclasses
import hashlib
import html
import importlib.util
import io
import json
import math
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import tomllib
import tracemalloc
import typing
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cnnkreport.cli import app
from cnnkreport.config import (
    DEVICES,
    LOSSES,
    OPTIMIZERS,
    PRESETS,
    SCHEDULES,
    WAVEFORMS,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    load_run_config,
)
from cnnkreport.errors import UserError
from cnnkreport.names import printable
from cnnkreport.pipeline import BuildConfig, load_build_config
from cnnkreport.site.layout import MARKER
from cnnkreport.sources.checkpoint import history, load
from cnnkreport.sources.layers import MAX_TAPS, conv_layers
from cnnkreport.sweep import SweepConfig, expand, load_sweep
from cnnkreport.tomlio import dumps_toml, to_dict

CORPUS = Path(__file__).parent / "hostile"


def _corpus_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_corpus"] = module
    spec.loader.exec_module(module)
    return module


corpus = _corpus_module()
BAD = [c for c in corpus.CASES if c.command != "inspect-names"]
PWNED = corpus.PWNED


# ----------------------------------------------------------------------------------------------- helpers


def tree(root: Path) -> dict[str, str]:
    """Every path under root (relative) -> a hash of its bytes, or "dir"."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A working folder inside tmp_path that is also the current folder, and temp files inside tmp_path too, so
    that a tree of tmp_path taken before and after a command shows everything it wrote anywhere."""
    work, tmp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TMPDIR", str(tmp))
    yield work
    assert not list(tmp.iterdir()), "temp files left behind"
    assert not list(tmp_path.rglob(PWNED)), "a pickle ran its code"


def previous_site(folder: Path) -> None:
    """What a previous `cnnkreport` run left in an output folder (its marker says so)."""
    folder.mkdir()
    (folder / MARKER).write_text("made by cnnkreport 0.1.0\n")
    (folder / "index.html").write_text("<!doctype html><title>the previous site</title>\n")
    (folder / "summary.json").write_text('{"version": 1, "runs": []}\n')


def invoke(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: {type(result.exception).__name__}: {result.exception}")
    return result.exit_code, result.stdout, result.stderr


def assert_refused(code: int, stdout: str, stderr: str, *needles: str) -> str:
    """Exit code 2, nothing on stdout, one line on stderr: `error: ...` holding every needle."""
    assert code == 2, (code, stdout, stderr)
    assert stdout == "" and "Traceback" not in stderr, stderr
    assert stderr.endswith("\n") and stderr.count("\n") == 1 and stderr.startswith("error: "), repr(stderr)
    for needle in needles:
        assert needle in stderr, (needle, stderr)
    return stderr


def command(case: Any, path: Path, out: Path) -> list[str]:
    """The command line that gives `path` (a corpus file) to the command its case names, writing to `out`."""
    runs = ["--runs", str(out.parent / "runs")]
    return {
        "inspect": ["inspect", str(path), "--out", str(out)],
        "train": ["train", "--config", str(path), "--run", str(out)],
        "build": ["build", "--config", str(path), "--out", str(out), *runs],
        "sweep": ["sweep", "--config", str(path), "--out", str(out), *runs],
    }[case.command]


# ----------------------------------------------------------------------------------------------- the corpus


@pytest.mark.slow  # the generator in a process of its own
def test_corpus_is_what_the_generator_writes(tmp_path: Path) -> None:
    """The committed files are exactly what make_corpus.py writes (it is deterministic), small, and all listed.
    Run as a script, as one regenerates the corpus: TorchScript names a class differently in a process that has
    compiled it before."""
    subprocess.run([sys.executable, str(CORPUS / "make_corpus.py"), str(tmp_path)], check=True, capture_output=True)
    written = [tmp_path / c.file for c in corpus.CASES]
    assert len(BAD) >= 25 and all(p.is_file() for p in written)
    for path in [*written, tmp_path / "README.md"]:
        assert (CORPUS / path.name).read_bytes() == path.read_bytes(), f"rerun make_corpus.py: {path.name} differs"
    sizes = [p.stat().st_size for p in written]
    assert max(sizes) <= 20_000 and sum(sizes) < 200_000
    committed = {p.name for p in CORPUS.iterdir()} - {"make_corpus.py", "README.md", "__pycache__"}
    assert committed == {c.file for c in corpus.CASES}
    readme = (CORPUS / "README.md").read_text()
    assert all(f"`{c.file}`" in readme for c in corpus.CASES)


@pytest.mark.parametrize("previous", [False, True], ids=["new-out", "previous-site"])
@pytest.mark.parametrize("case", BAD, ids=[c.file for c in BAD])
def test_bad_input_is_one_line_and_writes_nothing(sandbox: Path, case: Any, previous: bool) -> None:
    out = sandbox / "out"
    if previous:
        previous_site(out)
    before, corpus_before = tree(sandbox.parent), tree(CORPUS)
    assert_refused(*invoke(command(case, CORPUS / case.file, out)), case.expect)
    assert tree(sandbox.parent) == before  # the output folder not created, or as it was; nothing else written
    assert tree(CORPUS) == corpus_before


# The real command line, several at once: the same one line, and claims of gigabytes allocate nothing like that.
SUBPROCESS_CASES = [
    "pickle_runs_code.pt",
    "torchscript.pt",
    "broadcast_2gb.pt",
    "legacy_storage_claims_2gb.pt",
    "shrinks_to_nothing.toml",
]
PEAK_RSS = (  # runs the command line, then writes its peak resident memory (KB) to the file named first
    "import atexit, resource, runpy, sys; rss = sys.argv.pop(1); "
    "atexit.register(lambda: open(rss, 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))); "
    "runpy.run_module('cnnkreport', run_name='__main__')"
)


@pytest.mark.slow  # a real process per bad file; test_bad_input_is_one_line_and_writes_nothing covers each in-process
def test_bad_input_through_the_real_command_line(tmp_path: Path) -> None:
    cases = {c.file: c for c in BAD}
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "300"}
    before = tree(tmp_path)
    procs = {}
    for name in SUBPROCESS_CASES:
        rss = tmp_path / f"{name}.rss"
        args = command(cases[name], CORPUS / name, work / f"out-{name}")
        procs[name] = (
            subprocess.Popen(
                [sys.executable, "-c", PEAK_RSS, str(rss), *args],
                cwd=work,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
            rss,
        )
    for name, (proc, rss) in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert_refused(proc.returncode, stdout, stderr, cases[name].expect)
        peak_mb = int(rss.read_text()) / 1024  # ru_maxrss is in KB on Linux
        assert peak_mb < 1500, f"{name}: peak RSS {peak_mb:.0f} MB"
        rss.unlink()
    assert tree(tmp_path) == before
    assert not list(tmp_path.rglob(PWNED))


# ----------------------------------------------------------------------------------------------- hostile names


@pytest.mark.slow  # a site of many layers; test_a_very_long_layer_name_renders is the fast one
def test_hostile_layer_and_file_names_render_escaped(sandbox: Path) -> None:
    """Names are data: `<script>`, quotes, `../`, `/`, unicode, NUL and newline render (exit 0), escaped in every
    page, in files and folders inside the output folder; control characters are shown as escapes (line\\nbreak)."""
    model = "<img src=x onerror=alert(2)> \"q\" 'ü'"  # a file name cannot hold a slash, so no </script>
    file_name = f"{model}.pt"
    shutil.copyfile(CORPUS / "hostile_names.pt", sandbox / file_name)
    before = tree(sandbox.parent)
    code, stdout, stderr = invoke(["inspect", file_name, "--out", "site"])
    assert code == 0, stderr
    assert stdout == "" and "Traceback" not in stderr
    site = sandbox / "site"
    after = tree(sandbox.parent)
    new = {p for p in after if p not in before}
    assert all(Path(p).parts[:2] == ("work", "site") for p in new), sorted(new)[:5]
    assert all(".." not in Path(p).parts for p in new)
    for p in site.rglob("*"):
        assert p.resolve().is_relative_to(site.resolve()) and p.name.isprintable()

    names = [printable(n) for n in corpus.HOSTILE_NAMES]
    assert "line\\nbreak" in names and "nul\\x00byte" in names  # shown as escapes
    pages = {p: p.read_text(encoding="utf-8") for p in site.rglob("*") if p.suffix in (".html", ".svg")}
    assert len(pages) > 10
    raw_forms = [
        "<script>alert",
        "</script>",
        "<b>bold",
        "<img src=x",
        "a\"b'c",
        "'ü'",
        "\x00",
        "\u202e",
        "line\nbreak",
    ]
    for page, text in pages.items():
        for raw in raw_forms:
            assert raw not in text, f"{raw!r} unescaped in {page.relative_to(site)}"
    run_pages = [p for p in pages if p.parent.parent == site / "runs" and p.name == "index.html"]
    assert len(run_pages) == 1
    run_page = html.unescape(pages[run_pages[0]])
    for name in [*names, model]:
        assert name in run_page, name
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[run_pages[0]]

    summary = json.loads((site / "summary.json").read_text(encoding="utf-8"))
    (run,) = summary["runs"]
    assert run["name"] == model
    assert {layer["name"] for layer in run["layers"]} == set(names)  # every layer drawn, names as data
    scored = {layer["name"] for layer in run["layers"] if layer["not_scored"] is None}
    assert scored == set(corpus.ANALYSED_NAMES)  # 9 taps; the others' 2 taps are too few for a pattern score
    details = [json.loads(p.read_text(encoding="utf-8")) for p in site.rglob("layer.json")]
    assert len(details) == len(corpus.ANALYSED_NAMES)


def test_hostile_names_read_alike_from_safetensors() -> None:
    shown, _ = conv_layers(load(CORPUS / "hostile_names.safetensors"))
    from_pt, _ = conv_layers(load(CORPUS / "hostile_names.pt"))
    assert (
        sorted(c.name for c in shown) == sorted(c.name for c in from_pt) == sorted(map(printable, corpus.HOSTILE_NAMES))
    )


def test_names_that_collide_once_escaped_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "twins.pt"
    torch.save({"a\nb.weight": torch.ones(1, 1, 3), "a\\nb.weight": torch.ones(1, 1, 3)}, path)
    with pytest.raises(UserError, match="the same name once their control characters are written out"):
        load(path)


def test_a_very_long_layer_name_renders(sandbox: Path) -> None:
    name = "x" * 300
    torch.save({name + ".weight": torch.ones(1, 1, 2)}, sandbox / "long.pt")
    code, _, stderr = invoke(["inspect", "long.pt", "--out", "site"])
    assert code == 0, stderr
    run = sandbox / "site" / "runs" / "long"
    folders = [p for p in run.iterdir() if p.is_dir()]
    assert len(folders) == 1 and len(folders[0].name) <= 100  # a short, unique folder name for the layer...
    page = (folders[0] / "index.html").read_text(encoding="utf-8")
    assert f"<code>{name}</code>" in page  # ...and the whole name on its page
    assert (folders[0] / "mosaic.png").is_file() and name in (run / "index.html").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------------------- config keys

SECTIONS: dict[str, type] = {"": RunConfig, "data": DataConfig, "model": ModelConfig, "train": TrainConfig}
CHOICES = {
    "kind": ("image", "signal"),
    "device": DEVICES,
    "loss": LOSSES,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
}
HUGE_INT = 2**63 - 1  # the largest integer TOML has


def wrong_types(tp: Any) -> list[object]:
    """Values of the wrong type for a config field of type tp."""
    if tp is bool:
        return ["yes", 1]
    if tp is int:
        return ["seven", 1.5, True]
    if tp is float:
        return ["fast", [1.0], False]
    if tp is str:
        return [3, ["a"]]
    if typing.get_origin(tp) is tuple:
        element = typing.get_args(tp)[0]
        return ["not a list", [{"int": "x", "float": "x", "str": 3}[element.__name__]] * 2]
    if dataclasses.is_dataclass(tp):
        return [3, "table"]
    raise AssertionError(f"no wrong values for {tp}")


def out_of_range(tp: Any) -> list[object]:
    """Values of the right type that no config accepts (numbers far out, unknown choices); [] for booleans."""
    if tp is int:
        return [-1, HUGE_INT]
    if tp is float:
        return [-1e300, 1e300, math.nan, math.inf]
    if tp is str:
        return ["", "no such value", "../../evil"]
    if typing.get_origin(tp) is tuple:
        element = typing.get_args(tp)
        if element[-1] is Ellipsis:
            return [[], [{"int": HUGE_INT, "str": "circle"}[element[0].__name__]] * 2]
        return [[1e300, -1e300], [-1e300, -1e300], [0.5, 0.5, 0.5]]  # (min, max) pairs
    return []


def key_cases() -> list[tuple[str, object, str]]:
    """(dotted key, value, "type" | "range") for every key of every config table."""
    cases = []
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            key = f"{section}.{f.name}" if section else f.name
            cases += [(key, v, "type") for v in wrong_types(hints[f.name])]
            if not dataclasses.is_dataclass(hints[f.name]):  # a key's own default ("" for data.path: none) is valid
                cases += [(key, v, "range") for v in out_of_range(hints[f.name]) if v != f.default]
    return cases


KEY_CASES = key_cases()


def toml_for(key: str, value: object) -> str:
    section, _, name = key.rpartition(".")
    return dumps_toml({section: {name: value}} if section else {name: value})


def test_every_key_has_cases() -> None:
    keys = {k for k, _, _ in KEY_CASES}
    expected = {f.name for f in dataclasses.fields(RunConfig)}
    expected |= {f"{s}.{f.name}" for s, cls in SECTIONS.items() if s for f in dataclasses.fields(cls)}
    assert keys == expected and len(keys) >= 30
    numeric = {k for k, _, kind in KEY_CASES if kind == "range"}
    booleans = {k for k in keys if typing.get_type_hints(SECTIONS[k.rpartition(".")[0]])[k.rpartition(".")[2]] is bool}
    assert numeric == keys - booleans - {"data", "model", "train"}


@pytest.mark.parametrize(("key", "value", "kind"), KEY_CASES, ids=[f"{k}={v!r}" for k, v, _ in KEY_CASES])
def test_every_config_key_wrong_type_and_out_of_range(sandbox: Path, key: str, value: object, kind: str) -> None:
    path = sandbox / "bad.toml"
    path.write_text(toml_for(key, value), encoding="utf-8")
    with pytest.raises(UserError):  # checked here first: a config that is valid after all would start training
        load_run_config(path, PRESETS["pulses-2d"])
    before = tree(sandbox.parent)
    line = assert_refused(*invoke(["train", "--config", str(path), "--run", "runs/r"]), str(path))
    assert key in line, line  # the message names the key
    assert tree(sandbox.parent) == before and not (sandbox / "runs").exists()


BUILD_CASES = [  # (key, value, what the error line names)
    ("seeds", 0, "seeds"),
    ("seeds", 21, "seeds"),
    ("seeds", "five", "seeds"),
    ("workers", -1, "workers"),
    ("workers", 10_000, "workers"),
    ("workers", 1.5, "workers"),
    ("seed", -1, "seed"),
    ("seed", HUGE_INT, "seed"),
    ("device", "tpu", "device"),
    ("quick", "yes", "quick"),
    ("ablation", 0, "ablation"),
    ("presets", [], "presets"),
    ("presets", ["nope"], "unknown preset 'nope'"),
    ("presets", "pulses-2d", "presets"),
    ("out", 3, "out"),
    ("runs", ["runs"], "runs"),
    ("overrides", 3, "overrides"),
    ("overrides", {"pulses-2d": 3}, "overrides"),
    ("overrides", {"nope": {"seed": 1}}, "unknown preset 'nope'"),
    ("overrides", {"pulses-2d": {"train": {"lr": -1.0}}}, "train.lr"),
    ("overrides", {"pulses-2d": {"model": {"hidden": "x"}}}, "overrides.pulses-2d.model.hidden"),
    ("overrides", {"pulses-1d": {"data": {"nope": 1}}}, "overrides.pulses-1d.data.'nope'"),
    ("nope", 1, "unknown config key 'nope'"),
]


@pytest.mark.parametrize(("key", "value", "needle"), BUILD_CASES, ids=[f"{k}={v!r}" for k, v, _ in BUILD_CASES])
def test_build_config_keys(sandbox: Path, key: str, value: object, needle: str) -> None:
    assert key in {f.name for f in dataclasses.fields(BuildConfig)} | {"nope"}
    path = sandbox / "build.toml"
    path.write_text(dumps_toml({key: value}), encoding="utf-8")
    with pytest.raises(UserError):
        load_build_config(path)
    before = tree(sandbox.parent)
    assert_refused(*invoke(["build", "--config", str(path), "--out", "site", "--runs", "runs"]), str(path), needle)
    assert tree(sandbox.parent) == before


SWEEP_CASES = [
    ({"name": 3}, "name must be a string"),
    ({"preset": "nope"}, "unknown preset 'nope'"),
    ({"preset": 3}, "preset must be a string"),
    ({"seeds": "x"}, "seeds must be a list"),
    ({"seeds": [-1]}, "seeds must be between"),
    ({"seeds": ["a"]}, "seeds[0] must be an integer"),
    ({"nope": 1}, "unknown config key 'nope'"),
    ({"grid": 3}, "[grid] must map"),
    ({"grid": {"train.lr": 0.1}}, "[grid] must map"),
    ({"grid": {"train.lr": []}}, "[grid] must map"),
    ({"grid": {"train.lr": [0.1, "fast"]}}, "train.lr must be a number"),
    ({"grid": {"model.kernel_size": [[5]]}}, "one entry per conv layer"),
    ({"grid": {"nope.x": [1]}}, "unknown config key 'nope'"),
]


@pytest.mark.parametrize(("table", "needle"), SWEEP_CASES, ids=[json.dumps(t) for t, _ in SWEEP_CASES])
def test_sweep_config_keys(sandbox: Path, table: dict[str, object], needle: str) -> None:
    assert set(table) <= {f.name for f in dataclasses.fields(SweepConfig)} | {"nope"}
    d = {"name": "s", "seeds": [0], "grid": {"train.epochs": [1]}} | table
    path = sandbox / "sweep.toml"
    path.write_text(dumps_toml(d), encoding="utf-8")
    with pytest.raises(UserError):
        expand(load_sweep(path, None))
    before = tree(sandbox.parent)
    assert_refused(*invoke(["sweep", "--config", str(path), "--out", "site", "--runs", "runs"]), needle)
    assert tree(sandbox.parent) == before


@pytest.mark.parametrize("name", ["../../evil", "", "a/b"])
def test_sweep_name_cannot_leave_the_runs_folder(tmp_path: Path, name: str) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(dumps_toml({"name": name, "seeds": [0], "grid": {"train.epochs": [1]}}))
    with pytest.raises(UserError):
        expand(load_sweep(path, None))


def test_sweep_needs_a_seed(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(dumps_toml({"name": "s", "seeds": [], "grid": {"train.epochs": [1]}}))
    with pytest.raises(UserError):
        expand(load_sweep(path, None))


# ----------------------------------------------------------------------------------------------- output paths


@pytest.fixture
def small_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "model.pt"
    torch.save({"conv.weight": torch.ones(2, 1, 9)}, path)
    return path


def test_out_is_a_file(sandbox: Path, small_checkpoint: Path) -> None:
    blocker = sandbox / "a-file"
    blocker.write_text("keep me")
    before = tree(sandbox.parent)
    assert_refused(*invoke(["inspect", str(small_checkpoint), "--out", str(blocker)]), "exists and is a file")
    assert_refused(*invoke(["inspect", str(small_checkpoint), "--out", str(blocker / "site")]), "cannot write")
    assert_refused(*invoke(["train", "--run", str(blocker)]), "already exists")
    assert_refused(*invoke(["train", "--run", str(blocker / "run")]), "cannot create run folder")
    assert_refused(*invoke(["data", "--out", str(blocker)]), "exists and is a file")
    assert tree(sandbox.parent) == before


def test_out_is_a_folder_cnnkreport_did_not_make(sandbox: Path, small_checkpoint: Path) -> None:
    mine = sandbox / "my-thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("\\section{Intro}\n")
    before = tree(sandbox.parent)
    code, stdout, stderr = invoke(["inspect", str(small_checkpoint), "--out", str(mine)])
    assert_refused(code, stdout, stderr, "is not empty and was not made by cnnkreport")
    assert tree(sandbox.parent) == before


def test_out_in_an_unwritable_folder(sandbox: Path, small_checkpoint: Path) -> None:
    """A folder without write permission; as root (whom permission bits do not stop) a kernel file system that
    refuses new folders to everyone, /sys."""
    if os.geteuid() != 0:
        locked = sandbox / "locked"
        locked.mkdir(mode=0o500)
    elif Path("/sys/kernel").is_dir():
        locked = Path("/sys")
    else:
        pytest.skip("running as root without /sys: nothing here refuses root a new folder")
    try:
        before = tree(sandbox.parent)
        code, stdout, stderr = invoke(["inspect", str(small_checkpoint), "--out", str(locked / "cnnkreport-site")])
        assert_refused(code, stdout, stderr, f"cannot write the site in {locked}")
        assert tree(sandbox.parent) == before and not (locked / "cnnkreport-site").exists()
    finally:
        if locked.is_relative_to(sandbox):
            locked.chmod(0o700)


# ----------------------------------------------------------------------------------------------- properties

PROPERTY = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from([*WAVEFORMS, *DEVICES, *LOSSES, *OPTIMIZERS, *SCHEDULES, "image", "signal", *PRESETS])
)
anything = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=6)


def field_values(tp: Any) -> st.SearchStrategy[Any]:
    """Values a field of type tp might be given: mostly plausible ones (many configs come out valid), some not."""
    if tp is bool:
        plausible: st.SearchStrategy[Any] = st.booleans()
    elif tp is int:
        plausible = st.integers(-2, 70)
    elif tp is float:
        plausible = st.floats(-0.2, 1.2)
    elif tp is str:
        plausible = st.sampled_from(
            [*WAVEFORMS, *DEVICES, *LOSSES, *OPTIMIZERS, *SCHEDULES, "image", "signal", "run-1"]
        )
    else:
        element = typing.get_args(tp)[0]
        size = (1, 3) if typing.get_args(tp)[-1] is Ellipsis else (2, 2)
        plausible = st.lists(field_values(element), min_size=size[0], max_size=size[1])
    return plausible | anything


def table(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if not dataclasses.is_dataclass(hints[f.name])]
    return st.fixed_dictionaries({}, optional={n: field_values(hints[n]) for n in names}) | st.dictionaries(
        st.sampled_from(names) | st.text(max_size=6), anything, max_size=3
    )


config_dicts = st.fixed_dictionaries(
    {},
    optional={
        "preset": st.sampled_from(sorted(PRESETS)) | anything,
        "data": table(DataConfig) | anything,
        "model": table(ModelConfig) | anything,
        "train": table(TrainConfig) | anything,
    },
).flatmap(lambda d: table(RunConfig).map(lambda top: {**top, **d}))


def write_toml(d: dict[str, Any]) -> Path:
    fd, name = tempfile.mkstemp(suffix=".toml")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(dumps_toml(d))
    return Path(name)


@pytest.mark.slow
@PROPERTY
@given(config_dicts)
def test_property_config_loader_is_valid_or_one_user_error(d: dict[str, Any]) -> None:
    path = write_toml(d)
    try:
        try:
            cfg = load_run_config(path, PRESETS["pulses-2d"])
        except UserError as e:
            assert str(e) and "\n" not in str(e)
            event("refused")
            return
        event("valid")
        assert isinstance(cfg, RunConfig)
        path.write_text(dumps_toml(to_dict(cfg)), encoding="utf-8")
        assert load_run_config(path, PRESETS["pulses-1d"]) == cfg  # a valid config round-trips, whatever the base
    finally:
        path.unlink()


@PROPERTY
@given(
    st.builds(
        dict,
        name=st.text(st.sampled_from("abcXYZ019-_."), min_size=1, max_size=20).filter(lambda s: s.strip(".-") == s),
        seed=st.integers(0, 2**32 - 1),
        data=st.fixed_dictionaries(
            {
                "kind": st.sampled_from(["image", "signal"]),
                "size": st.integers(8, 64),
                "n_train": st.integers(1, 5000),
                "classes": st.lists(st.sampled_from(WAVEFORMS), min_size=2, max_size=5, unique=True),
                "amplitude": st.lists(st.floats(0, 1), min_size=2, max_size=2).map(sorted),
                "noise": st.floats(0, 10),
                "fill": st.booleans(),
            }
        ),
        model=st.integers(1, 3).flatmap(
            lambda n: st.fixed_dictionaries(
                {
                    "channels": st.lists(st.integers(1, 32), min_size=n, max_size=n),
                    "kernel_size": st.lists(st.integers(1, 9), min_size=n, max_size=n),
                    "hidden": st.integers(0, 64),
                }
            )
        ),
        train=st.fixed_dictionaries(
            {"lr": st.floats(1e-6, 10), "loss": st.sampled_from(LOSSES), "snapshots": st.integers(2, 1000)}
        ),
    )
)
@pytest.mark.slow
def test_property_valid_configs_round_trip(d: dict[str, Any]) -> None:
    path = write_toml(d)
    try:
        try:
            cfg = load_run_config(path, PRESETS["pulses-2d"])
        except UserError as e:
            # Every value drawn is in range; only the model as a whole can be refused ("model: ... shrink data.size
            # to nothing", "model: N parameters ..."). Such a draw is discarded; any other refusal is a failure.
            assume(not str(e).startswith("model: "))
            raise
        path.write_text(dumps_toml(to_dict(cfg)), encoding="utf-8")
        again = load_run_config(path, PRESETS["seed-replica"])
        assert again == cfg and dumps_toml(to_dict(again)) == dumps_toml(to_dict(cfg))
    finally:
        path.unlink()


toml_scalars = st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=12)
toml_values = st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
toml_tables = st.recursive(
    st.dictionaries(st.text(max_size=8), toml_values, max_size=4),
    lambda inner: st.dictionaries(st.text(max_size=8), toml_values | inner, max_size=4),
    max_leaves=8,
)


@pytest.mark.slow
@PROPERTY
@given(toml_tables)
def test_property_dumps_toml_writes_what_tomllib_reads(d: dict[str, Any]) -> None:
    """Any keys (dotted, empty, unicode) and strings (quotes, control characters) come back as they were."""
    assert tomllib.loads(dumps_toml(d)) == d


def _valid_pt() -> bytes:
    buf = io.BytesIO()
    g = torch.Generator().manual_seed(0)
    torch.save({"features.0.weight": torch.randn(3, 1, 5, 5, generator=g), "head.bias": torch.zeros(3)}, buf)
    return buf.getvalue()


def _valid_safetensors() -> bytes:
    w = np.arange(24, dtype="<f4").reshape(2, 1, 12)
    header = {"c.weight": {"dtype": "F32", "shape": [2, 1, 12], "data_offsets": [0, 96]}}
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + w.tobytes()


VALID = {"pt": _valid_pt(), "legacy.pt": bytes(corpus.torch_bytes({"c.weight": torch.ones(2, 1, 5)}, legacy=True))}
VALID["safetensors"] = _valid_safetensors()


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(VALID)))
    data = bytearray(VALID[kind])
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["truncate", "flip", "insert", "overwrite"]))
        at = draw(st.integers(0, len(data)))
        if how == "truncate":
            del data[at:]
        elif how == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[at : at + len(chunk)] = chunk
    return kind, bytes(data)


def read_as_inspect(tmp: Path, name: str, data: bytes) -> None:
    """What inspect does with a file: load it and find its conv layers. Either works or raises UserError."""
    path = tmp / name
    path.write_bytes(data)
    tracemalloc.start()
    try:
        history([path])
        event("read")
    except UserError as e:
        message = str(e)
        assert message and "\n" not in message, message
        event("refused")
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MB for a file of {len(data)} bytes"


@pytest.fixture(scope="module")
def rss_guard() -> Iterator[None]:
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    yield
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start) / 1024
    assert grown_mb < 1024, f"peak memory grew by {grown_mb:.0f} MB while reading small files"


@pytest.mark.slow
@settings(PROPERTY, max_examples=300)
@given(st.binary(max_size=2048), st.sampled_from(["x.pt", "x.safetensors", "x.pth"]))
def test_property_arbitrary_bytes(tmp_path: Path, rss_guard: None, data: bytes, name: str) -> None:
    read_as_inspect(tmp_path, name, data)


@pytest.mark.slow
@settings(PROPERTY, max_examples=400)
@given(mutated())
def test_property_mutated_checkpoints(tmp_path: Path, rss_guard: None, case: tuple[str, bytes]) -> None:
    kind, data = case
    read_as_inspect(tmp_path, f"m.{kind}", data)


def test_the_mutation_bases_are_valid(tmp_path: Path) -> None:
    for kind, data in VALID.items():
        (tmp_path / f"v.{kind}").write_bytes(data)
        shown, _ = history([tmp_path / f"v.{kind}"])[1:]
        assert shown and all(max(c.shape[2:]) <= MAX_TAPS for c in shown)
