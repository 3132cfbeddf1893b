"""The command line end to end: a quick build makes a site whose pages parse and whose links and images resolve;
bad input gives exit code 2 and one line on stderr."""

from __future__ import annotations

import html.parser
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cnnkreport.cli import app


class Page(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag == "link" and a.get("href"):
            self.links.append(a["href"] or "")
        if tag == "img":
            self.images.append(a)
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


def parse(path: Path) -> Page:
    p = Page()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_quick_build_makes_a_complete_site(quick_site: Path) -> None:
    site = quick_site / "site"
    assert (site / ".nojekyll").is_file()
    pages = sorted(site.rglob("*.html"))
    names = {p.relative_to(site).as_posix() for p in pages}
    kernel_pages = {n for n in names if "/kernels/" in n}
    layers = {"pulses-2d": (16, 16), "pulses-1d": (16, 16), "seed-replica": (5, 16)}
    assert kernel_pages == {
        f"runs/{r}/{layer}/kernels/{i}.html"
        for r, sizes in layers.items()
        for layer, n in zip(("features.0", "features.3"), sizes, strict=True)
        for i in range(n)
    }
    assert names - kernel_pages == {
        "index.html",
        "methods.html",
        "recipe.html",
        "runs/seed-replica/index.html",
        "runs/seed-replica/config.html",
        "runs/seed-replica/features.0/index.html",
        "runs/seed-replica/features.3/index.html",
        "banks/2d-10x10/index.html",
        "runs/pulses-2d/index.html",
        "runs/pulses-2d/config.html",
        "runs/pulses-2d/features.0/index.html",
        "runs/pulses-2d/features.3/index.html",
        "runs/pulses-1d/index.html",
        "runs/pulses-1d/config.html",
        "runs/pulses-1d/features.0/index.html",
        "runs/pulses-1d/features.3/index.html",
        "banks/2d-7x7/index.html",
        "banks/2d-5x5/index.html",
        "banks/2d-3x3/index.html",
        "banks/1d-15/index.html",
        "banks/1d-9/index.html",
    }
    for page in pages:
        doc = parse(page)
        assert doc.title.strip()
        for img in doc.images:
            src = img["src"] or ""
            assert not re.match(r"^[a-z]+:", src) and not src.startswith("/"), src  # relative only
            target = page.parent / src
            assert target.is_file(), f"{page}: missing image {src}"
            with Image.open(target) as im:
                im.verify()
            assert (img.get("alt") or "").strip(), f"{page}: image {src} has no alt text"
        for href in doc.links:
            if href.startswith("data:"):
                continue
            assert not re.match(r"^[a-z]+:", href) and not href.startswith("/"), href
            assert (page.parent / href.split("#")[0]).exists(), f"{page}: broken link {href}"


def test_run_page_shows_the_layers_config_and_accuracy(quick_site: Path) -> None:
    page = quick_site / "site" / "runs" / "pulses-2d" / "index.html"
    text = page.read_text()
    srcs = [i["src"] for i in parse(page).images]
    for name in ["features.0/mosaic.png", "features.3/mosaic.png", "curves.png", "data.png"]:
        assert name in srcs
    assert "Final test accuracy" in text and "%" in text
    config = (page.parent / "config.html").read_text()
    assert "cnnkreport train --config config.toml --run runs/pulses-2d" in config
    for name in ["config.toml", "metrics.csv", "weights.pt"]:
        assert f'href="{name}"' in config and (page.parent / name).is_file()


@pytest.mark.parametrize("run", ["pulses-2d", "pulses-1d"])
def test_layer_pages_show_every_view(quick_site: Path, run: str) -> None:
    folder = quick_site / "site" / "runs" / run
    first = [i["src"] for i in parse(folder / "features.0" / "index.html").images]
    second = [i["src"] for i in parse(folder / "features.3" / "index.html").images]
    common = ["mosaic.png", "scores.png", "over-training.png", "matches.png", "frequency.png"]
    for name in common + ["evolution-frames.png", "matches-frames.png"]:
        assert name in first
    for name in common + ["input-space.png"]:
        assert name in second
    # the matches over training, where a match can be evidence (pulses-2d's second layer is 3x3: no claim, no film)
    claims = json.loads((folder / "features.3" / "layer.json").read_text())["match_claims_possible"]
    assert claims == (run != "pulses-2d") and ("matches-frames.png" in second) == claims
    assert (folder / "features.3" / "matches.gif").is_file() == claims
    for layer, gifs in (("features.0", ["evolution.gif", "matches.gif"]), ("features.3", ["matches.gif"] * claims)):
        html = (folder / layer / "index.html").read_text()
        for gif_name in gifs:  # the GIFs are downloads, never shown looping on the page
            assert f'href="{gif_name}"' in html and (folder / layer / gif_name).is_file()
            assert f'src="{gif_name}"' not in html
    if run == "pulses-2d":
        assert "feature-maps.png" in first
    else:
        assert "signals.png" in first and "channels.png" in second and "channels-combined.png" in second
    gif = Image.open(folder / "features.0" / "evolution.gif")
    assert gif.n_frames > 5  # the kernels evolve from initialisation to the end
    text = (folder / "features.0" / "index.html").read_text()
    assert "random kernels" in text and "at initialisation" in text  # every claim beside its baselines


def test_summary_json_follows_the_contract(quick_site: Path) -> None:
    summary = json.loads((quick_site / "site" / "summary.json").read_text())
    assert summary["version"] == 1
    assert [r["name"] for r in summary["runs"]] == ["pulses-2d", "pulses-1d", "seed-replica"]
    for run in summary["runs"]:
        assert run["source"] == "train" and 0 <= run["test_accuracy"] <= 1
        assert [layer["name"] for layer in run["layers"]] == ["features.0", "features.3"]
        for layer in run["layers"]:
            for key in [
                "kind",
                "shape",
                "null_threshold",
                "hit_rate",
                "hit_rate_at_init",
                "median_score",
                "median_score_at_init",
                "kappa",
                "match_claims_possible",
                "kernels",
            ]:
                assert key in layer
            assert layer["kind"] in ("conv1d", "conv2d")
            assert 0 < layer["null_threshold"] < 1
            if layer["match_claims_possible"]:
                assert 0 <= layer["hit_rate_controlled"] <= layer["hit_rate_phase_controlled"] <= layer["hit_rate"] <= 1
            else:  # no number that reads as a result
                assert layer["hit_rate"] is None and layer["kappa"] is None
            assert len(layer["kernels"]) == layer["shape"][0]
            k = layer["kernels"][0]
            filter_keys = {"peak_frequency", "bandwidth", "filter_type", "peak_frequency_hz", "bandwidth_hz"}
            assert set(k) == {"index", "score", "score_at_init", "best_match"} | filter_keys
            assert set(k["best_match"]) == {"name", "family", "orientation_deg", "scale"}
            assert k["peak_frequency_hz"] is None and k["bandwidth_hz"] is None  # a run trained here: no sample rate
            if layer["kind"] == "conv1d":
                assert 0 <= k["peak_frequency"] <= 0.5 and 0 < k["bandwidth"] <= 0.5
                assert k["filter_type"] in ("low-pass", "high-pass", "band-pass", "band-stop", "all-pass", "zero")
            else:
                assert k["peak_frequency"] is None and k["bandwidth"] is None and k["filter_type"] is None
    detail = json.loads((quick_site / "site" / "runs" / "pulses-1d" / "features.0" / "layer.json").read_text())
    kernel = detail["kernels"][0]
    assert np.array(kernel["weights"]).shape == (1, 15)
    assert len(kernel["best_matches"]) == 3 and len(kernel["score_over_snapshots"]) == len(detail["steps"])
    assert len(kernel["frequency_response"]["magnitude_db"]) == len(detail["frequency_response_axis"])


def test_methods_and_bank_pages(quick_site: Path) -> None:
    methods = (quick_site / "site" / "methods.html").read_text()
    assert "99th percentile" in methods and "phase-randomised" in methods and "kappa" in methods
    bank_page = quick_site / "site" / "banks" / "2d-5x5" / "index.html"
    srcs = [i["src"] for i in parse(bank_page).images]
    assert "edge.png" in srcs and "line.png" in srcs and "blob.png" in srcs


def test_build_reuses_finished_runs(quick_site: Path) -> None:
    runs = quick_site / "runs"
    before = (runs / "pulses-2d" / "weights.pt").stat().st_mtime_ns
    result = CliRunner().invoke(app, ["build", "--quick", "--out", str(quick_site / "site"), "--runs", str(runs)])
    assert result.exit_code == 0, result.output
    assert "reused 7 finished runs with the same config" in result.output  # 3 presets, 2 seeds, 2 ablations
    assert "train " not in result.output
    assert (runs / "pulses-2d" / "weights.pt").stat().st_mtime_ns == before


def test_render_from_runs(quick_site: Path, tmp_path: Path, runner: CliRunner) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["render", str(quick_site / "runs" / "pulses-1d"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "runs" / "pulses-1d" / "features.0" / "evolution.gif").is_file()
    assert "pulses-2d" not in (out / "index.html").read_text()


def test_data_command_writes_a_montage(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(app, ["data", "--preset", "pulses-1d", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "pulses-1d-montage.png") as im:
        assert im.width > 300 and im.height > 300


def test_train_command_and_resume(tmp_path: Path, runner: CliRunner) -> None:
    run = tmp_path / "r"
    args = ["train", "--preset", "pulses-1d", "--quick", "--run", str(run)]
    assert runner.invoke(app, args).exit_code == 0
    assert (run / "weights.pt").is_file() and (run / "config.toml").is_file()
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output
    assert runner.invoke(app, [*args, "--resume"]).exit_code == 0


def _unwritable(tmp_path: Path) -> Path:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # root ignores permissions: use a place no one can create folders in
        return Path("/proc")
    return folder


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "--quick", "--config", "{bad_config}"], "train.epochs must be between 1"),
        (["train", "--preset", "nope", "--run", "{tmp}/r"], "unknown preset 'nope'"),
        (["data", "--preset", "nope"], "unknown preset 'nope'"),
        (["build", "--quick", "--out", "{file}"], "exists and is a file"),
        (["build", "--quick", "--out", "{unwritable}/site"], "cannot write the site"),
        (["build", "--quick", "--out", "{foreign}"], "not made by cnnkreport"),
        (["build", "--quick", "--config", "{tmp}/missing.toml"], "config file not found"),
        (["build", "--device", "tpu"], "device must be one of"),
        (["train", "--run", "{tmp}/r", "--config", "{bad_config}"], "train.epochs must be between 1"),
        (["render", "{tmp}"], "not a run folder"),
        (["data", "--out", "{file}"], "exists and is a file"),
        # inspect's arguments are checked before its files are read (m.pt does not exist), by the library function
        # that the API's Report.save calls too (test_inspect: the same messages through the API)
        (["inspect", "{tmp}/m.pt", "--sample-rate", "-1"], "--sample-rate must be a positive number of Hz, got -1.0"),
        (["inspect", "{tmp}/m.pt", "--sample-rate", "abc"], "--sample-rate must be a positive number of Hz, got 'abc'"),
        (["inspect", "{tmp}/m.pt", "--layers", "("], "--layers is not a valid regular expression"),
        (["inspect", "{tmp}/m.pt", "--out", "{file}"], "exists and is a file"),
        (["inspect", "{tmp}/m.pt", "--out", "{foreign}"], "not made by cnnkreport"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text("[overrides.pulses-2d.train]\nepochs = 0\n")
    if "train" in args:
        (tmp_path / "bad.toml").write_text("[train]\nepochs = 0\n")
    (tmp_path / "afile").write_text("keep me")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "thesis.tex").write_text("keep me")
    subst = {
        "{tmp}": str(tmp_path),
        "{bad_config}": str(tmp_path / "bad.toml"),
        "{file}": str(tmp_path / "afile"),
        "{foreign}": str(tmp_path / "foreign"),
    }
    if any("{unwritable}" in a for a in args):
        subst["{unwritable}"] = str(_unwritable(tmp_path))
    for k, v in subst.items():
        args = [a.replace(k, v) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert (tmp_path / "afile").read_text() == "keep me"
    assert (tmp_path / "foreign" / "thesis.tex").read_text() == "keep me"
    assert not (tmp_path / "runs").exists()  # bad input is caught before any training


def test_a_failed_render_leaves_the_previous_site(quick_site: Path, tmp_path: Path, runner: CliRunner) -> None:
    site = tmp_path / "site"
    assert runner.invoke(app, ["render", str(quick_site / "runs" / "pulses-2d"), "--out", str(site)]).exit_code == 0
    before = (site / "index.html").read_text()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    result = runner.invoke(app, ["render", str(quick_site / "runs" / "pulses-2d"), str(broken), "--out", str(site)])
    assert result.exit_code == 2 and "corrupt run.json" in result.stderr
    assert (site / "index.html").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "site"]  # no temp folder left behind


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("cnnkreport ")


def test_pack_commands(quick_site: Path, tmp_path: Path, runner: CliRunner) -> None:
    site = str(quick_site / "site")
    result = runner.invoke(app, ["pack", site, "--out", str(tmp_path / "hand-in.html")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "hand-in.html").read_text()
    assert text.count('class="pack-page"') >= 10 and "data-player" in text
    assert re.search(r'<a href="data:image/gif;base64,[^"]+" download="evolution.gif"', text)  # a GIF to download
    assert runner.invoke(app, ["pack", site, "--format", "zip", "--out", str(tmp_path / "s.zip")]).exit_code == 0
    assert (tmp_path / "s.zip").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pack", "{site}", "--format", "tar"], "--format must be html or zip"),
        (["pack", "{tmp}/nope"], "does not exist"),
        (["pack", "{tmp}"], "not a site made by cnnkreport"),
        (["serve", "{tmp}/nope"], "does not exist"),
        (["serve", "{site}", "--port", "70000"], "65535"),
    ],
)
def test_pack_and_serve_bad_input(
    quick_site: Path, tmp_path: Path, runner: CliRunner, args: list[str], message: str
) -> None:
    args = [a.replace("{site}", str(quick_site / "site")).replace("{tmp}", str(tmp_path)) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.output, result.output
