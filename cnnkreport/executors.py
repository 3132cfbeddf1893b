"""Where training runs go: the local process pool, a running Dask cluster, or a Slurm queue (through submitit).

Every engine runs the same jobs: a plain top-level function of this package with plain arguments (a run config
and the absolute path of its run folder on the file system the cluster shares), which writes that folder itself,
atomically, file by file. Nothing comes back but whether it worked, so the engines differ only in how a job gets
to a worker and how its progress gets back:

- local: workers.run_all, the process pool `sweep` and `build` always used;
- dask: `distributed.Client` on the scheduler you give, one `submit(..., pure=False)` per job; each job reports
  its steps through the worker's event log (`log_event`), which the client follows (`subscribe_topic`). A worker
  that dies takes its job with it and the scheduler runs it again on another worker;
- slurm: submitit's AutoExecutor, one job array, its job folder under the runs folder; each job writes its step
  count to a small file there, which the client reads.

We never schedule anything ourselves: the engines do, with their own retries and queues.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UserError
from .workers import PROGRESS_EVERY, Job, one_thread, run_all, throttled

KINDS = ("local", "dask", "slurm")
CLUSTERS = ("", "slurm", "local", "debug")  # submitit's: "" finds Slurm; "local" runs the jobs as local processes
CONNECT_TIMEOUT = 5.0  # seconds to reach a Dask scheduler before giving up (the answer comes within 15 s)
_ONE_AT_A_TIME = threading.Lock()  # torch's random generator is per process: threads of a worker must take turns
PIP = {"dask": 'pip install "cnnkreport[dask]"', "slurm": 'pip install "cnnkreport[slurm]"'}


@dataclass(frozen=True)
class ExecutorConfig:
    """The `[executor]` table of a sweep or build file; --executor, --scheduler and --scheduler-file win over it."""

    kind: str = "local"
    scheduler: str = ""  # dask: tcp://host:8786 ("" reads DASK_SCHEDULER_ADDRESS)
    scheduler_file: str = ""  # dask: the file `dask scheduler --scheduler-file F` writes
    partition: str = ""  # slurm: the partition ("" the cluster's default)
    account: str = ""  # slurm: the account to charge ("" your default)
    time_min: int = 60  # slurm: time limit of one run, minutes
    cpus: int = 1  # slurm: CPUs per run
    gpus: int = 0  # slurm: GPUs per run
    mem_gb: int = 4  # slurm: memory per run, GB
    parallel: int = 0  # slurm: runs at once at most (0: as many as the queue allows)
    cluster: str = ""  # slurm: "" for Slurm; "local" runs the same jobs as local processes, to try a file first

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UserError(f"executor must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.cluster not in CLUSTERS:
            raise UserError(f"executor.cluster must be one of {', '.join(map(repr, CLUSTERS))}, got {self.cluster!r}")
        for key, lo, hi in (("time_min", 1, 60 * 24 * 30), ("cpus", 1, 1024), ("gpus", 0, 64), ("mem_gb", 1, 8192)):
            value = getattr(self, key)
            if not lo <= value <= hi:
                raise UserError(f"executor.{key} must be between {lo} and {hi}, got {value}")
        if not 0 <= self.parallel <= 100_000:
            raise UserError(f"executor.parallel must be between 0 and 100000, got {self.parallel}")
        if self.scheduler and self.scheduler_file:
            raise UserError("give the Dask scheduler's address or its scheduler file, not both")


@dataclass(frozen=True)
class Failed:
    """A job that raised: its error in one line."""

    error: str


class Events:
    """What the client hears of the jobs: override any of these (they are called in the calling thread)."""

    def started(self, k: int) -> None: ...

    def step(self, k: int, step: int, total: int) -> None: ...

    def finished(self, k: int, failure: Failed | None) -> None: ...


def _last_line(e: BaseException) -> str:
    """The last line of an error's message that says something ("" if none does)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def one_line(e: BaseException) -> str:
    """An error as one line: its type (unless a UserError, which is written for people) and the last line of its
    message that says something."""
    text = _last_line(e)
    return text if isinstance(e, UserError) and text else f"{type(e).__name__}: {text}" if text else type(e).__name__


