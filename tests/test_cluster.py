"""Sweeps and builds on the real engines: a Dask scheduler and two workers started here on 127.0.0.1 (and stopped,
within bounded time), submitit's local executor for the Slurm path, and a stand-in `sbatch` that shows what would
be submitted to a real Slurm queue (which cannot run here)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnkreport.cli import app
from cnnkreport.errors import JobsFailed
from cnnkreport.executors import Events, ExecutorConfig, Failed, slurm_executor
from cnnkreport.rundir import Run
from cnnkreport.sweep import expand, load_sweep, run_sweep

DASK = Path(sys.executable).parent / "dask"
START_TIMEOUT = 60  # seconds for the scheduler and workers to come up

TINY = """name = "tiny"
preset = "pulses-1d"
seeds = [0, 1]
[grid]
"train.loss" = ["cross_entropy", "mse"]
"""

# Two points of about ten seconds each: long enough to kill a worker in the middle of one.
LONGER = """name = "longer"
preset = "pulses-1d"
seeds = [0, 1]
[grid]
"data.n_train" = [2400]
"train.epochs" = [6]
"""


@dataclass
class Cluster:
    scheduler_file: Path
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        """Workers are killed (they hold nothing worth a clean close), the scheduler is asked to stop."""
        for p in self.workers:
            p.kill()
        self.scheduler.send_signal(signal.SIGTERM)
        for p in [*self.workers, self.scheduler]:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


def start_cluster(folder: Path, workers: int = 2) -> Cluster:
    """`dask scheduler` on a free port of 127.0.0.1 and `workers` single-threaded `dask worker`s without a nanny (so
    that killing one kills it, with no restart)."""
    import distributed

    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    scheduler = subprocess.Popen(
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
        + ["--scheduler-file", str(scheduler_file)],
        env=env,
        **quiet,  # type: ignore[arg-type]
    )
    cluster = Cluster(scheduler_file, scheduler)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not scheduler_file.is_file():
            assert time.monotonic() < deadline and scheduler.poll() is None, "the Dask scheduler did not start"
            time.sleep(0.2)
        for _ in range(workers):
            cluster.workers.append(
                subprocess.Popen(
                    [str(DASK), "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1", "--no-nanny"]
                    + ["--no-dashboard", "--host", "127.0.0.1", "--death-timeout", "60"],
                    env=env,
                    **quiet,  # type: ignore[arg-type]
                )
            )
        with distributed.Client(scheduler_file=str(scheduler_file), timeout=START_TIMEOUT) as client:
            client.wait_for_workers(workers, timeout=START_TIMEOUT)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = start_cluster(tmp_path_factory.mktemp("dask"))
    yield c
    c.stop()


class Recorder(Events):
    """Every event, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int, object]] = []

    def started(self, k: int) -> None:
        self.log.append(("started", k, None))

    def step(self, k: int, step: int, total: int) -> None:
        self.log.append(("step", k, (step, total)))

    def finished(self, k: int, failure: Failed | None) -> None:
        self.log.append(("finished", k, failure))


def sweep_args(config: Path, runs: Path, out: Path, *extra: str) -> list[str]:
    return ["sweep", "--config", str(config), "--runs", str(runs), "--out", str(out), *extra]


def same_runs(a: Path, b: Path) -> None:
    """Two sweeps' runs hold the same numbers, bit for bit: final weights, every snapshot, every metric."""
    names = sorted(p.name for p in a.iterdir() if not p.name.startswith("."))
    assert names == sorted(p.name for p in b.iterdir() if not p.name.startswith("."))
    for name in names:
        assert (a / name / "weights.pt").read_bytes() == (b / name / "weights.pt").read_bytes(), name
        assert (a / name / "metrics.csv").read_text() == (b / name / "metrics.csv").read_text(), name
        run_a, run_b = Run(a / name), Run(b / name)
        assert run_a.snapshot_steps() == run_b.snapshot_steps()
        for layer in run_a.layers():
            steps_a, kernels_a = run_a.read_kernels(layer.name)
            steps_b, kernels_b = run_b.read_kernels(layer.name)
            assert (steps_a == steps_b).all() and (kernels_a == kernels_b).all(), (name, layer.name)


