"""`cnnkreport build --data`: one run on a user's own data set (small files written here, read through
userdata.read_dataset), recorded, analysed and published like a preset's; its config reproduces it; bad data writes
nothing; an archive data set's run page shows the published figures beside its own."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cnnkreport.cli import app
from cnnkreport.config import (
    PRESETS,
    USER_SERIES,
    DataConfig,
    RunConfig,
    config_dict,
    load_run_config,
    user_epochs,
    user_run,
    with_data_facts,
)
from cnnkreport.data import make_dataset
from cnnkreport.errors import UserError
from cnnkreport.model import FCN, conv_layers, make_model
from cnnkreport.pipeline import load_build_config
from cnnkreport.rundir import LayerInfo, Run, RunMeta
from cnnkreport.site import published
from cnnkreport.tomlio import dumps_toml
from cnnkreport.userdata import DataSource, read_dataset

pytestmark = pytest.mark.slow  # each build trains and draws a run (10-30 s)


def series(n: int, length: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes that a first layer can tell apart: a rising step and a falling one, at random places, in noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.arange(length)
    where = rng.integers(length // 4, 3 * length // 4, size=n)
    x = np.where(t[None, :] >= where[:, None], 1.0, -1.0) * np.where(y == 0, 1.0, -1.0)[:, None]
    return (x + rng.normal(0, 0.2, x.shape)).astype(np.float32), y


def write_npz(path: Path, n: int = 40) -> Path:
    x, y = series(n)
    np.savez(path, x=x, y=np.array(["up", "down"])[y])
    return path


def write_ts(path: Path, name: str, n: int, seed: int) -> Path:
    x, y = series(n, 24, seed)
    lines = [
        f"@problemName {name}",
        "@timeStamps false",
        "@univariate true",
        "@equalLength true",
        "@classLabel true 1 2",
    ]
    lines += ["@data", *(",".join(f"{v:.4f}" for v in row) + f":{label + 1}" for row, label in zip(x, y, strict=True))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build(runner: CliRunner, root: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["build", "--quick", "--out", str(root / "site"), "--runs", str(root / "runs"), *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def npz_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`build --data steps.npz --quick`: no test file, so a stratified share is held out."""
    root = tmp_path_factory.mktemp("npz")
    code, out = build(CliRunner(), root, "--data", str(write_npz(root / "steps.npz")))
    assert code == 0, out
    return root


def test_a_user_run_is_recorded_analysed_and_published(npz_site: Path) -> None:
    summary = json.loads((npz_site / "site" / "summary.json").read_text(encoding="utf-8"))
    (run,) = summary["runs"]
    assert run["name"] == "steps" and run["source"] == "train"
    assert [layer["name"] for layer in run["layers"]] == ["features.0", "features.3", "features.6"]
    first = run["layers"][0]
    assert first["shape"] == [32, 1, 9] and first["match_claims_possible"] is True  # 9 taps: claims are possible
    data = run["data"]
    assert data["format"] == "npz" and data["kind"] == "signal" and data["file"].endswith("steps.npz")
    assert (data["n_train"], data["n_test"], data["length"], data["channels"]) == (32, 8, 32, 1)
    assert sorted(data["classes"]) == ["down", "up"] and data["test_file"] is None
    assert "stratified" in data["split"] and data["published"] is None
    page = (npz_site / "site" / "runs" / "steps" / "index.html").read_text(encoding="utf-8")
    assert 'id="data"' in page and "stratified 20%" in page and "no test file was given" in page
    assert "published" not in page.lower().split('id="data"')[1].split("</section>")[0]
    assert "What a hit means on real data" in (npz_site / "site" / "methods.html").read_text(encoding="utf-8")


def test_the_run_folder_holds_the_data_source_and_only_conv_snapshots(npz_site: Path) -> None:
    run = Run(npz_site / "runs" / "steps")
    meta = run.read_meta()
    assert meta.data is not None and meta.data.format == "npz" and meta.kind == "signal"
    assert [li.name for li in meta.layers] == ["features.0", "features.3", "features.6"]
    snap = run.read_snapshot(0)
    assert set(snap) == {"features.0", "features.3", "features.6"}  # conv weights only, no batch norm
    weights = torch.load(run.weights_path, weights_only=True)
    assert "features.1.running_mean" in weights  # the batch norms are in the model, and in its weights


