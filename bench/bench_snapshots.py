"""Training overhead of kernel snapshots: the same training loop with and without recording.

For each preset, `cnnkreport.train.train` runs into a fresh temporary folder as it is (kernel snapshots, buffered and
written in chunks at about ten checkpoints per run, each with metrics.csv and resume.pt, and the final
run.json/weights.pt) and with its recording functions replaced by ones that do nothing (the identical loop, nothing
taken or written).

Two figures, because run-to-run noise on a small shared machine (seen: 2.8 s to 4.9 s for the same run) is larger
than the effect being measured:
  - end to end: the fastest of N runs per side (the minimum is the least disturbed run), alternating sides;
  - direct: inside the recording runs, the time spent in the recording code itself (taking kernel copies, writing
    snapshot chunks, metrics, resume state, final weights and run.json), as a share of the rest of the run.
Target: snapshots add at most 5% to the training time (judged on the direct share).

    python bench/bench_snapshots.py [--preset pulses-2d ...] [--repeat 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout, installed or not

import cnnkreport.train as train_module  # noqa: E402
from cnnkreport.config import DEFAULT_PRESETS, PRESETS, RunConfig, quick  # noqa: E402
from cnnkreport.rundir import Run  # noqa: E402

TARGET = 5.0  # percent
RECORDING = [
    (train_module, "kernels_of"),
    (train_module, "atomic_write"),
    (train_module, "atomic_write_text"),
    (Run, "write_snapshots"),
    (Run, "write_metrics"),
    (Run, "write_meta"),
]


@dataclass(frozen=True)
class Figures:
    preset: str
    steps: int
    snapshots: int
    with_s: float  # fastest run with recording
    without_s: float  # fastest run without
    recording_s: float  # time inside the recording code, in the fastest recording run

    @property
    def end_to_end(self) -> float:
        return 100.0 * (self.with_s / self.without_s - 1.0)

    @property
    def direct(self) -> float:
        return 100.0 * self.recording_s / (self.with_s - self.recording_s)


def timed(fn: Callable[..., Any], clock: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            clock[0] += time.perf_counter() - t

    return wrapper


def nothing(*args: Any, **kwargs: Any) -> Any:
    """Stands in for a recording function on the side without recording: takes nothing, writes nothing."""
    return {}


def timed_run(cfg: RunConfig, snapshots: bool) -> tuple[float, float, int, int]:
    """(seconds, seconds inside recording code, steps, snapshots) of one run into a fresh temporary folder; without
    `snapshots`, the recording functions do nothing."""
    clock = [0.0]
    originals = [(owner, name, getattr(owner, name)) for owner, name in RECORDING]
    for owner, name, fn in originals:
        setattr(owner, name, timed(fn, clock) if snapshots else nothing)
    try:
        with tempfile.TemporaryDirectory(prefix="cnnk-bench-") as tmp:
            result = train_module.train(cfg, Path(tmp) / cfg.name)
            return result.seconds, clock[0], result.steps, len(result.run.snapshot_steps()) if snapshots else 0
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)


def measure(name: str, cfg: RunConfig, repeat: int) -> Figures:
    timed_run(quick(cfg), True)  # warm-up, not counted: first-call costs of torch and numpy
    runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    steps = count = 0
    for i in range(repeat):
        for snapshots in (True, False) if i % 2 == 0 else (False, True):
            seconds, recording, steps, n = timed_run(cfg, snapshots)
            runs[snapshots].append((seconds, recording))
            count = max(count, n)
            side = "on" if snapshots else "off"
            print(f"  {name}: run {i + 1}/{repeat}, snapshots {side}: {seconds:.2f} s", file=sys.stderr)
    with_s, recording_s = min(runs[True])
    return Figures(name, steps, count, with_s, min(runs[False])[0], recording_s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--preset",
        action="append",
        choices=sorted(PRESETS),
        help=f"preset to time (repeatable; default: {', '.join(DEFAULT_PRESETS)})",
    )
    ap.add_argument("--repeat", type=int, default=5, help="runs per side, fastest kept (default 5)")
    ap.add_argument("--quick", action="store_true", help="tiny configs: a smoke run, not a fair figure")
    args = ap.parse_args()
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > 0.5 * cores:
        print(f"warning: load average {load:.1f} on {cores} cores; the figures may be noisy", file=sys.stderr)

    figures = [
        measure(n, quick(PRESETS[n]) if args.quick else PRESETS[n], args.repeat) for n in args.preset or DEFAULT_PRESETS
    ]
    print(
        f"{'preset':<12}{'steps':>7}{'snapshots':>11}{'with (s)':>10}{'without (s)':>13}"
        f"{'end to end':>12}{'recording (s)':>15}{'direct':>8}"
    )
    for f in figures:
        print(
            f"{f.preset:<12}{f.steps:>7}{f.snapshots:>11}{f.with_s:>10.2f}{f.without_s:>13.2f}"
            f"{f.end_to_end:>11.1f}%{f.recording_s:>15.3f}{f.direct:>7.1f}%"
        )
    worst = max(figures, key=lambda f: f.direct)
    verdict = "met" if worst.direct <= TARGET else "NOT met"
    print(
        f"snapshot overhead {worst.direct:.1f}% of training time, worst case {worst.preset} "
        f"(target <= {TARGET:.0f}%): {verdict}"
    )


if __name__ == "__main__":
    main()
