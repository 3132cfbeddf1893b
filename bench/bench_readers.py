"""The user-data readers against the reference reader, aeon's `load_from_ts_file` (and `load_from_tsv_file`), on the
archive's own files: for every `.ts` and `.tsv` file of the archive folder, whether the values and the labels
agree with aeon's (values exactly, labels as aeon gives them: in lower case), the shapes, and both read times; the
files this reader refuses, with its one line (regression problems and time stamps are refused on purpose). Then
`read_dataset` on each TRAIN/TEST pair (the whole path: reading, checks, z-normalising, padding), a 10 MB `.ts` file
written here, and the target: GunPoint (50 + 150 series of 150) well under a second, 10 MB a few seconds at most.

aeon is not a dependency: it is run where `import aeon` works, or in the Python of a throwaway venv
(`python3.11 -m venv /tmp/aeonvenv && /tmp/aeonvenv/bin/pip install aeon`), named by AEON_PYTHON (default
/tmp/aeonvenv/bin/python). The archive folder is the one aeon's wheel ships (`aeon/datasets/data`), named by --archive.

    python bench/bench_readers.py [--archive /tmp/aeon_data/aeon/datasets/data] [--mb 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmark this checkout, installed or not

import numpy as np  # noqa: E402

from cnnkreport.errors import UserError  # noqa: E402
from cnnkreport.userdata import read_dataset  # noqa: E402
from cnnkreport.userdata.checks import Raw  # noqa: E402
from cnnkreport.userdata.delimited import read_tsv  # noqa: E402
from cnnkreport.userdata.ts import read_ts  # noqa: E402

ARCHIVE = Path("/tmp/aeon_data/aeon/datasets/data")
AEON_PYTHON = os.environ.get("AEON_PYTHON", "/tmp/aeonvenv/bin/python")
GUNPOINT_TARGET_S, BIG_TARGET_S = 1.0, 5.0

# Run in aeon's Python: each file of argv[2:] read by aeon, saved as out/<i>.npz (values flat, shapes, labels, time).
AEON_SCRIPT = r"""
import sys, time, numpy as np
from pathlib import Path
from aeon.datasets import load_from_ts_file, load_from_tsv_file
out = Path(sys.argv[1])
for i, name in enumerate(sys.argv[2:]):
    try:
        t = time.perf_counter()
        x, y = (load_from_tsv_file if name.endswith(".tsv") else load_from_ts_file)(name)
        t = time.perf_counter() - t
        cases = [np.asarray(c, dtype=np.float64) for c in x]
        np.savez(out / f"{i}.npz", values=np.concatenate([c.ravel() for c in cases]),
                 shapes=np.array([c.shape for c in cases]), labels=np.array([str(v) for v in y]),
                 seconds=np.array(t))
    except Exception as e:
        np.savez(out / f"{i}.npz", error=np.array(f"{type(e).__name__}: {e}"[:300]))
"""


def aeon_python() -> list[str] | None:
    """The command that runs a Python with aeon, or None where there is none."""
    for python in (sys.executable, AEON_PYTHON):
        if Path(python).exists():
            done = subprocess.run([python, "-c", "import aeon"], capture_output=True, check=False)
            if done.returncode == 0:
                return [python]
    return None


def aeon_results(files: list[Path]) -> dict[Path, dict[str, np.ndarray]]:
    """aeon's reading of each file (its arrays, or an `error`), {} where aeon is not available."""
    python = aeon_python()
    if python is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([*python, "-c", AEON_SCRIPT, tmp, *map(str, files)], check=True, timeout=1800)
        found = {}
        for i, f in enumerate(files):
            with np.load(Path(tmp, f"{i}.npz"), allow_pickle=False) as z:
                found[f] = {k: z[k] for k in z.files}
        return found


def ours(path: Path) -> tuple[Raw | str, float]:
    """This reader's record of a file (or its one-line refusal), and the best of three read times."""
    best, result = float("inf"), None
    for _ in range(3):
        t = time.perf_counter()
        try:
            result = read_tsv(path) if path.suffix == ".tsv" else read_ts(path)
        except UserError as e:
            return str(e), time.perf_counter() - t
        best = min(best, time.perf_counter() - t)
    assert result is not None
    return result, best


def agree(raw: Raw, ref: dict[str, np.ndarray]) -> tuple[bool, bool]:
    """(values agree, labels agree) of this reader's record and aeon's."""
    assert raw.lengths is not None
    shapes = [(raw.x.shape[1], int(n)) for n in raw.lengths]
    if [tuple(s) for s in ref["shapes"].tolist()] != shapes:
        return False, False
    flat = np.concatenate([raw.x[i, :, :n].ravel() for i, n in enumerate(raw.lengths)])
    labels = [label.lower() for label in raw.labels]
    return bool(np.array_equal(flat, ref["values"])), labels == [str(v).lower() for v in ref["labels"].tolist()]


