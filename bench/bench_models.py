"""`cnnkreport inspect` on real-model-shaped checkpoints: time and peak memory against 60 s and 2 GB each.

- resnet50: the real layer names and shapes of torchvision's resnet50 (53 conv layers, batch-norm parameters and
  buffers, the 1000-way fc; 25.6 M parameters, about 100 MB).
- pitch: a full-capacity CREPE-style pitch tracker, as audio models store 1-D filters: a first layer of 1,024 learned
  filters of 512 taps stored as a Conv2d of (1024, 1, 512, 1), then five layers of (64, 1) kernels on 1,024, 128,
  128, 128 and 256 input channels (up to 512 x 256), batch norms and a 360-way classifier (22 M parameters).
Random weights drawn like PyTorch's default initialisation; no torchvision or downloaded model needed. Each is saved
with torch.save(model.state_dict()) and inspected by the real command in a subprocess, as a user would run it; the
site is also checked for pictures over 4,096 px on a side.

    python bench/bench_models.py [resnet50] [pitch]
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

TIME_TARGET_S, MEMORY_TARGET = 60.0, 2 * 2**30


def _init(g: torch.Generator, *shape: int) -> torch.Tensor:
    """PyTorch's default conv initialisation: uniform with bound 1 / sqrt(fan_in)."""
    bound = 1 / math.sqrt(math.prod(shape[1:]))
    return (torch.rand(*shape, generator=g) * 2 - 1) * bound


def _bn(sd: dict[str, torch.Tensor], name: str, c: int) -> None:
    sd.update(
        {
            f"{name}.weight": torch.ones(c),
            f"{name}.bias": torch.zeros(c),
            f"{name}.running_mean": torch.zeros(c),
            f"{name}.running_var": torch.ones(c),
            f"{name}.num_batches_tracked": torch.tensor(0),
        }
    )


def pitch_state_dict() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    sd: dict[str, torch.Tensor] = {}
    channels = [1, 1024, 128, 128, 128, 256, 512]
    for i, (inp, out) in enumerate(zip(channels[:-1], channels[1:], strict=True), start=1):
        sd[f"conv{i}.weight"] = _init(g, out, inp, 512 if i == 1 else 64, 1)
        sd[f"conv{i}.bias"] = torch.zeros(out)
        _bn(sd, f"conv{i}_BN", out)
    sd["classifier.weight"] = _init(g, 360, 2048)
    sd["classifier.bias"] = torch.zeros(360)
    return sd


def resnet50_state_dict() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)

    def conv(out: int, inp: int, k: int) -> torch.Tensor:
        return _init(g, out, inp, k, k)

    sd: dict[str, torch.Tensor] = {}

    def bn(name: str, c: int) -> None:
        _bn(sd, name, c)

    sd["conv1.weight"] = conv(64, 3, 7)
    bn("bn1", 64)
    inplanes = 64
    for layer, (planes, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], start=1):
        for b in range(blocks):
            p = f"layer{layer}.{b}"
            sd[f"{p}.conv1.weight"] = conv(planes, inplanes, 1)
            bn(f"{p}.bn1", planes)
            sd[f"{p}.conv2.weight"] = conv(planes, planes, 3)
            bn(f"{p}.bn2", planes)
            sd[f"{p}.conv3.weight"] = conv(planes * 4, planes, 1)
            bn(f"{p}.bn3", planes * 4)
            if b == 0:
                sd[f"{p}.downsample.0.weight"] = conv(planes * 4, inplanes, 1)
                bn(f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    sd["fc.weight"] = (torch.rand(1000, 2048, generator=g) * 2 - 1) / math.sqrt(2048)
    sd["fc.bias"] = torch.zeros(1000)
    return sd


MODELS = {"resnet50": ("ResNet-50-shaped", resnet50_state_dict), "pitch": ("Pitch-tracker-shaped", pitch_state_dict)}


def measure(name: str) -> bool:
    """Inspect one model in a fresh process; print its figures; True when both targets are met."""
    label, make = MODELS[name]
    sd = make()
    convs = sum(1 for v in sd.values() if v.ndim >= 3)
    params = sum(v.numel() for k, v in sd.items() if v.is_floating_point() and "running" not in k)
    with tempfile.TemporaryDirectory(prefix=f"cnnk-{name}-") as tmp:
        path = Path(tmp) / f"{name}.pt"
        torch.save(sd, path)
        del sd
        t0 = time.perf_counter()
        command = [sys.executable, "-m", "cnnkreport", "inspect", str(path), "--out", str(Path(tmp) / "site")]
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
            # this inspect's own rusage: the largest resident set of it and of the workers it forked, bytes
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                err.seek(0)
                sys.exit(f"inspect failed ({proc.returncode}): {err.read().decode().strip().splitlines()[-1]}")
        peak = usage.ru_maxrss * 1024
        files = [p for p in (Path(tmp) / "site").rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        pages = sum(1 for p in files if p.suffix == ".html")
        largest = max((max(Image.open(p).size) for p in files if p.suffix in (".png", ".gif")), default=0)
        mb = path.stat().st_size / 2**20
        print(f"{label} state_dict: {convs} conv layers, {params / 1e6:.1f} M parameters, {mb:.0f} MB file")
        print(f"  cnnkreport inspect: {wall:.1f} s; peak memory of the largest process {peak / 2**20:.0f} MB")
        print(f"  site: {pages} pages, {len(files)} files, {size / 2**20:.1f} MB; largest picture side {largest} px")
    ok = wall <= TIME_TARGET_S and peak < MEMORY_TARGET
    print(
        f"  time {wall:.1f} s (target <= {TIME_TARGET_S:.0f} s): {'met' if wall <= TIME_TARGET_S else 'NOT met'}; "
        f"memory {peak / 2**30:.2f} GB (target < 2 GB): {'met' if peak < MEMORY_TARGET else 'NOT met'}; "
        f"pictures <= 4096 px: {'met' if largest <= 4096 else 'NOT met'}"
    )
    return ok


def main() -> None:
    names = sys.argv[1:] or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit(f"unknown model {unknown[0]!r}; choose from {', '.join(MODELS)}")
    for name in names:
        measure(name)


if __name__ == "__main__":
    main()
