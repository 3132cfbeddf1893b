"""`cnnkreport build --data` on the archive's own data sets: each one's test accuracy with the one recipe of
config.user_run (nothing tuned per data set), the published baselines beside it (1-NN Euclidean, 1-NN DTW with the
learned and with the full window, FCN where Wang, Yan and Oates published it: cnnkreport.site.published), and the
time of the whole build (reading, training, analysis, figures and site, as one `cnnkreport build` process). Then an
image bench: scikit-learn's bundled digits (8x8), written as a folder of PNGs, a stratified 20% held out.

The targets: GunPoint at 97% or more; every archive set at least at its best published 1-NN DTW accuracy; within 5
points of FCN on average where FCN is published; a whole build of one such data set within 120 s here.

The data files are the archive's, as the aeon wheel ships them (aeon/datasets/data/<Name>/<Name>_TRAIN.ts and
_TEST.ts): --archive DIR, or by default an installed aeon's data folder, else /tmp/aeon_data/aeon/datasets/data.

    python bench/bench_userdata.py [--archive DIR] [--sets GunPoint ArrowHead ...] [--no-images] [--keep DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout, installed or not

import numpy as np  # noqa: E402

from cnnkreport.site import published  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FALLBACK = Path("/tmp/aeon_data/aeon/datasets/data")
SETS = (
    "GunPoint",
    "ItalyPowerDemand",
    "ArrowHead",
    "OSULeaf",
    "ACSF1",
    "PickupGestureWiimoteZ",
    "BasicMotions",
    "JapaneseVowels",
)
GUNPOINT_TARGET, FCN_POINTS, BUILD_SECONDS = 0.97, 5.0, 120.0
HOW_TO_GET = (
    "no archive data found: pass --archive DIR (the folder holding GunPoint/GunPoint_TRAIN.ts, ...), or fetch the "
    "files the aeon wheel ships: pip download --no-deps aeon==1.6.0 -d /tmp/aeon_wheel && "
    "unzip -q /tmp/aeon_wheel/aeon-1.6.0-*.whl 'aeon/datasets/data/*' -d /tmp/aeon_data"
)


def archive_dir(given: str | None) -> Path:
    """--archive, else an installed aeon's data folder, else FALLBACK; exits with HOW_TO_GET where none has data."""
    candidates = [Path(given)] if given else []
    if not given:
        spec = importlib.util.find_spec("aeon")
        if spec is not None and spec.submodule_search_locations:
            candidates += [Path(p) / "datasets" / "data" for p in spec.submodule_search_locations]
        candidates.append(FALLBACK)
    for c in candidates:
        if (c / "GunPoint" / "GunPoint_TRAIN.ts").is_file():
            return c
    sys.exit(f"{HOW_TO_GET} (looked in: {', '.join(map(str, candidates))})")


@dataclass
class Result:
    name: str
    accuracy: float | None
    seconds: float
    data: dict | None  # summary.json's `data` of the run
    error: str = ""


