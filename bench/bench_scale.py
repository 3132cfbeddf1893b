"""A run with 10,000 kernel snapshots: render time and peak memory against the same run with 1,000.

Two synthetic runs with the layer shapes of `pulses-2d` (features.0: 8 kernels of 5x5 on 1 channel, features.3: 16
of 5x5 on 8 channels) are written without training, through the same `Recording` a trained run is written with:
kernels that drift from a random initialisation towards oriented edge and line detectors, with noise, a snapshot at
every step, a metrics row at every step, run.json and config.toml as `cnnkreport train` writes them. Each is then
rendered by the real command in a fresh process (`python -m cnnkreport render RUN --out DIR`), as a user would run
it; its peak memory is the largest resident set of the render process and of the worker processes it forks to draw
the layers (os.wait4 on the render process). Targets: time grows at most linearly with the snapshots (10x the
snapshots, at most 10x the time), memory stays flat (at most 1.25x).

    python bench/bench_scale.py [--snapshots 1000 10000] [--code DIR]

--code DIR renders with the cnnkreport package of another checkout (e.g. `git worktree add /tmp/old HEAD~1`), for
a before/after comparison on the same runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout, installed or not

from cnnkreport.analysis.bank import bank  # noqa: E402
from cnnkreport.config import PRESETS  # noqa: E402
from cnnkreport.rundir import LayerInfo, Recording, Run, RunMeta  # noqa: E402
from cnnkreport.tomlio import dumps_toml, to_dict  # noqa: E402

MEMORY_TARGET = 1.25  # peak memory, many snapshots against few: flat
LAYERS = {"features.0": (8, 1, 5, 5), "features.3": (16, 8, 5, 5)}
BLOCK = 500  # snapshots generated (and flushed) at a time, so that writing the run stays small too


def synthetic_run(path: Path, snapshots: int, seed: int = 0) -> Run:
    """A run of `snapshots` snapshots (one per step, steps 0..snapshots-1), written like a trained one."""
    cfg = PRESETS["pulses-2d"]
    rng = np.random.default_rng(seed)
    b = bank((5, 5))
    picks = [i for i, t in enumerate(b.templates) if t.family in ("edge", "line")]
    init, target = {}, {}
    for name, shape in LAYERS.items():
        out, in_c = shape[:2]
        bound = 1 / np.sqrt(in_c * 25)
        init[name] = rng.uniform(-bound, bound, size=shape)
        templates = b.weights[rng.choice(picks, out)]  # (out, 5, 5), unit norm
        gains = rng.normal(size=(out, in_c, 1, 1))  # each input channel a multiple of the kernel's template
        target[name] = 0.6 * templates[:, None] * gains
    run = Run(path)
    layers = tuple(LayerInfo(n, "conv2d", tuple(s)) for n, s in LAYERS.items())
    meta = RunMeta(path.name, "train", "running", snapshots - 1, layers, None, cfg.data.kind, tuple(cfg.data.classes))
    run.write_meta(meta)
    run.config_path.write_text(dumps_toml(to_dict(cfg)), encoding="utf-8")
    rec = Recording(run)
    tau = snapshots / 6
    for start in range(0, snapshots, BLOCK):
        steps = np.arange(start, min(start + BLOCK, snapshots))
        drift = (1 - np.exp(-steps / tau)).reshape(-1, 1, 1, 1, 1)  # 0 at initialisation, towards 1
        weights = {
            n: ((1 - drift) * init[n] + drift * target[n] + 0.01 * rng.normal(size=(len(steps), *LAYERS[n]))).astype(
                np.float32
            )
            for n in LAYERS
        }
        for k, step in enumerate(steps.tolist()):
            rec.snapshot(step, {n: w[k] for n, w in weights.items()})
            progress = step / max(snapshots - 1, 1)
            row = {"step": step, "epoch": 12 * progress, "loss": 1.6 * np.exp(-4 * progress) + 0.05 * rng.random()}
            if step:
                row["train_accuracy"] = min(1.0, 0.2 + progress + 0.05 * rng.random())
            if step % max(1, snapshots // 50) == 0:
                row["test_accuracy"] = min(1.0, 0.2 + 0.8 * progress)
            rec.rows.append(row)
        rec.flush()
    run.write_meta(replace(meta, status="complete", test_accuracy=0.97))
    return run


@dataclass(frozen=True)
class Render:
    snapshots: int
    seconds: float
    peak_bytes: int
    layer_json_bytes: int


def render(run: Path, out: Path, snapshots: int, code: Path | None) -> Render:
    """`python -m cnnkreport render RUN --out OUT` in a fresh process: wall time, and the peak resident set of the
    largest process in its tree (the render process or one of its forked workers)."""
    env = dict(os.environ, MPLBACKEND="Agg")
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnkreport", "render", str(run), "--out", str(out)],
        env=env,
        cwd=tempfile.gettempdir(),  # not the checkout: with --code, the package must come from PYTHONPATH
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"render of {run} failed ({proc.returncode}):\n{err.decode(errors='replace')}")
    layer_json = sum(p.stat().st_size for p in out.glob("runs/*/*/layer.json"))
    return Render(snapshots, seconds, usage.ru_maxrss * 1024, layer_json)  # ru_maxrss is in KiB on Linux


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snapshots", type=int, nargs=2, default=[1000, 10000], metavar=("FEW", "MANY"))
    ap.add_argument("--code", type=Path, help="render with the cnnkreport package in this checkout instead")
    args = ap.parse_args()
    few, many = args.snapshots
    with tempfile.TemporaryDirectory(prefix="cnnk-scale-") as tmp:
        results = []
        for n in (few, many):
            t0 = time.perf_counter()
            run = synthetic_run(Path(tmp) / f"scale-{n}", n)
            chunks = len(run.chunks())
            written = time.perf_counter() - t0
            r = render(run.path, Path(tmp) / f"site-{n}", n, args.code)
            results.append(r)
            print(
                f"{n:>6,} snapshots ({chunks} chunk files, written in {written:.1f} s): render {r.seconds:6.1f} s, "
                f"peak RSS {r.peak_bytes / 2**20:5.0f} MB, layer.json {r.layer_json_bytes / 2**20:5.2f} MB"
            )
    a, b = results
    scale = many / few
    time_ratio, memory_ratio = b.seconds / a.seconds, b.peak_bytes / a.peak_bytes
    print(
        f"time   {many:,} / {few:,} snapshots: {time_ratio:.2f}x (target <= {scale:.0f}x, at most linear): "
        f"{verdict(time_ratio <= scale)}"
    )
    print(
        f"memory {many:,} / {few:,} snapshots: {memory_ratio:.2f}x (target <= {MEMORY_TARGET}x, flat): "
        f"{verdict(memory_ratio <= MEMORY_TARGET)}"
    )


if __name__ == "__main__":
    main()
