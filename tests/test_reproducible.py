"""Same seed, same machine, same site: two builds give identical sites, file for file (no timestamps, no absolute
paths, sorted keys, stable order). Text and other files are compared byte for byte; pictures (PNG, GIF) by what they
show, since an encoder may change its bytes for the same pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence
from typer.testing import CliRunner

from cnnkreport.cli import app

pytestmark = pytest.mark.slow  # the quick site, and a second build of it

PICTURES = (".png", ".gif")
TEXT = (".html", ".json", ".csv", ".toml", ".css", ".js", ".svg", ".txt")


Shown = tuple[int, list[tuple[tuple[int, int], bytes, object]]]  # frame count; each frame's size, RGBA, duration


def shown(path: Path) -> Shown:
    """What a PNG or GIF shows: its frame count, and each frame as RGBA pixels with how long it stays."""
    with Image.open(path) as im:
        frames = [
            (f.size, np.asarray(f.convert("RGBA")).tobytes(), f.info.get("duration"))
            for f in ImageSequence.Iterator(im)
        ]
        return getattr(im, "n_frames", 1), frames


def files(folder: Path) -> dict[str, bytes | Shown]:
    """Every file by its path in the folder: pictures as what they show, anything else as its bytes."""
    return {
        p.relative_to(folder).as_posix(): shown(p) if p.suffix.lower() in PICTURES else p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_two_builds_give_the_same_site(quick_site: Path, tmp_path: Path) -> None:
    out, runs = tmp_path / "published", tmp_path / "elsewhere" / "runs"  # other folders, other names
    runs.parent.mkdir()
    result = CliRunner().invoke(app, ["build", "--quick", "--out", str(out), "--runs", str(runs), "--workers", "1"])
    assert result.exit_code == 0, result.output
    first, second = files(quick_site / "site"), files(out)
    assert sorted(first) == sorted(second)
    text = [name for name in first if name.endswith(TEXT)]
    assert "summary.json" in text and any(name.endswith("layer.json") for name in text) and len(text) > 90
    assert [name for name in text if first[name] != second[name]] == []
    pictures = [name for name in first if name.endswith(PICTURES)]
    assert any(name.endswith(".gif") and first[name][0] > 1 for name in pictures)  # animations among them
    assert [name for name in pictures if first[name] != second[name]] == []  # the same pixels, frames and timing
    assert [name for name in first if first[name] != second[name]] == []  # and downloads (weights.pt) byte for byte
    for name in text:
        data = second[name]
        assert isinstance(data, bytes)
        page = data.decode("utf-8")
        assert str(tmp_path) not in page and str(quick_site) not in page  # no absolute paths