def build(args: list[str], work: Path, name: str) -> Result:
    """One `cnnkreport build --data ...` in its own process, timed as a user would time it."""
    site, runs = work / f"site-{name}", work / "runs"
    command = [sys.executable, "-m", "cnnkreport", "build", *args, "--name", name, "--out", str(site)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    done = subprocess.run([*command, "--runs", str(runs)], capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        return Result(name, None, seconds, None, done.stderr.strip().splitlines()[-1:][0] if done.stderr else "?")
    (run,) = json.loads((site / "summary.json").read_text(encoding="utf-8"))["runs"]
    return Result(name, run["test_accuracy"], seconds, run["data"])


def archive_set(archive: Path, name: str, work: Path) -> Result:
    train, test = archive / name / f"{name}_TRAIN.ts", archive / name / f"{name}_TEST.ts"
    if not train.is_file() or not test.is_file():
        return Result(name, None, 0.0, None, f"not in {archive}")
    return build(["--data", str(train), "--test", str(test)], work, name)


def digits_folder(work: Path) -> Path:
    """scikit-learn's 1,797 digits (8x8, values 0-16) as PNGs in a folder per class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    folder = work / "digits"
    for i, (image, label) in enumerate(zip(d.images, d.target, strict=True)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(image * 255 / 16).astype(np.uint8)).save(folder / str(label) / f"{i}.png")
    return folder


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def row(r: Result) -> tuple[str, ...]:
    d = r.data or {}
    size = "x".join(map(str, d["image_size"])) if d.get("image_size") else str(d.get("length", "?"))
    shape = f"{d.get('n_train', '?')}/{d.get('n_test', '?')}, {size}, {d.get('channels', '?')} ch"
    p = published.lookup(r.name)
    base = ["n/a"] * 4
    if p is not None:
        base = [pct(1 - p.ed), pct(1 - p.dtw_learned), pct(1 - p.dtw_full), pct(None if p.fcn is None else 1 - p.fcn)]
    return (r.name, shape, pct(r.accuracy) if not r.error else f"failed: {r.error}", *base, f"{r.seconds:.0f} s")


def table(results: list[Result]) -> str:
    head = (
        "data set",
        "train/test, length, channels",
        "this build",
        "1-NN ED",
        "1-NN DTW (learned w)",
        "1-NN DTW (full)",
        "FCN",
        "whole build",
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row(r)) + " |" for r in results]
    return "\n".join(lines)


def verdicts(results: list[Result]) -> list[str]:
    """The targets, each with its numbers."""
    out = []
    by = {r.name: r for r in results}
    gp = by.get("GunPoint")
    if gp is not None and gp.accuracy is not None:
        out.append(
            f"GunPoint {pct(gp.accuracy)} (target {pct(GUNPOINT_TARGET)}): {_ok(gp.accuracy >= GUNPOINT_TARGET)}"
        )
    for r in results:
        p = published.lookup(r.name)
        if p is not None and r.accuracy is not None:
            out.append(
                f"{r.name}: {pct(r.accuracy)} against best 1-NN DTW {pct(p.best_dtw)}: {_ok(r.accuracy >= p.best_dtw)}"
            )
    fcn = [
        (r.accuracy, 1 - p.fcn)
        for r in results
        if (p := published.lookup(r.name)) and p.fcn is not None and r.accuracy is not None
    ]
    if fcn:
        gap = 100 * (np.mean([f for _, f in fcn]) - np.mean([a for a, _ in fcn]))
        verdict = _ok(gap <= FCN_POINTS)
        out.append(f"mean gap to FCN over {len(fcn)} sets: {gap:.1f} points (target <= {FCN_POINTS:g}): {verdict}")
    slow = [f"{r.name} {r.seconds:.0f} s" for r in results if r.seconds > BUILD_SECONDS]
    out.append(
        f"whole builds within {BUILD_SECONDS:.0f} s: {_ok(not slow)}" + (f" (over: {', '.join(slow)})" if slow else "")
    )
    return out


def _ok(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archive", help="the folder of the archive's data sets (<Name>/<Name>_TRAIN.ts)")
    ap.add_argument("--sets", nargs="+", default=list(SETS), help="archive data sets to build")
    ap.add_argument("--no-images", action="store_true", help="leave out the digits (images) bench")
    ap.add_argument("--keep", help="build into this folder and keep it (default: a temporary folder)")
    a = ap.parse_args()
    archive = archive_dir(a.archive)
    with tempfile.TemporaryDirectory(prefix="bench-userdata-") as tmp:
        work = Path(a.keep) if a.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"archive: {archive}; one build at a time, {os.cpu_count()} cores", flush=True)
        results = []
        for name in a.sets:
            results.append(archive_set(archive, name, work))
            print(
                f"  {name}: {pct(results[-1].accuracy)} in {results[-1].seconds:.0f} s {results[-1].error}", flush=True
            )
        if not a.no_images:
            results.append(build(["--data", str(digits_folder(work))], work, "digits"))
            print(
                f"  digits: {pct(results[-1].accuracy)} in {results[-1].seconds:.0f} s {results[-1].error}", flush=True
            )
        print()
        print(table(results))
        print()
        for line in verdicts(results):
            print(line)


if __name__ == "__main__":
    main()