def compare(files: list[Path], refs: dict[Path, dict[str, np.ndarray]], archive: Path) -> bool:
    """One line per file; True when every file read by both agrees."""
    print(f"{'file':<52} {'shape':<16} {'ours s':>8} {'aeon s':>8}  values labels")
    ok = True
    for f in files:
        raw, seconds = ours(f)
        ref = refs.get(f)
        name = str(f.relative_to(archive))
        if isinstance(raw, str):
            aeon = "aeon: " + ("not run" if ref is None else str(ref.get("error", "reads it")))
            print(f"{name:<52} refused: {raw.split(': ', 1)[-1]}  [{aeon}]")
            continue
        lengths = raw.lengths if raw.lengths is not None else np.array([0])
        ln = str(lengths[0]) if lengths.min() == lengths.max() else f"{lengths.min()}-{lengths.max()}"
        shape = f"{raw.x.shape[0]}x{raw.x.shape[1]}x{ln}"
        if ref is None or "error" in ref:
            why = "not run" if ref is None else str(ref["error"])
            print(f"{name:<52} {shape:<16} {seconds:8.3f} {'-':>8}  aeon: {why}")
            ok = ok and ref is None
            continue
        values, labels = agree(raw, ref)
        ok = ok and values and labels
        print(f"{name:<52} {shape:<16} {seconds:8.3f} {float(ref['seconds']):8.3f}  {values!s:<6} {labels}")
    return ok


def pairs(archive: Path) -> list[tuple[Path, Path]]:
    found = []
    for train in sorted(archive.glob("*/*_TRAIN.ts")):
        test = train.with_name(train.name.replace("_TRAIN.ts", "_TEST.ts"))
        if test.exists():
            found.append((train, test))
    return found


def whole(train: Path, test: Path | None) -> float | str:
    """Seconds of read_dataset (best of three), or its refusal."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        try:
            read_dataset(train, test)
        except UserError as e:
            return str(e).split(": ", 1)[-1]
        best = min(best, time.perf_counter() - t)
    return best


def big_file(folder: Path, mb: float) -> Path:
    """A .ts file of about `mb` MB: univariate series of 500 values, 3 classes."""
    rng = np.random.default_rng(0)
    n = max(3, int(mb * 2**20 / (500 * 9.5)))
    rows = [",".join(f"{v:.6f}" for v in rng.standard_normal(500)) + f":{i % 3}" for i in range(n)]
    path = folder / "Big_TRAIN.ts"
    header = "@problemName Big\n@univariate true\n@equalLength true\n@seriesLength 500\n@classLabel true 0 1 2\n"
    path.write_text(header + "@data\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archive", type=Path, default=ARCHIVE)
    ap.add_argument("--mb", type=float, default=10.0)
    args = ap.parse_args()
    if not args.archive.is_dir():
        sys.exit(f"no archive folder at {args.archive} (unzip aeon's wheel: aeon/datasets/data)")
    files = sorted(args.archive.glob("*/*.ts")) + sorted(args.archive.glob("*/*.tsv"))
    refs = aeon_results(files)
    print(f"aeon: {'run as the reference' if refs else 'not available (AEON_PYTHON), values not compared'}\n")
    ok = compare(files, refs, args.archive)
    print("\nread_dataset, TRAIN and TEST (reading, checks, z-normalising, padding; best of 3):")
    for train, test in pairs(args.archive):
        result = whole(train, test)
        said = f"{result:.3f} s" if isinstance(result, float) else f"refused: {result}"
        print(f"  {train.name.removesuffix('_TRAIN.ts'):<28} {said}")
    gun = whole(args.archive / "GunPoint/GunPoint_TRAIN.ts", args.archive / "GunPoint/GunPoint_TEST.ts")
    with tempfile.TemporaryDirectory() as tmp:
        big = big_file(Path(tmp), args.mb)
        size = big.stat().st_size / 2**20
        seconds = whole(big, None)
        ref = aeon_results([big]).get(big, {})
    aeon_big = f", aeon {float(ref['seconds']):.2f} s" if "seconds" in ref else ""
    print(f"\n{size:.1f} MB .ts file: {seconds:.2f} s (target {BIG_TARGET_S} s){aeon_big}")
    print(f"GunPoint TRAIN + TEST: {gun:.3f} s (target under {GUNPOINT_TARGET_S} s)")
    fast = isinstance(gun, float) and gun < GUNPOINT_TARGET_S and isinstance(seconds, float) and seconds < BIG_TARGET_S
    print(f"\nagree with aeon: {'yes' if ok else 'NO'}; fast enough: {'yes' if fast else 'NO'}")
    sys.exit(0 if ok and fast else 1)


if __name__ == "__main__":
    main()