@pytest.fixture(scope="module")
def local_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny sweep on the local pool of two processes: the reference every engine must equal."""
    folder = tmp_path_factory.mktemp("local")
    (folder / "s.toml").write_text(TINY)
    result = CliRunner().invoke(
        app, sweep_args(folder / "s.toml", folder / "runs", folder / "cmp", "--quick", "--workers", "2")
    )
    assert result.exit_code == 0, result.output
    return folder / "runs" / "tiny"


@pytest.mark.slow
def test_a_sweep_on_dask_equals_the_local_pool(cluster: Cluster, local_tiny: Path, tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(TINY)
    runner = CliRunner()
    args = ["--quick", "--executor", "dask", "--scheduler-file", str(cluster.scheduler_file)]
    result = runner.invoke(app, sweep_args(tmp_path / "s.toml", tmp_path / "runs", tmp_path / "cmp", *args))
    assert result.exit_code == 0, result.output
    assert "4 done" in result.output and "comparison written" in result.output
    same_runs(tmp_path / "runs" / "tiny", local_tiny)
    weights = tmp_path / "runs" / "tiny" / "loss-mse_seed-1" / "weights.pt"
    before = weights.stat().st_mtime_ns
    address = json.loads(cluster.scheduler_file.read_text())["address"]  # the address, as --scheduler takes it
    args = ["--quick", "--executor", "dask", "--scheduler", address]
    again = runner.invoke(app, sweep_args(tmp_path / "s.toml", tmp_path / "runs", tmp_path / "cmp", *args))
    assert again.exit_code == 0, again.output
    assert weights.stat().st_mtime_ns == before  # finished points are skipped


@pytest.mark.slow
def test_dask_workers_report_each_points_steps(cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(TINY)
    cfg = load_sweep(tmp_path / "s.toml", None)
    points = expand(cfg, quick_runs=True)[:2]
    heard = Recorder()
    engine = ExecutorConfig(kind="dask", scheduler_file=str(cluster.scheduler_file))
    run_sweep(points, tmp_path / "runs", 1, heard, engine)
    for k in range(2):
        mine = [(kind, detail) for kind, j, detail in heard.log if j == k]
        assert mine[0] == ("started", None) and mine[-1] == ("finished", None)
        steps = [detail for kind, detail in mine if kind == "step"]
        assert steps and steps[-1][0] == steps[-1][1] > 0  # worker-side updates, up to the last step


@pytest.mark.slow
def test_a_failed_point_is_named_the_others_finish_and_a_rerun_retries_it(cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(TINY)
    runs = tmp_path / "runs" / "tiny"
    broken = runs / "loss-mse_seed-0"
    broken.mkdir(parents=True)
    (broken / "notes.txt").write_text("not a run")  # a folder train() will not resume into: the point fails
    runner = CliRunner()
    args = ["--quick", "--executor", "dask", "--scheduler-file", str(cluster.scheduler_file)]
    result = runner.invoke(app, sweep_args(tmp_path / "s.toml", tmp_path / "runs", tmp_path / "cmp", *args))
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "loss-mse_seed-0 failed" in errors[0] and "nothing to resume" in errors[0]
    assert "1 of 4 runs failed" in result.output and "Traceback" not in result.output
    done = [p for p in runs.iterdir() if p.name != broken.name and not p.name.startswith(".")]
    assert len(done) == 3 and all(Run(p).read_meta().status == "complete" for p in done)
    assert not (tmp_path / "cmp").exists()  # no comparison page from a sweep with holes
    stamps = {p.name: (p / "weights.pt").stat().st_mtime_ns for p in done}
    (broken / "notes.txt").unlink()
    again = runner.invoke(app, sweep_args(tmp_path / "s.toml", tmp_path / "runs", tmp_path / "cmp", *args))
    assert again.exit_code == 0, again.output
    assert Run(broken).read_meta().status == "complete"
    assert {p.name: (p / "weights.pt").stat().st_mtime_ns for p in done} == stamps  # only the failed one ran


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(TINY)
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "cnnkreport"]
        + sweep_args(tmp_path / "s.toml", tmp_path / "runs", tmp_path / "cmp", "--quick")
        + ["--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - t0
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip().splitlines()[-1]]
    assert f"cannot reach the Dask scheduler tcp://127.0.0.1:{port}" in result.stderr
    assert elapsed < 15
    assert not (tmp_path / "runs" / "tiny").exists() or not any((tmp_path / "runs" / "tiny").iterdir())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--executor", "dask"], "--executor dask needs the scheduler"),
        (["--executor", "dask", "--scheduler-file", "nowhere.json"], "scheduler file nowhere.json does not exist"),
        (["--executor", "slurm"], "no Slurm here (srun is not on PATH)"),
        (["--executor", "ray"], "executor must be one of local, dask, slurm"),
    ],
)
def test_an_engine_that_cannot_be_used_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str], message: str
) -> None:
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no srun
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(TINY)
    result = CliRunner().invoke(app, sweep_args(tmp_path / "s.toml", tmp_path / "runs", tmp_path / "cmp", *extra))
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.output.count("\n") == 1 and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("kind", "pip"), [("dask", "cnnkreport[dask]"), ("slurm", "cnnkreport[slurm]")])
def test_a_missing_extra_names_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, pip: str
) -> None:
    monkeypatch.setitem(sys.modules, "distributed" if kind == "dask" else "submitit", None)  # import fails
    (tmp_path / "s.toml").write_text(TINY)
    result = CliRunner().invoke(
        app, sweep_args(tmp_path / "s.toml", tmp_path / "runs", tmp_path / "cmp", "--executor", kind)
    )
    assert result.exit_code == 2 and f'pip install "{pip}"' in result.output, result.output


def test_the_executor_table_is_checked(tmp_path: Path) -> None:
    for table, message in [
        ('[executor]\nkind = "k8s"\n', "executor must be one of"),
        ("[executor]\nqueue = 3\n", "unknown config key executor.'queue'"),
        ("[executor]\ncpus = 0\n", "executor.cpus must be between 1"),
        ('[executor]\nscheduler = "tcp://a:1"\nscheduler_file = "f"\n', "not both"),
    ]:
        (tmp_path / "s.toml").write_text(TINY + table)
        result = CliRunner().invoke(app, sweep_args(tmp_path / "s.toml", tmp_path / "runs", tmp_path / "cmp"))
        assert result.exit_code == 2 and message in result.output, (table, result.output)


@pytest.mark.slow
def test_slurm_through_submitits_local_executor_equals_the_local_pool(local_tiny: Path, tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(TINY + '[executor]\nkind = "slurm"\ncluster = "local"\ntime_min = 10\n')
    result = CliRunner().invoke(app, sweep_args(tmp_path / "s.toml", tmp_path / "runs", tmp_path / "cmp", "--quick"))
    assert result.exit_code == 0, result.output
    same_runs(tmp_path / "runs" / "tiny", local_tiny)
    jobs = tmp_path / "runs" / "tiny" / ".submitit"  # submitit's job folder lives under the runs folder
    assert list(jobs.glob("*_submitted.pkl")) or list(jobs.glob("*/*_submitted.pkl")) or list(jobs.glob("*.out"))


def test_what_would_be_submitted_to_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Slurm queue itself cannot run here: a stand-in sbatch keeps the script it is given, which carries the
    [executor] table's resources, as one job array over the points."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    kept = tmp_path / "submitted.sh"
    (bin_ / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {kept}\necho "Submitted batch job 4242"\n')
    (bin_ / "srun").write_text("#!/bin/sh\nexit 1\n")  # what submitit looks for to know it is on Slurm
    for tool in ("sbatch", "srun"):
        (bin_ / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_}:{os.environ['PATH']}")
    engine = ExecutorConfig(
        kind="slurm", cluster="slurm", partition="gpu", account="lab", time_min=90, cpus=4, gpus=1, mem_gb=16
    )
    ex = slurm_executor(engine, tmp_path / "runs" / ".submitit")
    from cnnkreport.executors import slurm_task
    from cnnkreport.sweep import train_point

    with ex.batch():
        jobs = [ex.submit(slurm_task, train_point, ({}, str(tmp_path / f"p{k}")), "") for k in range(3)]
    script = kept.read_text()
    for line in [
        "#SBATCH --partition=gpu",
        "#SBATCH --account=lab",
        "#SBATCH --time=90",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --mem=16GB",
        "#SBATCH --array=0-2",
    ]:
        assert line in script, script
    assert [j.job_id for j in jobs] == ["4242_0", "4242_1", "4242_2"]
    assert str(tmp_path / "runs" / ".submitit") in script


@pytest.mark.slow
def test_a_killed_worker_reruns_its_point_elsewhere(tmp_path: Path) -> None:
    """Kill one of two workers in the middle of its point: the scheduler runs the point again on the other worker,
    which resumes the run folder, and the sweep ends with the numbers of an uninterrupted local sweep."""
    (tmp_path / "s.toml").write_text(LONGER)
    reference = CliRunner().invoke(
        app, sweep_args(tmp_path / "s.toml", tmp_path / "local", tmp_path / "cmp-local", "--workers", "2")
    )
    assert reference.exit_code == 0, reference.output
    folders = [p.folder for p in expand(load_sweep(tmp_path / "s.toml", None))]
    runs = tmp_path / "runs" / "longer"
    cluster = start_cluster(tmp_path / "dask")
    proc: subprocess.Popen[str] | None = None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cnnkreport"]
            + sweep_args(tmp_path / "s.toml", tmp_path / "runs", tmp_path / "cmp")
            + ["--executor", "dask", "--scheduler-file", str(cluster.scheduler_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not all(len(list((runs / f / "snapshots").glob("*.npz"))) >= 3 for f in folders):
            assert time.monotonic() < deadline and proc.poll() is None, "the points did not start"
            time.sleep(0.1)
        running = [f for f in folders if Run(runs / f).read_meta().status == "running"]
        cluster.workers[0].kill()  # SIGKILL, in the middle of its point
        output, _ = proc.communicate(timeout=180)
        assert running, "both points had finished before the kill"
        assert proc.returncode == 0, output
        same_runs(runs, tmp_path / "local" / "longer")
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        cluster.stop()


def test_jobs_failed_counts() -> None:
    e = JobsFailed([("a", "boom")], 3)
    assert str(e) == "1 of 3 runs failed" and e.failed == [("a", "boom")]


@pytest.mark.slow
def test_build_sends_its_runs_to_the_engine(cluster: Cluster, tmp_path: Path) -> None:
    """`build --executor dask`: the preset's run and the recipe check's runs (two seeds and the ablation) train on
    the workers; the site is rendered here as always."""
    (tmp_path / "b.toml").write_text('presets = ["pulses-1d"]\nseeds = 2\n[executor]\nkind = "dask"\n')
    args = ["build", "--config", str(tmp_path / "b.toml"), "--quick", "--out", str(tmp_path / "site")]
    args += ["--runs", str(tmp_path / "runs"), "--scheduler-file", str(cluster.scheduler_file)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    checks = sorted(p.name for p in (tmp_path / "runs" / "checks").iterdir())
    assert len(checks) == 2  # the second seed and the ablation
    for run in [tmp_path / "runs" / "pulses-1d", *(tmp_path / "runs" / "checks").iterdir()]:
        assert Run(run).read_meta().status == "complete" and Run(run).read_meta().made_by == "build"
    assert (tmp_path / "site" / "recipe.html").is_file()
