import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnkreport.analysis import recipe
from cnnkreport.errors import UserError
from cnnkreport.model import MaxPool2x, PulseNet, conv_layers
from cnnkreport.rundir import Run
from cnnkreport.train import centre_distance, snapshot_schedule, train

from .conftest import tiny


class Interrupt(Exception):
    pass


def test_schedule_is_dense_early_and_covers_the_run() -> None:
    s = snapshot_schedule(1000, 60)
    assert s[0] == 0 and s[-1] == 1000 and s == sorted(set(s))
    assert 40 <= len(s) <= 60
    early = sum(1 for x in s if x <= 100)
    late = sum(1 for x in s if x > 900)
    assert early > 3 * late  # dense while kernels change fast
    assert max(np.diff(s)) <= 1000 / 25  # and never a long gap later
    assert snapshot_schedule(1000, 2) == snapshot_schedule(1000, 3) == [0, 1000]


@pytest.mark.parametrize(("kind", "epochs"), [("image", 4), pytest.param("signal", 12, marks=pytest.mark.slow)])
def test_loss_goes_down_and_snapshots_round_trip(tmp_path: Path, kind: str, epochs: int) -> None:
    cfg = tiny(kind, epochs=epochs, weight_decay=0.0, l2_conv=0.0, l2_centre=0.0)  # the loop, not the recipe's decay
    result = train(cfg, tmp_path / "run")
    run = Run(tmp_path / "run")
    rows = [r for r in run.read_metrics() if r["loss"] is not None]
    first, last = np.mean([r["loss"] for r in rows[:5]]), np.mean([r["loss"] for r in rows[-5:]])
    assert last < 0.8 * first

    meta = run.read_meta()
    assert meta.status == "complete" and meta.source == "train"
    assert meta.test_accuracy == result.test_accuracy and result.test_accuracy > 0.4
    steps = run.snapshot_steps()
    assert steps[0] == 0 and steps[-1] == result.steps and len(steps) >= 8

    # step 0 is the initialisation: the same seed gives the same fresh model
    torch.manual_seed(cfg.seed)
    fresh = PulseNet(cfg.model, cfg.data)
    init = run.read_snapshot(0)
    final_state = torch.load(run.weights_path, weights_only=True)
    final = run.read_snapshot(steps[-1])
    assert [li.name for li in run.layers()] == list(conv_layers(fresh)) == sorted(init)
    for name, conv in conv_layers(fresh).items():
        assert np.array_equal(init[name], conv.weight.detach().numpy())
        assert np.array_equal(final[name], final_state[f"{name}.weight"].numpy())
        assert not np.array_equal(init[name], final[name])
    assert not run.resume_path.exists()


@pytest.mark.slow  # three trainings; test_cli's test_train_command_and_resume is the fast one
def test_resume_after_interruption_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    cfg = tiny("image", epochs=3)
    reference = train(cfg, tmp_path / "ref")

    def stop_at(step: int, total: int) -> None:
        if step == 13:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(cfg, tmp_path / "cut", on_step=stop_at)
    cut = Run(tmp_path / "cut")
    assert cut.read_meta().status == "running" and cut.resume_path.exists()
    with pytest.raises(UserError, match="already exists"):
        train(cfg, tmp_path / "cut")  # never silently overwrites

    resumed = train(cfg, tmp_path / "cut", resume=True)
    ref = Run(tmp_path / "ref")
    assert resumed.test_accuracy == reference.test_accuracy
    assert cut.snapshot_steps() == ref.snapshot_steps()
    for step in ref.snapshot_steps():
        a, b = ref.read_snapshot(step), cut.read_snapshot(step)
        assert all(np.array_equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in cut.read_metrics()] == [r["loss"] for r in ref.read_metrics()]
    assert cut.read_meta().status == "complete"
    again = train(cfg, tmp_path / "cut", resume=True)  # resuming a finished run changes nothing
    assert again.steps == reference.steps


