"""A sweep on Dask against the local pool: what running the points through a Dask cluster costs.

The same 12-point quick sweep (pulses-1d, three losses x four seeds) runs, into fresh run folders each time:
1. on the local process pool of two processes (`cnnkreport sweep --workers 2`), which starts its processes for the
   sweep, as the command does;
2. on a Dask cluster of two single-threaded worker processes on 127.0.0.1 (`distributed.LocalCluster`, started
   before the clock starts, as a user's cluster is already running), through `--executor dask`.
It prints both wall times (fastest of --repeat), the overhead of Dask against the pool (target: at most 10%), and
checks that both gave the same weights, bit for bit.

    python bench/bench_cluster.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout, installed or not

from cnnkreport.executors import Events, ExecutorConfig  # noqa: E402
from cnnkreport.sweep import SweepConfig, expand, run_sweep  # noqa: E402

TARGET = 0.10
SWEEP = SweepConfig(
    name="bench", preset="pulses-1d", seeds=(0, 1, 2, 3), grid={"train.loss": ["cross_entropy", "l1", "mse"]}
)


def timed(runs: Path, executor: ExecutorConfig, repeat: int) -> float:
    points = expand(SWEEP, quick_runs=True)
    times = []
    for _ in range(repeat):
        shutil.rmtree(runs, ignore_errors=True)
        t0 = time.perf_counter()
        run_sweep(points, runs, 2, Events(), executor)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions, fastest kept (default 3)")
    args = parser.parse_args()
    from distributed import LocalCluster

    with tempfile.TemporaryDirectory(prefix="cnnk-bench-cluster-") as tmp:
        folder = Path(tmp)
        local = timed(folder / "local", ExecutorConfig(), args.repeat)
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as cluster:
            dask = timed(folder / "dask", ExecutorConfig(kind="dask", scheduler=cluster.scheduler_address), args.repeat)
        same = all(
            (folder / "local" / p.folder / "weights.pt").read_bytes()
            == (folder / "dask" / p.folder / "weights.pt").read_bytes()
            for p in expand(SWEEP, quick_runs=True)
        )
    points = len(expand(SWEEP, quick_runs=True))
    print(f"{points}-point quick sweep (fastest of {args.repeat}):")
    print(f"  local pool, 2 processes:        {local:6.2f} s")
    print(f"  Dask, 2 workers x 1 thread:     {dask:6.2f} s")
    overhead = dask / local - 1
    verdict = "met" if overhead <= TARGET else "NOT met"
    print(f"Dask overhead against the pool: {100 * overhead:+.0f}% (target <= {100 * TARGET:.0f}%): {verdict}")
    print(f"same weights, bit for bit: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