class _Tracker:
    """What an engine owes the client, kept once for all engines: each job's result (or Failed), its `started`
    event once (a job run again after its worker died keeps its bar), its steps, and its `finished` event."""

    def __init__(self, events: Events, count: int) -> None:
        self.events, self.started = events, set[int]()
        self.results: list[Any] = [None] * count

    def heard(self, k: int, step: int, total: int) -> None:
        """Job k is running, at `step` of `total` (total 0: it has only begun)."""
        if k not in self.started:
            self.started.add(k)
            self.events.started(k)
        if total:
            self.events.step(k, step, total)

    def ended(self, k: int, result: Callable[[], Any]) -> None:
        """Job k is over: `result()` gives what it returned, or raises its error."""
        try:
            self.results[k] = result()
            self.events.finished(k, None)
        except Exception as e:  # the job's own error, or the engine's (a KilledWorker, say)
            self.results[k] = Failed(one_line(e))
            self.events.finished(k, self.results[k])


def check(executor: ExecutorConfig) -> None:
    """Fail now, with one line, if the chosen engine cannot be used from here: its extra is missing, Dask has no
    scheduler named, or Slurm is not on this machine. (Whether the scheduler answers is known on connecting.)"""
    if executor.kind == "dask":
        _import("dask")
        scheduler_address(executor)
    elif executor.kind == "slurm":
        _import("slurm")
        if not executor.cluster and shutil.which("srun") is None:
            raise UserError(
                "--executor slurm: no Slurm here (srun is not on PATH); run it on the cluster's login node, or set "
                'cluster = "local" in the [executor] table to try the same jobs on this machine'
            )


def run_jobs(
    jobs: Sequence[Job], executor: ExecutorConfig, workers: int, events: Events, job_folder: Path
) -> list[Any]:
    """Run every job on the chosen engine; returns each job's result, or a Failed, in job order. Every job runs
    to its end even when others fail. `workers` is the local pool's size; `job_folder` is where submitit keeps
    its files (under the runs folder, which the cluster shares)."""
    if executor.kind == "dask":
        return _run_dask(jobs, executor, events)
    if executor.kind == "slurm":
        return _run_slurm(jobs, executor, events, job_folder)
    return _run_local(jobs, workers, events)


def _run_local(jobs: Sequence[Job], workers: int, events: Events) -> list[Any]:
    track = _Tracker(events, len(jobs))

    def stepper(k: int) -> Callable[[int, int], None]:
        return lambda step, total: track.heard(k, step, total)

    def done(k: int, error: BaseException | None) -> None:
        track.ended(k, lambda: _raise(error))

    results = run_all(jobs, workers, [stepper(k) for k in range(len(jobs))], keep_going=True, on_end=done)
    return [track.results[k] if isinstance(r, BaseException) else r for k, r in enumerate(results)]


def _raise(error: BaseException | None) -> None:
    """What run_all said of a job as it ended, as track.ended hears it: its error raised, or nothing."""
    if error is not None:
        raise error


# Dask ------------------------------------------------------------------------------------------------------------


def _import(kind: str) -> Any:
    try:
        if kind == "dask":
            import distributed

            return distributed
        import submitit

        return submitit
    except ImportError:
        raise UserError(f"--executor {kind} needs the {kind} extra: {PIP[kind]}") from None


def scheduler_address(executor: ExecutorConfig) -> dict[str, str]:
    """Client(...)'s keyword for the scheduler: its address, its scheduler file, or DASK_SCHEDULER_ADDRESS."""
    if executor.scheduler_file:
        if not Path(executor.scheduler_file).is_file():
            raise UserError(f"Dask scheduler file {executor.scheduler_file} does not exist")
        return {"scheduler_file": executor.scheduler_file}
    address = executor.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS", "")
    if not address:
        raise UserError(
            "--executor dask needs the scheduler: --scheduler tcp://HOST:8786, --scheduler-file F, "
            "or DASK_SCHEDULER_ADDRESS"
        )
    return {"address": address}


