"""The size of the sites a user publishes: the folder `cnnkreport inspect` writes for real-model-shaped checkpoints
(bench_models.py's pitch tracker and ResNet-50, random weights: their size is what counts here), and for a site
already built (--site, the output of `cnnkreport build`), each with its packed single HTML file.

For each site: its total size and file count against the 30 MB target (5 MB for the default build), the size per
type of file and the largest files (MB of 2**20 bytes, as in docs/benchmarks.md), then `cnnkreport pack SITE --format
html` (its size in bytes and in MB of 1,000,000 bytes, the unit of --max-mb; the target of 6 MB for the default
build) and, with --max-mb N, the same with `--max-mb N` (or the one line of its refusal, where N cannot be met).
Each inspect and pack is the real command, in a subprocess, as a user would run it.

    python bench/bench_size.py [pitch] [resnet50] [--site DIR] [--max-mb N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_models, beside this file

from bench_models import MODELS  # noqa: E402

MB = 2**20
MODEL_TARGET, BUILD_TARGET, PACK_TARGET = 30 * MB, 5 * MB, 6.0  # the sites' in MB of 2**20; the packed file's 10^6


def cli(*args: str, refused: bool = False) -> str | None:
    """The real command, in a fresh process; exits with its last line of stderr if it fails, or (`refused`)
    returns that line where it refuses its input (exit code 2)."""
    proc = subprocess.run([sys.executable, "-m", "cnnkreport", *args], capture_output=True, text=True)
    if proc.returncode == 2 and refused:
        return proc.stderr.strip().splitlines()[-1]
    if proc.returncode != 0:
        sys.exit(f"cnnkreport {args[0]} failed ({proc.returncode}): {proc.stderr.strip().splitlines()[-1]}")
    return None


def weigh(site: Path, target: int) -> None:
    """The site's size and file count, per type, its largest files, and the verdict against `target` bytes."""
    files = [p for p in site.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    by_type: dict[str, list[int]] = defaultdict(list)
    for p in files:
        by_type[p.suffix or p.name].append(p.stat().st_size)
    print(f"  {'type':<10}{'files':>7}{'MB':>9}")
    for ext, sizes in sorted(by_type.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {ext:<10}{len(sizes):>7}{sum(sizes) / MB:>9.2f}")
    print("  largest files:")
    for p in sorted(files, key=lambda p: -p.stat().st_size)[:5]:
        print(f"    {p.stat().st_size / MB:>7.2f} MB  {p.relative_to(site)}")
    verdict = "met" if total <= target else "NOT met"
    print(f"  site: {len(files)} files, {total / MB:.1f} MB (target <= {target / MB:.0f} MB): {verdict}")


def pack(site: Path, out: Path, max_mb: float | None, target: float | None) -> None:
    """`cnnkreport pack SITE --format html [--max-mb N]`, and the size of the file it writes, in bytes and in MB of
    1,000,000 bytes (the unit of --max-mb), against `target` (such MB)."""
    extra = [] if max_mb is None else ["--max-mb", f"{max_mb:g}"]
    refusal = cli("pack", str(site), "--format", "html", "--out", str(out), *extra, refused=max_mb is not None)
    what = "packed" if max_mb is None else f"packed --max-mb {max_mb:g}"
    if refusal is not None:
        print(f"  {what}: refused (exit 2): {refusal}")
        return
    size = out.stat().st_size
    verdict = "" if target is None else f" (target <= {target:g} MB): " + ("met" if size <= target * 1e6 else "NOT met")
    print(f"  {what}: {size:,} bytes = {size / 1e6:.2f} MB of 10^6{verdict}")


def model_site(name: str, work: Path, max_mb: float | None) -> None:
    label, make = MODELS[name]
    path = work / f"{name}.pt"
    torch.save(make(), path)
    site = work / f"{name}-site"
    cli("inspect", str(path), "--out", str(site))
    print(f"{label} state_dict ({path.stat().st_size / MB:.0f} MB file), `cnnkreport inspect`:")
    weigh(site, MODEL_TARGET)
    pack(site, work / f"{name}.html", None, None)
    if max_mb is not None:
        pack(site, work / f"{name}-{max_mb:g}mb.html", max_mb, max_mb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help=f"of {', '.join(MODELS)} (default: both; none with --site)")
    ap.add_argument("--site", type=Path, help="also weigh and pack this site, already built (`cnnkreport build`)")
    ap.add_argument("--max-mb", type=float, help="also pack each site with --max-mb N")
    ap.add_argument("--keep", type=Path, help="write the sites and files here, and keep them")
    args = ap.parse_args()
    names = args.models or ([] if args.site else list(MODELS))
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit(f"unknown model {unknown[0]!r}; choose from {', '.join(MODELS)}")
    with tempfile.TemporaryDirectory(prefix="cnnk-size-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.site is not None:
            print(f"the site at {args.site}:")
            weigh(args.site, BUILD_TARGET)
            pack(args.site, work / "site.html", None, PACK_TARGET)
            if args.max_mb is not None:
                pack(args.site, work / f"site-{args.max_mb:g}mb.html", args.max_mb, args.max_mb)
        for name in names:
            model_site(name, work, args.max_mb)


if __name__ == "__main__":
    main()
