"""Faults: `cnnkreport train` and `render` killed with SIGKILL at many moments, a full disk, an unwritable folder.
Nothing is lost: a killed run stays readable and `--resume` finishes it with exactly the kernels of an
uninterrupted run; a killed render leaves the previous site as it was."""

from __future__ import annotations

import errno
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cnnkreport import files, rundir
from cnnkreport.cli import app
from cnnkreport.rundir import Run
from cnnkreport.swap import recover
from cnnkreport.tomlio import dumps_toml, to_dict

from .conftest import tiny

pytestmark = pytest.mark.slow  # real processes trained, rendered and killed many times: over a minute

# Runs `cnnkreport train|render ...` (the real CLI) in this process after arranging its own SIGKILL:
#   step:N         when training reaches step N
#   write:NAME:N   in the middle of the N-th atomic write of a file whose name contains NAME: the temp file is
#                  written, the rename has not happened
#   swap           between the two renames of a site swap (the old site moved aside, the new one not yet in)
#   none           no kill
HARNESS = r"""
import os, signal, sys
mode, argv = sys.argv[1], sys.argv[2:]
def die():  # the whole process group: the command and any worker processes it started
    os.killpg(os.getpgid(0), signal.SIGKILL)
if mode.startswith("step:"):
    import cnnkreport.cli as cli
    at, make = int(mode.split(":")[1]), cli.step_callback
    def step_callback(progress, description):
        update = make(progress, description)
        def on_step(step, total):
            update(step, total)
            if step >= at:
                die()
        return on_step
    cli.step_callback = step_callback
elif mode.startswith("write:"):
    import cnnkreport.files as fl, cnnkreport.rundir as rd, cnnkreport.train as tr
    _, name, nth = mode.split(":")
    seen, real = [0], fl.atomic_write
    def atomic_write(path, write):
        if name in path.name:
            seen[0] += 1
            if seen[0] == int(nth):
                def half(fh):
                    write(fh)
                    fh.flush()
                    die()
                return real(path, half)
        return real(path, write)
    fl.atomic_write = rd.atomic_write = tr.atomic_write = atomic_write
elif mode == "swap":
    import cnnkreport.swap as sw
    sw._exchange = lambda a, b: False  # the two-rename path, as on systems without RENAME_EXCHANGE
    real = os.replace
    def replace(a, b):
        real(a, b)
        if ".old-" in str(b):
            die()
    sw.os.replace = replace
sys.argv = ["cnnkreport", *argv]
from cnnkreport.cli import main
main()
"""


def cnnk(
    mode: str, *args: str, timeout: float = 120, limit_bytes: int | None = None
) -> subprocess.CompletedProcess[str]:
    def limits() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-c", HARNESS, mode, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        preexec_fn=limits,
        start_new_session=True,  # its own process group, for die() and kill_group()
    )


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", HARNESS, "none", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # it had finished
        pass
    proc.wait()


def killed(p: subprocess.CompletedProcess[str]) -> bool:
    return p.returncode == -signal.SIGKILL


def snapshot_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_readable(run: Run) -> None:
    """Everything a reader touches loads: run.json, config, metrics, every snapshot chunk. Killed before it wrote
    run.json, a run holds at most its config and temp files, and `--resume` starts it afresh."""
    if not run.meta_path.exists():
        assert {p.name for p in run.path.iterdir() if not p.name.startswith(".")} <= {"config.toml", "snapshots"}
        return
    meta = run.read_meta()
    assert meta.status in ("running", "complete")
    run.read_metrics()
    steps = run.snapshot_steps()
    assert steps == sorted(set(steps))
    for layer in run.layers():
        if steps:
            s, w = run.read_kernels(layer.name)
            assert len(s) == len(w) == len(steps)
    leftovers = [p.name for p in run.path.rglob(".*.tmp")]
    for name in leftovers:  # a temp file from the killed write may stay; it is never read
        assert not name.endswith((".npz", ".csv", ".json", ".pt"))


