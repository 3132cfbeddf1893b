"""Several training runs at once, in worker processes, with each run's progress sent back to the parent.

Every run trains on one torch thread, in the workers and in the parent alike: the small networks here train about
as fast on one thread as on two, the runs share the cores instead, and the result does not depend on how many
cores the machine has or how many runs went at once.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import queue
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

OnStep = Callable[[int, int], None]
Job = tuple[Callable[..., Any], tuple[Any, ...]]  # fn(*args, on_step=...) at module level, so a worker can import it
PROGRESS_EVERY = 0.2  # seconds between progress messages from one run

_progress: Any = None  # the queue to the parent, in a worker
PRELOAD = ("torch._dynamo",)  # imported once by the server the workers fork from, beside the jobs' own modules:
# the optimisers' constructors import it (about 1.4 s), and it imports torch


def _init(progress: Any) -> None:
    global _progress
    _progress = progress


def one_thread(fn: Callable[..., Any], args: tuple[Any, ...], on_step: OnStep | None) -> Any:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(*args, on_step=on_step)
    finally:
        torch.set_num_threads(threads)


def throttled(send: OnStep, every: float = PROGRESS_EVERY) -> OnStep:
    """An on_step that passes a step on to `send` at most once every `every` seconds, and always the last one: for
    progress that crosses a process or a network."""
    last = [0.0]

    def on_step(step: int, total: int) -> None:
        now = time.monotonic()
        if step == total or now - last[0] >= every:
            last[0] = now
            send(step, total)

    return on_step


def _in_worker(k: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return one_thread(fn, args, throttled(lambda step, total: _progress.put((k, step, total))))


def start(modules: Sequence[str]) -> None:
    """Start the server that worker processes fork from, now: it imports `modules` (and PRELOAD) in the background
    while this process goes on, once for every worker (a spawned worker would import torch again, seconds each)."""
    if _context(modules).get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()


def _context(modules: Sequence[str]) -> Any:
    """On Linux, forked from a server that imported `modules` but never ran torch (torch's thread pool does not
    survive a fork); elsewhere fresh interpreters (macOS's system libraries do not all survive a fork either). The
    server is started once per process: a later call's modules are imported by each worker as it needs them."""
    if not sys.platform.startswith("linux") or "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*modules, *PRELOAD])
    return context


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def run_all(
    jobs: Sequence[Job],
    workers: int,
    on_step: Sequence[OnStep | None] | None = None,
    keep_going: bool = False,
    on_end: Callable[[int, BaseException | None], None] | None = None,
) -> list[Any]:
    """Run every job, `workers` at a time; `on_step[k]` gets job k's progress and `on_end(k, error)` is called as
    it ends (error None if it worked), both in this process. Returns the results in job order. The first job to
    fail raises its error here, or with `keep_going` every job runs and a failed one's result is its exception."""
    steps = list(on_step) if on_step is not None else [None] * len(jobs)
    results: list[Any] = [None] * len(jobs)
    workers = max(1, min(workers, len(jobs)))

    def end(k: int, result: Callable[[], Any]) -> None:
        try:
            results[k] = result()
        except Exception as e:
            if not keep_going:
                raise
            results[k] = e
        if on_end:
            on_end(k, results[k] if isinstance(results[k], BaseException) else None)

    if workers == 1:
        for k, (fn, args) in enumerate(jobs):
            end(k, lambda fn=fn, args=args, k=k: one_thread(fn, args, steps[k]))  # type: ignore[misc]
        return results
    context = _context(sorted({fn.__module__ for fn, _ in jobs} - {"__main__"}))
    progress = context.Queue()

    def drain() -> None:
        while True:
            try:
                k, step, total = progress.get_nowait()
            except queue.Empty:
                return
            callback = steps[k]
            if callback is not None:
                callback(step, total)

    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init, initargs=(progress,)) as pool:
        futures = {pool.submit(_in_worker, k, fn, args): k for k, (fn, args) in enumerate(jobs)}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=PROGRESS_EVERY, return_when=FIRST_COMPLETED)
                drain()
                for future in done:
                    end(futures[future], future.result)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    drain()
    return results
