from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import pytest

from cnnkreport.config import (
    PRESETS,
    RunConfig,
    dumps_toml,
    from_dict,
    load_run_config,
    preset,
    read_toml,
    to_dict,
)
from cnnkreport.errors import UserError


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_toml_round_trip(tmp_path: Path, name: str) -> None:
    cfg = PRESETS[name]
    path = tmp_path / "c.toml"
    path.write_text(dumps_toml(to_dict(cfg)))
    assert from_dict(RunConfig, read_toml(path)) == cfg


def test_partial_file_keeps_base_values(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('preset = "pulses-1d"\nseed = 7\n[train]\nepochs = 3\n')
    cfg = load_run_config(path, PRESETS["pulses-2d"])
    assert (cfg.name, cfg.seed, cfg.train.epochs, cfg.data.kind) == ("pulses-1d", 7, 3, "signal")
    assert cfg.train.lr == PRESETS["pulses-1d"].train.lr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[train]\nepochs = 0\n", "train.epochs must be between 1"),
        ("[train]\nepochs = 'ten'\n", "train.epochs must be an integer"),
        ("[train]\nloss = 'hinge'\n", "train.loss must be one of"),
        ("[train]\nlr = -1.0\n", "train.lr must be in"),
        ("[data]\nclasses = ['square', 'circle']\n", "unknown waveform 'circle'"),
        ("[data]\namplitude = [0.9, 0.1]\n", "data.amplitude must be [min, max]"),
        ("[data]\nfill = 1\n", "data.fill must be true or false"),
        ("[model]\nchannels = [8, 16]\nkernel_size = [5]\n", "one entry per conv layer"),
        ("[modle]\nhidden = 3\n", "unknown config key 'modle'"),
        ("[train]\nepochz = 3\n", "unknown config key train.'epochz'"),
        ("train = 3\n", "train must be a table"),
        ("name = '../evil'\n", "name must be"),
        ("this is not toml", "invalid TOML"),
        ("preset = 'nope'\n", "unknown preset 'nope'"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError) as e:
        load_run_config(path, PRESETS["pulses-2d"])
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_preset() -> None:
    with pytest.raises(UserError, match="unknown preset 'x'.*pulses-2d"):
        preset("x")


def test_configs_are_immutable_values() -> None:
    a = PRESETS["pulses-2d"]
    for config, field in ((a, "seed"), (a.data, "size"), (a.model, "hidden"), (a.train, "epochs")):
        with pytest.raises(FrozenInstanceError):
            setattr(config, field, 1)
    assert a.seed == 0 and PRESETS["pulses-2d"] is a  # unchanged by the attempts
    b = replace(a, seed=1)
    assert a != b and a.seed == 0 and b.seed == 1
    same = replace(a, data=replace(a.data), train=replace(a.train))  # equal, built anew
    assert same is not a and same == a and hash(same) == hash(a)
    assert {a: "x"}[same] == "x" and len({a, same, b}) == 2