def assert_same_run(a: Run, b: Run) -> None:
    assert a.snapshot_steps() == b.snapshot_steps()
    for layer in a.layers():
        sa, wa = a.read_kernels(layer.name)
        sb, wb = b.read_kernels(layer.name)
        np.testing.assert_array_equal(sa, sb)
        np.testing.assert_array_equal(wa, wb)
    fa = torch.load(a.weights_path, weights_only=True)
    fb = torch.load(b.weights_path, weights_only=True)
    assert fa.keys() == fb.keys() and all(torch.equal(fa[k], fb[k]) for k in fa)
    assert a.read_meta().test_accuracy == b.read_meta().test_accuracy
    assert [r["loss"] for r in a.read_metrics()] == [r["loss"] for r in b.read_metrics()]


@pytest.fixture(scope="module")
def fault_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 320 steps with 40 snapshots and the 10 checkpoints every run has: a few seconds."""
    cfg = tiny(epochs=4, snapshots=40, batch_size=8)
    path = tmp_path_factory.mktemp("faults") / "run.toml"
    path.write_text(dumps_toml(to_dict(cfg)))
    return path


@pytest.fixture(scope="module")
def uninterrupted(fault_config: Path) -> Run:
    path = fault_config.parent / "uninterrupted"
    p = cnnk("none", "train", "--config", str(fault_config), "--run", str(path))
    assert p.returncode == 0, p.stderr
    return Run(path)


def test_train_killed_at_many_moments_resumes_to_the_same_kernels(
    fault_config: Path, uninterrupted: Run, tmp_path: Path
) -> None:
    """Fourteen SIGKILLs across one run, each followed by `--resume`: at random steps in each stretch of the run,
    in the middle of writing a snapshot chunk, the resume state, the metrics, run.json and the final weights, and
    at a random moment of the start."""
    path = tmp_path / "run"
    total = uninterrupted.read_meta().steps
    rng = random.Random(7)

    def at(lo: float, hi: float) -> str:  # a random step in this stretch of the run
        return f"step:{rng.randrange(int(lo * total), int(hi * total))}"

    # In the order of the run: each kill comes after where the previous one resumes from (its last checkpoint).
    kills = [
        "time",  # at a random moment of the first second or two: while starting up, or making the folder
        "write:npz:1",  # the very first snapshot chunk (step 0)
        "write:resume:1",
        at(0.10, 0.20),
        "write:npz:2",
        "write:metrics:2",
        at(0.30, 0.40),
        "write:npz:1",
        at(0.45, 0.55),
        "write:resume:2",
        at(0.65, 0.72),
        at(0.75, 0.85),
        "write:weights:1",  # the final weights, after the last step
        "write:run.json:1",  # status "complete", the last write of all
    ]
    landed = 0
    for kill in kills:
        args = ["train", "--config", str(fault_config), "--run", str(path)] + (["--resume"] if path.exists() else [])
        if kill == "time":
            proc = start(*args)
            time.sleep(rng.uniform(0.3, 2.0))
            kill_group(proc)
        else:
            p = cnnk(kill, *args)
            assert killed(p) or p.returncode == 0, f"{kill}: {p.stderr}"
            landed += killed(p)
        if not path.exists():
            continue  # killed before it made the folder: the next attempt starts afresh
        assert_readable(Run(path))
        if Run(path).meta_path.exists() and Run(path).read_meta().status == "complete":
            break
    assert landed >= 12, f"only {landed} of the planned kills hit the run"
    p = cnnk("none", "train", "--config", str(fault_config), "--run", str(path), "--resume")
    assert p.returncode == 0, p.stderr
    assert not Run(path).resume_path.exists()
    assert_same_run(Run(path), uninterrupted)


def test_disk_full_while_training_is_one_line_and_resumes(
    fault_config: Path, uninterrupted: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run"
    real, count = files.atomic_write, [0]

    def full(target: Path, write):  # type: ignore[no-untyped-def]
        count[0] += 1
        if count[0] == 8:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        return real(target, write)

    monkeypatch.setattr(files, "atomic_write", full)
    monkeypatch.setattr(rundir, "atomic_write", full)
    monkeypatch.setattr("cnnkreport.train.atomic_write", full)
    result = CliRunner().invoke(app, ["train", "--config", str(fault_config), "--run", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error")]
    assert lines == [lines[0]] and "No space left on device" in lines[0] and "free some space" in lines[0]
    assert "Traceback" not in result.output
    monkeypatch.undo()
    assert_readable(Run(path))
    p = cnnk("none", "train", "--config", str(fault_config), "--run", str(path), "--resume")
    assert p.returncode == 0, p.stderr
    assert_same_run(Run(path), uninterrupted)


@pytest.fixture(scope="module")
def old_site(uninterrupted: Run) -> Path:
    out = uninterrupted.path.parent / "site"
    p = cnnk("none", "render", str(uninterrupted.path), "--out", str(out))
    assert p.returncode == 0, p.stderr
    return out


@pytest.mark.parametrize("kill", ["write:layer.json:1", "write:index.html:2", "write:summary.json:1", "swap"])
def test_render_killed_midway_leaves_the_previous_site(
    kill: str, old_site: Path, uninterrupted: Run, tmp_path: Path
) -> None:
    before = snapshot_bytes(old_site)
    p = cnnk(kill, "render", str(uninterrupted.path), "--out", str(old_site))
    assert killed(p), p.stderr
    if kill == "swap":  # killed between the renames: the old site waits aside, whole, for the next command
        assert not old_site.exists()
        assert [q.name for q in old_site.parent.glob(".site.old-*/site")] == ["site"]
    recover(old_site)  # the first thing the next build, render or inspect does: it also clears what the kill left
    assert snapshot_bytes(old_site) == before
    assert [q.name for q in old_site.parent.iterdir() if q.name.startswith(".site.")] == []


def test_render_at_random_moments_never_breaks_the_site(old_site: Path, uninterrupted: Run) -> None:
    before = snapshot_bytes(old_site)
    rng = random.Random(11)
    for _ in range(3):
        proc = start("render", str(uninterrupted.path), "--out", str(old_site))
        time.sleep(rng.uniform(1.0, 3.0))
        kill_group(proc)
        assert snapshot_bytes(old_site) == before  # the same site, whether or not this render got to its swap


def test_file_too_large_for_the_file_system_is_one_line(old_site: Path, uninterrupted: Run) -> None:
    """A real refusal by the operating system (a file size limit: EFBIG), in a real process."""
    before = snapshot_bytes(old_site)
    p = cnnk("none", "render", str(uninterrupted.path), "--out", str(old_site), limit_bytes=4096)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("error: cannot write the site: File too large")
    assert snapshot_bytes(old_site) == before
    assert not [q for q in old_site.parent.iterdir() if q.name.startswith(".site.tmp")]


def test_unwritable_output_is_one_line(uninterrupted: Run, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for out in (blocker, blocker / "site"):
        result = CliRunner().invoke(app, ["render", str(uninterrupted.path), "--out", str(out)])
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
        assert result.output.startswith("error:")
    if os.geteuid() != 0:  # root writes anywhere: a read-only folder stops only other users
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        result = CliRunner().invoke(app, ["render", str(uninterrupted.path), "--out", str(ro / "site")])
        assert result.exit_code == 2 and "permission" in result.output.lower(), result.output
    assert blocker.read_text() == "x"


def test_the_next_command_puts_back_a_site_left_aside(old_site: Path, tmp_path: Path) -> None:
    """A render killed between its two renames left the old site in `.site.old-*/site`: the next render puts it
    back first, so even a render that then fails leaves the old site in place."""
    site = tmp_path / "site"
    aside = tmp_path / ".site.old-abc123" / "site"
    aside.parent.mkdir()
    import shutil

    shutil.copytree(old_site, aside)
    before = snapshot_bytes(aside)
    result = CliRunner().invoke(app, ["render", str(tmp_path / "no-such-run"), "--out", str(site)])
    assert result.exit_code == 2, result.output
    assert snapshot_bytes(site) == before and not aside.parent.exists()


def test_resume_of_a_run_killed_before_it_recorded_anything(fault_config: Path, tmp_path: Path) -> None:
    """Killed between making its folder and writing run.json: `--resume` starts it; a folder holding anything
    else is refused, and left alone."""
    from cnnkreport.config import load_run_config, preset
    from cnnkreport.errors import UserError
    from cnnkreport.train import train

    cfg = load_run_config(fault_config, preset("pulses-2d"))
    started = tmp_path / "started"
    (started / "snapshots").mkdir(parents=True)
    (started / "config.toml").write_text(fault_config.read_text())
    (started / ".metrics.csv.abc.tmp").write_text("half")
    result = train(cfg, started, resume=True)
    assert result.steps > 0 and Run(started).read_meta().status == "complete"
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="nothing to resume"):
        train(cfg, other, resume=True)
    assert (other / "notes.txt").read_text() == "mine"