def test_the_runs_config_reproduces_it(npz_site: Path, tmp_path: Path) -> None:
    """`cnnkreport train --config runs/NAME/config.toml` trains the same run: same config, same weights."""
    first = Run(npz_site / "runs" / "steps")
    text = first.config_path.read_text(encoding="utf-8")
    assert re.search(r'^path = ".*steps\.npz"$', text, re.MULTILINE) and 'arch = "fcn"' in text
    assert "amplitude" not in text  # the waveforms' settings are not a user's data set's
    again = tmp_path / "again"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as build trains (workers.one_thread): the same sums in the same order
    try:
        result = CliRunner().invoke(app, ["train", "--config", str(first.config_path), "--run", str(again)])
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    assert Run(again).config_path.read_text(encoding="utf-8") == text
    a = torch.load(first.weights_path, weights_only=True)
    b = torch.load(Run(again).weights_path, weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert Run(again).read_meta().test_accuracy == first.read_meta().test_accuracy


def test_an_archive_data_set_shows_the_published_figures(tmp_path: Path) -> None:
    """A file that says it is GunPoint gets the archive's figures beside its own, marked not comparable when its
    split is not the archive's (50 and 150 series)."""
    train = write_ts(tmp_path / "GunPoint_TRAIN.ts", "GunPoint", 20, 0)
    test = write_ts(tmp_path / "GunPoint_TEST.ts", "GunPoint", 10, 1)
    code, out = build(CliRunner(), tmp_path, "--data", str(train), "--test", str(test), "--name", "gp")
    assert code == 0, out
    (run,) = json.loads((tmp_path / "site" / "summary.json").read_text(encoding="utf-8"))["runs"]
    assert run["name"] == "gp" and run["data"]["name"] == "GunPoint" and run["data"]["split"] == "the test file"
    p = run["data"]["published"]
    assert p["data_set"] == "GunPoint" and p["comparable"] is False
    assert p["accuracy"]["1nn_euclidean"] == pytest.approx(1 - 0.0867) and p["accuracy"]["fcn"] == 1.0
    assert set(p["sources"]) == {"ucr2018", "wang2017"}
    page = (tmp_path / "site" / "runs" / "gp" / "index.html").read_text(encoding="utf-8")
    assert "Beside the published results on GunPoint" in page and "Not the archive's test set" in page
    assert "91.3%" in page and "90.7%" in page and "100.0%" in page  # 1-NN ED, 1-NN DTW (full window), FCN


def test_an_image_folder_trains_a_conv2d_fcn(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for label, row in (("bars", True), ("columns", False)):
        (tmp_path / "img" / label).mkdir(parents=True)
        for i in range(12):
            a = np.zeros((12, 12), np.uint8)
            k = rng.integers(2, 10)
            if row:
                a[k, :] = 255
            else:
                a[:, k] = 255
            Image.fromarray(a).save(tmp_path / "img" / label / f"{i}.png")
    code, out = build(CliRunner(), tmp_path, "--data", str(tmp_path / "img"), "--name", "lines")
    assert code == 0, out
    (run,) = json.loads((tmp_path / "site" / "summary.json").read_text(encoding="utf-8"))["runs"]
    assert run["layers"][0]["kind"] == "conv2d" and run["layers"][0]["shape"] == [32, 1, 5, 5]
    assert run["data"]["kind"] == "image" and run["data"]["image_size"] == [12, 12] and run["data"]["length"] is None
    page = (tmp_path / "site" / "runs" / "lines" / "index.html").read_text(encoding="utf-8")
    assert "12 x 12 pixels" in page


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"not a zip", "npz"), (None, "no such file")],
)
def test_bad_data_is_one_line_and_writes_nothing(tmp_path: Path, content: bytes | None, why: str) -> None:
    data = tmp_path / "bad.npz"
    if content is not None:
        data.write_bytes(content)
    result = CliRunner().invoke(
        app, ["build", "--data", str(data), "--out", str(tmp_path / "s"), "--runs", str(tmp_path / "r")]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "bad.npz" in lines[0], lines
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()


def test_the_data_options_need_data(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["build", "--test", "t.ts", "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and "need --data" in result.output
    result = CliRunner().invoke(app, ["build", "--data", "x.ts", "--name", "../up", "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and "--name must be" in result.output


def test_a_build_config_file_names_the_data_set_in_its_data_table(tmp_path: Path) -> None:
    path = tmp_path / "build.toml"
    path.write_text('[data]\ntrain = "a.ts"\ntest = "b.ts"\nname = "mine"\n', encoding="utf-8")
    cfg = load_build_config(path, {"train": None, "test": "c.ts", "name": None, "label_column": None})
    assert (cfg.data.train, cfg.data.test, cfg.data.name) == ("a.ts", "c.ts", "mine")  # the option wins
    path.write_text('[data]\ntrian = "a.ts"\n', encoding="utf-8")
    with pytest.raises(UserError, match="unknown config key data.'trian'"):
        load_build_config(path)


def test_the_recipe_is_one_for_every_data_set() -> None:
    """Epochs follow from the data set's size: about 3,000 steps of 16, fewer where long series would cost more
    than 20 million values; the network is the same FCN."""
    facts = {"channels": 1, "classes": ("a", "b"), "n_test": 10}
    gunpoint = with_data_facts(DataConfig(path="g.ts"), kind="signal", size=150, n_train=50, **facts)
    assert user_epochs(gunpoint) == 750  # 4 batches an epoch
    long = with_data_facts(DataConfig(path="a.ts"), kind="signal", size=1460, n_train=100, **facts)
    assert user_epochs(long) == 122  # 856 steps of 7 batches
    big = with_data_facts(DataConfig(path="b.ts"), kind="signal", size=96, n_train=9000, **facts)
    assert user_epochs(big) == 5
    rc = user_run("g", gunpoint)
    assert rc.model == USER_SERIES and rc.model.channels[0] >= 16 and rc.model.kernel_size[0] >= 9
    assert (rc.train.optimizer, rc.train.lr, rc.train.batch_size, rc.train.schedule) == ("adam", 1e-3, 16, "cosine")


def test_a_presets_config_file_reads_as_before() -> None:
    """The keys of a user's data set and the FCN are left out of a preset's config.toml; every config reads back."""
    for cfg in PRESETS.values():
        d = config_dict(cfg)
        assert not {"path", "test_path", "label_column", "channels"} & set(d["data"]) and "arch" not in d["model"]
    data = with_data_facts(
        DataConfig(path="x.npz"), kind="signal", size=40, channels=3, classes=("a", "b"), n_train=8, n_test=2
    )
    for cfg in (*PRESETS.values(), user_run("x", data)):
        path_text = dumps_toml(config_dict(cfg))
        assert _read_back(path_text) == cfg


def _read_back(text: str) -> RunConfig:
    import tomllib

    from cnnkreport.tomlio import from_dict

    return from_dict(RunConfig, tomllib.loads(text))


def test_config_checks_for_a_users_data_set(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[data]\npath = "x.npz"\n', encoding="utf-8")
    with pytest.raises(UserError, match="model.arch 'pulsenet'"):
        load_run_config(path, PRESETS["pulses-1d"])
    path.write_text('[data]\ntest_path = "x.npz"\n', encoding="utf-8")
    with pytest.raises(UserError, match="need data.path"):
        load_run_config(path, PRESETS["pulses-1d"])
    path.write_text('[model]\narch = "resnet"\n', encoding="utf-8")
    with pytest.raises(UserError, match="model.arch must be one of pulsenet, fcn"):
        load_run_config(path, PRESETS["pulses-1d"])


def test_the_fcn_pools_globally_and_has_batch_norm() -> None:
    data = DataConfig(path="x", kind="signal", size=50, channels=3, classes=("a", "b", "c"))
    model = make_model(USER_SERIES, data)
    assert isinstance(model, FCN) and list(conv_layers(model)) == ["features.0", "features.3", "features.6"]
    assert model(torch.zeros(2, 3, 50)).shape == (2, 3) and model(torch.zeros(2, 3, 7)).shape == (2, 3)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()) == 3
    images = make_model(replace(USER_SERIES, kernel_size=(5, 3, 3)), replace(data, kind="image", size=8))
    assert images(torch.zeros(2, 3, 8, 6)).shape == (2, 3)


def test_the_data_source_round_trips_through_run_json(tmp_path: Path) -> None:
    x, y = series(20)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    source = read_dataset(tmp_path / "d.npz").source
    meta = RunMeta("r", "train", "complete", 3, (LayerInfo("features.0", "conv1d", (32, 1, 9)),), 0.5, data=source)
    run = Run(tmp_path / "run")
    run.path.mkdir()
    run.write_meta(meta)
    assert run.read_meta() == meta and isinstance(run.read_meta().data, DataSource)
    d = json.loads(run.meta_path.read_text(encoding="utf-8"))
    d["data"]["n_test"] = "ten"
    run.meta_path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(UserError, match=r"corrupt run.json \('data'"):
        run.read_meta()


def test_make_dataset_reads_a_users_file(tmp_path: Path) -> None:
    write_npz(tmp_path / "d.npz", 30)
    ds = make_dataset(DataConfig(path=str(tmp_path / "d.npz")), seed=0)
    assert ds.source is not None and ds.x_train.shape[1:] == (1, 32) and len(ds.y_train) + len(ds.y_test) == 30


def test_the_published_table_is_the_archives() -> None:
    """The figures as DataSummary.csv (UCR 2018) and Wang et al. give them; no other data set is guessed at."""
    gp = published.lookup("gunpoint")
    assert gp is not None and (gp.ed, gp.dtw_full, gp.fcn) == (0.0867, 0.0933, 0.0)
    assert published.lookup("OSULeaf").dtw_learned == 0.3884  # type: ignore[union-attr]
    assert published.lookup("BasicMotions") is None and published.lookup(None) is None
    context = published.context("GunPoint", 50, 150)
    assert context is not None and context.comparable
    assert not published.context("GunPoint", 40, 10).comparable  # type: ignore[union-attr]
