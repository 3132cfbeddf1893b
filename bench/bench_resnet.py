"""`cnnkreport inspect` on a ResNet-50-shaped checkpoint: time and peak memory against 60 s and 2 GB.

The state_dict has the real layer names and shapes of torchvision's resnet50 (53 conv layers, batch-norm
parameters and buffers, the 1000-way fc; 25.6 M parameters, about 100 MB) with random weights drawn like PyTorch's
default initialisation; no torchvision needed. It is saved with torch.save(model.state_dict()) and inspected by the
real command in a subprocess, as a user would run it.

    python bench/bench_resnet.py
"""

from __future__ import annotations

import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

TIME_TARGET_S, MEMORY_TARGET = 60.0, 2 * 2**30


def resnet50_state_dict() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)

    def conv(out: int, inp: int, k: int) -> torch.Tensor:
        bound = 1 / math.sqrt(inp * k * k)
        return (torch.rand(out, inp, k, k, generator=g) * 2 - 1) * bound

    sd: dict[str, torch.Tensor] = {}

    def bn(name: str, c: int) -> None:
        sd.update(
            {
                f"{name}.weight": torch.ones(c),
                f"{name}.bias": torch.zeros(c),
                f"{name}.running_mean": torch.zeros(c),
                f"{name}.running_var": torch.ones(c),
                f"{name}.num_batches_tracked": torch.tensor(0),
            }
        )

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


def main() -> None:
    sd = resnet50_state_dict()
    convs = sum(1 for k, v in sd.items() if v.ndim == 4)
    params = sum(v.numel() for k, v in sd.items() if v.is_floating_point() and "running" not in k)
    with tempfile.TemporaryDirectory(prefix="cnnk-resnet-") as tmp:
        path = Path(tmp) / "resnet50.pt"
        torch.save(sd, path)
        del sd
        t0 = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "cnnkreport", "inspect", str(path), "--out", str(Path(tmp) / "site")],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
        if result.returncode != 0:
            sys.exit(f"inspect failed ({result.returncode}): {result.stderr.strip().splitlines()[-1]}")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # largest single process, bytes
        files = [p for p in (Path(tmp) / "site").rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        pages = sum(1 for p in files if p.suffix == ".html")
        print(
            f"ResNet-50-shaped state_dict: {convs} conv layers, {params / 1e6:.1f} M parameters, "
            f"{path.stat().st_size / 2**20:.0f} MB file"
        )
        print(f"cnnkreport inspect: {wall:.1f} s; peak memory of the largest process {peak / 2**20:.0f} MB")
        print(f"site: {pages} pages, {len(files)} files, {size / 2**20:.1f} MB")
    print(
        f"time {wall:.1f} s (target <= {TIME_TARGET_S:.0f} s): {'met' if wall <= TIME_TARGET_S else 'NOT met'}; "
        f"memory {peak / 2**30:.2f} GB (target < 2 GB): {'met' if peak < MEMORY_TARGET else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
