"""Same seed, same machine, same bytes: two builds give identical sites, file for file (no timestamps, no absolute
paths, sorted keys, stable order)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cnnkreport.cli import app


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_builds_give_the_same_bytes(quick_site: Path, tmp_path: Path) -> None:
    out, runs = tmp_path / "published", tmp_path / "elsewhere" / "runs"  # other folders, other names
    runs.parent.mkdir()
    result = CliRunner().invoke(app, ["build", "--quick", "--out", str(out), "--runs", str(runs), "--workers", "1"])
    assert result.exit_code == 0, result.output
    first, second = files(quick_site / "site"), files(out)
    assert sorted(first) == sorted(second)
    text = [name for name in first if name.endswith((".html", ".json"))]
    assert "summary.json" in text and any(name.endswith("layer.json") for name in text) and len(text) > 90
    assert [name for name in text if first[name] != second[name]] == []
    # the pictures, animations and downloads too
    assert [name for name in first if first[name] != second[name]] == []
    for name in text:
        page = second[name].decode("utf-8")
        assert str(tmp_path) not in page and str(quick_site) not in page  # no absolute paths
