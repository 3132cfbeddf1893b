from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import pytest

from cnnkreport.config import PRESETS, RunConfig, load_run_config, preset
from cnnkreport.cost import training_work
from cnnkreport.errors import UserError
from cnnkreport.tomlio import dumps_toml, from_dict, read_toml, to_dict


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


def test_training_work_ranks_runs_by_what_they_cost():
    """The measure that orders build's runs (longest first): pulses-1d trains longest, then pulses-2d, then
    seed-replica (11, 9 and 5.5 s a run here, two at once); it grows with the epochs and the kernels, and a run
    without a test curve costs less."""
    work = {name: training_work(PRESETS[name]) for name in ("pulses-2d", "pulses-1d", "seed-replica")}
    assert work["pulses-1d"] > work["pulses-2d"] > work["seed-replica"]
    cfg = PRESETS["pulses-2d"]
    longer = replace(cfg, train=replace(cfg.train, epochs=2 * cfg.train.epochs))
    assert training_work(longer) == pytest.approx(2 * work["pulses-2d"], rel=0.1)
    wider = replace(cfg, model=replace(cfg.model, kernel_size=(9, 3)))
    assert training_work(wider) > work["pulses-2d"]
    assert training_work(replace(cfg, train=replace(cfg.train, test_curve=False))) < work["pulses-2d"]


def test_build_draws_its_trained_runs_once_a_core_is_free(tmp_path, monkeypatch):
    """build draws a preset's run (ready) only once fewer runs are left to train than there are workers: the
    drawing fills the cores that the last runs leave idle instead of slowing the runs that still train."""
    from cnnkreport import pipeline

    events = []

    def run_all(jobs, workers, callbacks, on_end):
        for k, (_, (rc, _)) in enumerate(jobs):
            events.append(f"trained {rc.name}")
            on_end(k, None)

    monkeypatch.setattr(pipeline, "run_all", run_all)
    rc = PRESETS["pulses-2d"]
    main = [tmp_path / "reused", tmp_path / "m1", tmp_path / "m2"]
    todo = [(replace(rc, name=n), (tmp_path / n).absolute(), None) for n in ("m1", "c1", "c2", "m2")]
    pipeline._train_here(todo, main, 2, lambda i: events.append(f"draw {main[i].name}"))
    assert events == [
        "trained m1",
        "trained c1",
        "trained c2",  # one run left to train, a core free: the runs that are ready are drawn
        "draw reused",
        "draw m1",
        "trained m2",
        "draw m2",
    ]


def test_build_starts_the_longest_runs_first(tmp_path, monkeypatch):
    from cnnkreport import pipeline

    order = []

    def run_all(jobs, workers, callbacks, **kw):
        order.extend(args[0].name for _, args in jobs)
        raise KeyboardInterrupt  # stop before anything trains

    monkeypatch.setattr(pipeline, "run_all", run_all)
    monkeypatch.setattr(pipeline, "start", lambda modules: None)
    cfg = pipeline.BuildConfig(out=str(tmp_path / "site"), runs=str(tmp_path / "runs"), seeds=2)
    with pytest.raises(KeyboardInterrupt):
        pipeline.build(cfg)
    assert order == [
        "pulses-1d",
        "pulses-1d-seed-1",
        "pulses-1d-no-weight-decay",
        "pulses-2d",
        "pulses-2d-seed-1",
        "pulses-2d-no-weight-decay",
        "seed-replica",
    ]
