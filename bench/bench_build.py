"""`cnnkreport build` end to end: wall time, the presets' targets over five seeds, and the site's weight.

Runs the real command (`python -m cnnkreport build`, no arguments) in an empty temporary folder, as a new user
would, and reports:
  - its wall time against the 90 s budget (aim: 60 s) on this machine;
  - from the build's own recipe check (summary.json `recipe_checks`: each preset with targets trained on seeds
    0-4, judged as the site judges it): per seed, test accuracy, hit rate, kappa and whether the targets held, and
    on how many seeds (target: at least 4 of 5), plus the ablation run and seed-replica beside them;
  - the site's size against the 5 MB target.

    python bench/bench_build.py            # about 2 minutes
    python bench/bench_build.py --against /tmp/old --rounds 2   # then builds of another checkout (an older
                                           # commit, say) and of this one, taking turns: their times and ratios

This machine runs the same build at speeds tens of percent apart from one hour to the next, so a change is judged
by builds taken in turns with a reference, not by one figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S, AIM_S, SITE_TARGET, SEEDS_TARGET = 90.0, 60.0, 5 * 2**20, 4


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def num(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def build(repo: Path, tmp: Path) -> float:
    """Wall seconds of `python -m cnnkreport build`, no arguments, with `repo`'s code, in the empty folder tmp."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cnnkreport", "build"],
        cwd=tmp,
        check=True,
        stderr=subprocess.DEVNULL,
        env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin"},
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", type=Path, help="another checkout to time in turns with this one")
    ap.add_argument("--rounds", type=int, default=2, help="builds of each, with --against")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="cnnk-build-") as tmp:
        wall = build(repo, Path(tmp))
        site = Path(tmp) / "site"
        summary = json.loads((site / "summary.json").read_text())
        size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())

    print(
        f"cnnkreport build, no arguments: {wall:.1f} s (budget {BUDGET_S:.0f} s, aim {AIM_S:.0f} s): "
        f"{'met' if wall <= BUDGET_S else 'NOT met'}"
    )
    print(
        f"site: {size / 2**20:.2f} MB (target < {SITE_TARGET / 2**20:.0f} MB): "
        f"{'met' if size < SITE_TARGET else 'NOT met'}"
    )
    print(f"\n{'run':<44}{'seed':>5}{'test acc':>10}{'hit':>8}{'@init':>8}{'kappa':>7}{'ctrl':>6}  targets")
    for c in summary["recipe_checks"]:
        for s in [*c["seeds"], c["ablation"]]:
            if s is None:
                continue
            label = s["name"] + (f" ({c['ablation']['label']})" if s is c["ablation"] else "")
            met = "met" if s["targets_met"] else "not met"
            print(
                f"{label:<44}{s['seed']:>5}{pct(s['test_accuracy']):>10}{pct(s['hit_rate']):>8}"
                f"{pct(s['hit_rate_at_init']):>8}{num(s['kappa']):>7}{s['controlled_hits']:>6}  {met}"
            )
    for r in summary["runs"]:
        if r["name"] not in {c["run"] for c in summary["recipe_checks"]}:
            first = r["layers"][0]
            print(
                f"{r['name']:<44}{'':>5}{pct(r['test_accuracy']):>10}{pct(first['hit_rate']):>8}"
                f"{pct(first['hit_rate_at_init']):>8}{num(first['kappa']):>7}{'':>6}  (no targets)"
            )
    print()
    for c in summary["recipe_checks"]:
        n = len(c["seeds"])
        ok = c["seeds_held"] >= SEEDS_TARGET
        print(
            f"{c['run']}: targets ({'; '.join(c['targets'])}) held on {c['seeds_held']} of {n} seeds "
            f"(target: at least {SEEDS_TARGET} of 5): {'met' if ok else 'NOT met'}"
        )

    if args.against:
        turns(repo, args.against.resolve(), args.rounds)


def turns(repo: Path, reference: Path, rounds: int) -> None:
    """Builds of `reference` and of this checkout in turns, each in a fresh folder: their times and ratios."""
    print(f"\nin turns with {reference}:")
    ratios = []
    for k in range(rounds):
        times = []
        for code in (reference, repo):
            with tempfile.TemporaryDirectory(prefix="cnnk-build-") as tmp:
                times.append(build(code, Path(tmp)))
        ratios.append(times[1] / times[0])
        print(f"  round {k + 1}: reference {times[0]:.1f} s, this checkout {times[1]:.1f} s ({ratios[-1]:.2f}x)")
    print(f"this checkout's build takes {statistics.median(ratios):.2f}x the reference's (median of {rounds} rounds)")


if __name__ == "__main__":
    main()