def test_a_judged_only_run_trains_the_same_weights_and_records_less(tmp_path: Path) -> None:
    """The recipe check's runs (recipe.judged_only): two snapshots and one test, after training; the weights, the
    losses and the test accuracy are the full run's, bit for bit."""
    cfg = tiny("image", epochs=2)
    full, lean = train(cfg, tmp_path / "full"), train(recipe.judged_only(cfg), tmp_path / "lean")
    a, b = Run(tmp_path / "full"), Run(tmp_path / "lean")
    sa, sb = torch.load(a.weights_path, weights_only=True), torch.load(b.weights_path, weights_only=True)
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert lean.test_accuracy == full.test_accuracy == b.read_meta().test_accuracy
    assert b.snapshot_steps() == [0, lean.steps] and len(a.snapshot_steps()) > 2
    for step in b.snapshot_steps():
        x, y = a.read_snapshot(step), b.read_snapshot(step)
        assert all(np.array_equal(x[k], y[k]) for k in x)
    ma, mb = a.read_metrics(), b.read_metrics()
    assert [r["loss"] for r in ma] == [r["loss"] for r in mb]
    tested = [r["step"] for r in mb if r["test_accuracy"] is not None]
    assert tested == [lean.steps] and mb[-1]["test_accuracy"] == full.test_accuracy
    assert sum(r["test_accuracy"] is not None for r in ma) > 2