def connect(executor: ExecutorConfig) -> Any:
    """A Client of the running scheduler, or one line (exit 2) within CONNECT_TIMEOUT seconds."""
    distributed = _import("dask")
    where = scheduler_address(executor)
    try:
        return distributed.Client(**where, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        named = where.get("address") or f"the one in {where.get('scheduler_file')}"
        raise UserError(f"cannot reach the Dask scheduler {named}: {_last_line(e) or type(e).__name__}") from None


def dask_task(fn: Callable[..., Any], args: tuple[Any, ...], topic: str, k: int) -> Any:
    """One job on a Dask worker: on one torch thread, its steps sent to the client through the worker's events."""
    from distributed import get_worker

    worker = get_worker()

    def send(step: int, total: int) -> None:
        worker.log_event(topic, {"job": k, "step": step, "total": total})

    with _ONE_AT_A_TIME:  # a worker started with --nthreads above 1 still gives each run the process to itself
        send(0, 0)
        return one_thread(fn, args, throttled(send))


def _run_dask(jobs: Sequence[Job], executor: ExecutorConfig, events: Events) -> list[Any]:
    client = connect(executor)
    heard: queue.SimpleQueue[dict[str, int]] = queue.SimpleQueue()
    topic = f"cnnkreport-{os.getpid()}-{time.time_ns()}"
    track = _Tracker(events, len(jobs))

    def drain() -> None:
        while True:
            try:
                message = heard.get_nowait()
            except queue.Empty:
                return
            track.heard(int(message["job"]), int(message["step"]), int(message["total"]))

    try:
        client.subscribe_topic(topic, lambda event: heard.put(event[1]))
        futures = [client.submit(dask_task, fn, args, topic, k, pure=False) for k, (fn, args) in enumerate(jobs)]
        pending = dict(enumerate(futures))
        while pending:
            time.sleep(PROGRESS_EVERY)
            drain()
            for k, future in list(pending.items()):
                if future.done():
                    del pending[k]
                    drain()
                    track.ended(k, future.result)
    finally:
        client.close()
    return track.results


# Slurm (submitit) ------------------------------------------------------------------------------------------------


def slurm_executor(executor: ExecutorConfig, folder: Path) -> Any:
    """submitit's AutoExecutor with the `[executor]` table's resources; its files go to `folder`."""
    check(executor)
    ex = _import("slurm").AutoExecutor(folder=folder, cluster=executor.cluster or None)
    slurm: dict[str, Any] = {}
    if executor.partition:
        slurm["slurm_partition"] = executor.partition
    if executor.account:
        slurm["slurm_account"] = executor.account
    if executor.parallel:
        slurm["slurm_array_parallelism"] = executor.parallel
    ex.update_parameters(
        name="cnnkreport",
        timeout_min=executor.time_min,
        cpus_per_task=executor.cpus,
        gpus_per_node=executor.gpus,
        mem_gb=executor.mem_gb,
        **slurm,
    )
    return ex


def slurm_task(fn: Callable[..., Any], args: tuple[Any, ...], progress: str) -> Any:
    """One job in a Slurm allocation: on one torch thread (as in the pool: the same numbers), its step count
    written to the file `progress` now and then for the client to read."""
    target = Path(progress)

    def send(step: int, total: int) -> None:
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(f"{step} {total}\n")
        os.replace(tmp, target)  # the client never reads half a line

    return one_thread(fn, args, throttled(send, every=1.0))


def _run_slurm(jobs: Sequence[Job], executor: ExecutorConfig, events: Events, folder: Path) -> list[Any]:
    ex = slurm_executor(executor, folder)
    steps = folder / "progress"
    steps.mkdir(parents=True, exist_ok=True)
    for old in steps.iterdir():
        old.unlink()
    with ex.batch():  # one job array
        handles = [ex.submit(slurm_task, fn, args, str(steps / f"{k}.txt")) for k, (fn, args) in enumerate(jobs)]
    track = _Tracker(events, len(jobs))
    pending = dict(enumerate(handles))
    try:
        while pending:
            time.sleep(1.0)
            for k, job in list(pending.items()):
                if seen := _read_steps(steps / f"{k}.txt"):
                    track.heard(k, *seen)
                if job.done():
                    del pending[k]
                    track.ended(k, job.result)
    except BaseException:  # Ctrl-C: take back what is still queued or running, so that a rerun is the only writer
        for job in pending.values():
            job.cancel(check=False)
        raise
    return track.results


def _read_steps(path: Path) -> tuple[int, int] | None:
    try:
        step, total = path.read_text().split()
        return int(step), int(total)
    except (OSError, ValueError):
        return None
