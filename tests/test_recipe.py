"""The recipe check: targets and verdicts, the runs `build` adds for it, parallel training, and the recipe page."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cnnkreport.analysis import recipe
from cnnkreport.analysis.recipe import Judged, Target, met, verdict
from cnnkreport.config import PRESETS
from cnnkreport.errors import UserError
from cnnkreport.pipeline import BuildConfig, load_build_config
from cnnkreport.rundir import Run
from cnnkreport.train import train_into
from cnnkreport.workers import run_all

from .conftest import tiny


def judged(**kw: object) -> Judged:
    base = dict(
        name="r",
        path=Path("r"),
        seed=0,
        config=None,
        test_accuracy=0.97,
        kind="conv2d",
        kshape=(5, 5),
        kernels=8,
        threshold=0.73,
        hits=6,
        hits_at_init=0,
        controlled=3,
        kappa=0.55,
        median_score=0.8,
        median_score_at_init=0.5,
        claims_possible=True,
    )
    return Judged(**{**base, **kw})  # type: ignore[arg-type]


TARGET_2D = Target(min_size=5, min_kernels=8, controlled=0.375, accuracy=0.95)


def test_verdict_names_each_criterion_and_fails_on_each() -> None:
    assert met(TARGET_2D, judged())
    control = (
        "at least 38% of the kernels are hits that beat their phase-randomised surrogates and their sign-randomised "
        "ones"
    )
    assert [text for text, _ in verdict(TARGET_2D, judged())] == [
        "at least 8 first-layer kernels",
        "kernels of at least 5x5",
        "test accuracy at least 95%",
        control,
    ]
    for bad, failing in [
        (dict(kernels=4, hits=3, controlled=2), "at least 8 first-layer kernels"),
        (dict(kshape=(3, 3)), "kernels of at least 5x5"),
        (dict(test_accuracy=0.94), "test accuracy at least 95%"),
        (dict(test_accuracy=None), "test accuracy at least 95%"),
        (dict(controlled=2), control),  # 2 of 8: hits the control does not support do not count
        (dict(claims_possible=False), control),
    ]:
        j = judged(**bad)
        assert not met(TARGET_2D, j)
        assert [text for text, ok in verdict(TARGET_2D, j) if not ok] == [failing]


def test_the_targets_count_only_hits_the_control_supports() -> None:
    t = recipe.TARGETS["pulses-1d"]
    assert (t.min_kernels, t.min_size, t.controlled, t.accuracy) == (16, 15, 0.5, 0.95)
    assert recipe.TARGETS["pulses-2d"] == Target(min_size=7, min_kernels=16, controlled=0.75, accuracy=0.96)
    all_hits = judged(kind="conv1d", kshape=(15,), kernels=16, hits=16, controlled=7)  # every kernel a hit
    assert not met(t, all_hits) and met(t, judged(kind="conv1d", kshape=(15,), kernels=16, hits=10, controlled=8))
    assert [text for text, _ in verdict(t, all_hits)][1] == "kernels of at least 15 taps"


def test_check_counts_the_seeds_that_held() -> None:
    c = recipe.RecipeCheck(
        "pulses-2d",
        "pulses-2d",
        TARGET_2D,
        [judged(seed=0), judged(seed=1, controlled=2), judged(seed=2)],
        judged(name="ab", hits=2, controlled=1, kappa=0.2),
    )
    assert c.held == 2
    assert "held on 2 of 3 seeds (0, 1, 2)" in c.sentence()
    s = c.summary()
    assert s["seeds_held"] == 2 and [x["targets_met"] for x in s["seeds"]] == [True, False, True]
    assert s["ablation"]["label"] == "no weight decay" and s["ablation"]["targets_met"] is False
    json.dumps(s)  # plain data


def test_seed_and_ablation_configs() -> None:
    cfg = replace(PRESETS["pulses-2d"], seed=7)
    seeds = recipe.seed_configs(cfg, 3)
    assert [(c.seed, c.name) for c in seeds] == [(8, "pulses-2d-seed-8"), (9, "pulses-2d-seed-9")]
    # only the seed differs, and what is recorded: judged, not drawn
    assert all(replace(c, seed=7, name="pulses-2d") == recipe.judged_only(cfg) for c in seeds)
    assert all(c.train.snapshots == 2 and not c.train.test_curve for c in seeds)
    assert recipe.seed_configs(cfg, 1) == []
    ab = recipe.ablation_config("pulses-2d", cfg)
    assert ab is not None and ab.train.weight_decay == 0.0 and ab.name == "pulses-2d-no-weight-decay"
    assert ab.train.snapshots == 2 and not ab.train.test_curve
    assert replace(ab, train=cfg.train, name=cfg.name) == cfg
    assert recipe.ablation_config("seed-replica", PRESETS["seed-replica"]) is None


def test_describe_says_the_recipe() -> None:
    text = recipe.describe(PRESETS["pulses-1d"])
    assert "16 kernels of 15 taps" in text and "AdamW" in text and "weight decay 1;" in text
    assert "25 epochs of 8,000 signals of 128 samples" in text
    image = recipe.describe(PRESETS["pulses-2d"])
    assert "16 kernels of 7x7" in image and "L2 0.3 on the conv layers" in image and "weight decay" not in image
    replica = recipe.describe(PRESETS["seed-replica"])
    assert "L1 loss" in replica and "SGD" in replica and "binary images of 40x40" in replica


def test_build_checks_every_preset_with_targets() -> None:
    cfg = BuildConfig()
    assert cfg.presets == ("pulses-2d", "pulses-1d", "seed-replica")
    checks = cfg.check_configs()
    assert [name for name, *_ in checks] == ["pulses-2d", "pulses-1d"]
    for _, _main, seeds, ablation in checks:
        assert [s.seed for s in seeds] == [1, 2, 3, 4]
        assert ablation is not None and ablation.train.weight_decay == 0
    quick = BuildConfig(quick=True, seed=3).check_configs()
    assert [[s.seed for s in seeds] for _, _, seeds, _ in quick] == [[4], [4]]
    assert all(s.train.epochs == 1 for _, _, seeds, _ in quick for s in seeds)  # quick runs, like the main one
    none = BuildConfig(seeds=1, ablation=False).check_configs()
    assert all(seeds == [] and ab is None for _, _, seeds, ab in none)
    overridden = BuildConfig(overrides={"pulses-2d": {"train": {"epochs": 3}}}).check_configs()[0]
    assert overridden[1].train.epochs == 3 and all(s.train.epochs == 3 for s in overridden[2])


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("seeds = 0", "seeds must be between 1 and 20"),
        ("seeds = 21", "seeds must be between 1 and 20"),
        ('seeds = "5"', "seeds must be an integer"),
        ("workers = -1", "workers must be between 0"),
        ("seed = 4294967295\nseeds = 5", "seed + seeds must stay below 2**32"),
        ("ablation = 1", "ablation must be true or false"),
    ],
)
def test_bad_build_settings(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "build.toml"
    path.write_text(toml)
    with pytest.raises(UserError, match=re.escape(message)):
        load_build_config(path)


@pytest.mark.slow  # four trainings, two in worker processes that import torch
def test_parallel_training_equals_one_at_a_time(tmp_path: Path) -> None:
    """Two runs in two worker processes give the same kernels as the same runs one after the other, and their
    progress reaches the parent."""
    cfgs = [replace(tiny(), name="a", seed=1), replace(tiny("signal"), name="b", seed=2)]
    seen: dict[int, tuple[int, int]] = {}
    done: list[tuple[int, BaseException | None]] = []

    def progress(k: int):  # type: ignore[no-untyped-def]
        return lambda step, total: seen.__setitem__(k, (step, total))

    run_all(
        [(train_into, (c, tmp_path / "par" / c.name)) for c in cfgs],
        workers=2,
        on_step=[progress(0), progress(1)],
        on_end=lambda k, error: done.append((k, error)),
    )
    run_all([(train_into, (c, tmp_path / "seq" / c.name)) for c in cfgs], workers=1)
    assert sorted(done, key=lambda d: d[0]) == [(0, None), (1, None)]
    assert all(step == total > 0 for step, total in seen.values()) and len(seen) == 2
    for c in cfgs:
        par, seq = Run(tmp_path / "par" / c.name), Run(tmp_path / "seq" / c.name)
        assert par.snapshot_steps() == seq.snapshot_steps()
        for layer in par.layers():
            np.testing.assert_array_equal(par.read_kernels(layer.name)[1], seq.read_kernels(layer.name)[1])


@pytest.mark.slow  # worker processes that import torch
def test_parallel_training_reports_a_failed_run(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "mine.txt").write_text("not a run")
    cfgs = [replace(tiny(), name="a"), replace(tiny(), name="b")]
    with pytest.raises(UserError, match="was not made by `cnnkreport build`"):
        run_all([(train_into, (c, tmp_path / c.name)) for c in cfgs], workers=2)
    assert (tmp_path / "b" / "mine.txt").read_text() == "not a run"


def _imported(names: list[str], on_step: object = None) -> bool:
    """A job: whether the worker it runs in had imported these modules before the job began."""
    return all(name in sys.modules for name in names)


@pytest.mark.slow  # worker processes that import torch
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="elsewhere the workers are fresh interpreters")
def test_workers_begin_with_torch_and_its_optimiser_imports_done() -> None:
    """The workers fork from a server that imported the jobs' modules and torch._dynamo (which the optimisers'
    constructors import, about 1.5 s) once, instead of each worker importing them before its first step."""
    assert run_all([(_imported, (["torch", "torch._dynamo"],))] * 2, workers=2) == [True, True]


def test_quick_site_recipe_page(quick_site: Path) -> None:
    site = quick_site / "site"
    summary = json.loads((site / "summary.json").read_text())
    assert [r["name"] for r in summary["runs"]] == ["pulses-2d", "pulses-1d", "seed-replica"]
    checks = {c["run"]: c for c in summary["recipe_checks"]}
    assert sorted(checks) == ["pulses-1d", "pulses-2d"]
    html = (site / "recipe.html").read_text()
    index = (site / "index.html").read_text()
    for name, c in checks.items():
        target = recipe.TARGETS[name]
        assert [s["seed"] for s in c["seeds"]] == [0, 1]
        assert (quick_site / "runs" / "checks" / f"{name}-seed-1" / "run.json").is_file()
        # the verdicts follow from the numbers shown beside them
        for s in c["seeds"]:
            run = quick_site / "runs" / ("" if s["name"] == name else "checks") / s["name"]
            kernels = Run(run).read_meta().layers[0].shape
            ok = (
                s["test_accuracy"] >= target.accuracy
                and s["controlled_share"] >= target.controlled
                and kernels[0] >= target.min_kernels
                and min(kernels[2:]) >= target.min_size
            )
            assert s["targets_met"] == ok
            assert (site / "recipe" / f"{s['name']}.png").is_file()
        assert c["seeds_held"] == sum(s["targets_met"] for s in c["seeds"])
        assert c["holds"] == (c["seeds_held"] >= 1)  # on two seeds, all but one
        assert f"held on {c['seeds_held']} of 2 seeds (0, 1)" in html
        assert f"held on {c['seeds_held']} of 2 seeds</a>" in index
        assert c["ablation"]["name"] == f"{name}-no-weight-decay"
        assert (site / "recipe" / f"{c['ablation']['name']}.png").is_file()
    assert "seed-replica" in html and "L1 loss" in html  # shown beside the recipe, with its numbers
    methods = (site / "methods.html").read_text()
    assert 'id="recipe"' in methods and "weight decay" in methods and 'href="recipe.html"' in methods