def test_resume_needs_a_run(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nothing to resume"):
        train(tiny(), tmp_path / "none", resume=True)


@pytest.mark.parametrize("loss", ["l1", "mse"])
def test_regression_losses_train(tmp_path: Path, loss: str) -> None:
    result = train(tiny("signal", loss=loss, optimizer="sgd", lr=0.05), tmp_path / loss)
    assert result.test_accuracy is not None and result.steps == 16
    losses = [r["loss"] for r in Run(tmp_path / loss).read_metrics() if r["loss"] is not None]
    assert len(losses) == 16 and all(math.isfinite(v) for v in losses)
    first, last = sum(losses[:4]) / 4, sum(losses[-4:]) / 4
    assert last < 0.95 * first, f"the {loss} loss did not go down: {first:.3f} over the first 4 steps, {last:.3f} last"


def test_crash_between_snapshot_and_state_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Snapshots newer than the resume state (a kill after the chunk was written, before resume.pt) are dropped
    and written again, so the resumed run has each snapshot exactly once."""
    import cnnkreport.train as train_module

    cfg = tiny("signal", epochs=3)
    train(cfg, tmp_path / "ref")
    real = train_module.atomic_write
    calls = {"n": 0}

    def failing(path: Path, write: object) -> None:
        if path.name == "resume.pt":
            calls["n"] += 1
            if calls["n"] == 4:
                raise Interrupt
        real(path, write)  # type: ignore[arg-type]

    monkeypatch.setattr(train_module, "atomic_write", failing)
    with pytest.raises(Interrupt):
        train(cfg, tmp_path / "cut")
    monkeypatch.setattr(train_module, "atomic_write", real)
    cut, ref = Run(tmp_path / "cut"), Run(tmp_path / "ref")
    state_step = torch.load(cut.resume_path, weights_only=True)["step"]
    assert max(cut.snapshot_steps()) > state_step  # the chunk outran the state
    train(cfg, tmp_path / "cut", resume=True)
    assert cut.snapshot_steps() == ref.snapshot_steps()
    for layer in ref.layers():
        assert np.array_equal(cut.read_kernels(layer.name)[1], ref.read_kernels(layer.name)[1])


@pytest.mark.parametrize("penalty", ["l1_first", "l2_first"])
def test_first_layer_penalties_shrink_the_first_layer_only(tmp_path: Path, penalty: str) -> None:
    """train.l1_first / train.l2_first penalise the first conv layer's weights and no other; the metrics keep
    reporting the task's loss."""
    plain = train(tiny(weight_decay=0.0, l2_conv=0.0, l2_centre=0.0, epochs=6), tmp_path / "plain")
    strong = train(tiny(weight_decay=0.0, l2_conv=0.0, l2_centre=0.0, epochs=6, **{penalty: 5.0}), tmp_path / "strong")
    first, second = (
        [r.run.read_snapshot(r.run.snapshot_steps()[-1])[name] for name in ("features.0", "features.3")]
        for r in (plain, strong)
    )
    assert np.abs(second[0]).sum() < 0.8 * np.abs(first[0]).sum()  # the first layer shrinks
    assert np.abs(second[1]).sum() > 0.9 * np.abs(first[1]).sum()  # the second does not
    rows = strong.run.read_metrics()
    assert all(r["loss"] is None or r["loss"] < 5.0 for r in rows)  # the task's loss, not loss + penalty
    with pytest.raises(UserError, match=f"train.{penalty} must be in"):
        tiny(**{penalty: -1.0})


@pytest.mark.parametrize("kind", ["image", "signal"])
def test_centre_penalty_gathers_the_first_layer_near_its_centre(tmp_path: Path, kind: str) -> None:
    """train.l2_centre: an L2 penalty on the first layer, 0 at the kernel's centre and growing with the distance
    from it, so the weights far from the centre shrink and the centre keeps its weight; the second layer is left
    alone."""
    plain = train(tiny(kind, weight_decay=0.0, l2_conv=0.0, l2_centre=0.0, epochs=10), tmp_path / "plain")
    strong = train(tiny(kind, weight_decay=0.0, l2_conv=0.0, l2_centre=10.0, epochs=10), tmp_path / "strong")
    first, second = (
        [r.run.read_snapshot(r.run.snapshot_steps()[-1])[name] for name in ("features.0", "features.3")]
        for r in (plain, strong)
    )
    d = centre_distance(first[0].shape[2:], torch.zeros(1)).numpy()
    far, near = d >= 1.0, d <= 0.25

    def share(w: np.ndarray, where: np.ndarray) -> float:
        return float(np.square(w[..., where]).sum() / np.square(w).sum())

    assert share(second[0], far) < 0.7 * share(first[0], far)  # the weight far from the centre shrinks
    assert share(second[0], near) > share(first[0], near)
    assert np.abs(second[1]).sum() > 0.8 * np.abs(first[1]).sum()  # the second layer keeps its weight
    with pytest.raises(UserError, match="train.l2_centre must be in"):
        tiny(l2_centre=-1.0)


def test_centre_distance_is_zero_at_the_centre_and_one_at_the_edges() -> None:
    d = centre_distance((7, 5), torch.zeros(1))
    assert d[3, 2] == 0 and d[0, 2] == 1 and d[3, 0] == 1 and d[0, 0] == 2 and d.shape == (7, 5)
    assert torch.equal(centre_distance((15,), torch.zeros(1))[[0, 7, 14]], torch.tensor([1.0, 0.0, 1.0]))
    assert centre_distance((1, 1), torch.zeros(1)).item() == 0


def test_conv_penalty_shrinks_every_conv_layer_and_not_the_head(tmp_path: Path) -> None:
    """train.l2_conv: an L2 penalty on all conv layers' weights; the dense head is left alone."""
    plain = train(tiny(weight_decay=0.0, l2_conv=0.0, l2_centre=0.0, epochs=6), tmp_path / "plain")
    strong = train(tiny(weight_decay=0.0, l2_conv=5.0, l2_centre=0.0, epochs=6), tmp_path / "strong")
    for name in ("features.0", "features.3"):
        a, b = (r.run.read_snapshot(r.run.snapshot_steps()[-1])[name] for r in (plain, strong))
        assert np.square(b).sum() < 0.5 * np.square(a).sum()
    heads = [torch.load(r.run.weights_path, weights_only=True) for r in (plain, strong)]
    assert heads[1]["head.1.weight"].square().sum() > 0.5 * heads[0]["head.1.weight"].square().sum()
    with pytest.raises(UserError, match="train.l2_conv must be in"):
        tiny(l2_conv=11.0)


@pytest.mark.parametrize("shape", [(3, 2, 33, 31), (3, 2, 32, 32), (3, 2, 37), (3, 2, 64)])
def test_pooling_equals_torch_values_and_gradients(shape: tuple[int, ...]) -> None:
    """MaxPool2x is nn.MaxPool1d/2d(2): the same values and gradients, ties (zeros after ReLU) and odd sizes
    included, NaN propagated; without gradients too."""
    dims = len(shape) - 2
    ref = torch.nn.MaxPool2d(2) if dims == 2 else torch.nn.MaxPool1d(2)
    ours = MaxPool2x(dims)
    x = torch.relu(torch.randn(shape)).round().requires_grad_()  # many exact ties
    a, b = ref(x), ours(x)
    g = torch.randn_like(a)
    assert torch.equal(a, b)
    assert torch.equal(*(torch.autograd.grad(y, x, g)[0] for y in (a, b)))
    with torch.no_grad():
        assert torch.equal(ours(x), a)
    nan = torch.randn(shape).requires_grad_()
    with torch.no_grad():
        nan[0, 0, ..., 1] = float("nan")
    assert torch.equal(torch.isnan(ref(nan)), torch.isnan(ours(nan)))


@pytest.mark.parametrize("kind", ["image", "signal"])
def test_relu_after_pooling_is_the_textbook_network(kind: str) -> None:
    """PulseNet pools before its ReLU: the outputs and every parameter's gradient are those of conv, ReLU, then
    torch's pooling, bit for bit, with many pre-activations exactly 0 and many ties."""
    cfg = tiny(kind)
    torch.manual_seed(0)
    ours = PulseNet(cfg.model, cfg.data)
    textbook = PulseNet(cfg.model, cfg.data)
    textbook.load_state_dict(ours.state_dict())
    layers = list(textbook.features)
    for i in range(0, len(layers), 3):
        pool = torch.nn.MaxPool2d(2) if kind == "image" else torch.nn.MaxPool1d(2)
        layers[i + 1 : i + 3] = [torch.nn.ReLU(), pool]
    textbook.features = torch.nn.Sequential(*layers)
    with torch.no_grad():  # integer weights and inputs: exact zeros and ties in every layer
        for p in (*ours.parameters(), *textbook.parameters()):
            p.copy_(torch.randint(-2, 3, p.shape, generator=torch.Generator().manual_seed(p.numel())))
    shape = (4, 1, cfg.data.size, cfg.data.size) if kind == "image" else (4, 1, cfg.data.size)
    x = torch.randint(-1, 2, shape).float()
    a, b = ours(x), textbook(x)
    assert torch.equal(a, b)
    g = torch.randn_like(a)
    for ga, gb in zip(
        torch.autograd.grad(a, list(ours.parameters()), g),
        torch.autograd.grad(b, list(textbook.parameters()), g),
        strict=True,
    ):
        assert torch.equal(ga, gb)


@pytest.mark.parametrize("kind", ["image", "signal"])
def test_the_network_still_exports_with_torch_pooling(kind: str) -> None:
    """TorchScript (script and trace) and ONNX see torch's own max pooling, with the same outputs."""
    cfg = tiny(kind)
    model = PulseNet(cfg.model, cfg.data)
    x = torch.randn((2, 1, cfg.data.size, cfg.data.size) if kind == "image" else (2, 1, cfg.data.size))
    for exported in (torch.jit.script(model), torch.jit.trace(model, x)):
        assert torch.equal(exported(x), model(x))
        assert "max_pool" in str(exported.inlined_graph)
