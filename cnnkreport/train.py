"""Training with kernel snapshots: one run of one config into one run folder, resumable from its last snapshot."""

from __future__ import annotations

import contextlib
import functools
import math
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import EVAL_POINTS, RunConfig, config_dict, load_run_config
from .data import Dataset, make_dataset, with_facts
from .errors import UserError
from .files import atomic_write, atomic_write_text
from .model import conv_layers, make_model
from .rundir import LayerInfo, Recording, Run, RunMeta
from .swap import make_temp, replace_dir
from .tomlio import dumps_toml

EVAL_BYTES = 4 * 2**20  # a test batch's first-layer output stays within this, to stay in the cache: larger batches
# thrash it when the machine's shared cache is busy (bench/bench_eval.py: 1,000 images of 32x32 through 16 kernels
# up to 3x slower at 256 a batch than at 64)
EVAL_BATCH = 256  # ...and at most this many samples a batch
CHECKPOINTS = 10  # evenly spaced checkpoints per run (resume state, metrics, buffered snapshots), and more when
# the buffer is due (Recording.due: every 30 s, or at 64 MB of snapshots)
EPOCH_EVALS = 64  # a test-set pass at each epoch's end for runs of up to this many epochs; longer runs (a user's
# small data set trains for hundreds) at this many epoch ends, evenly spaced


@dataclass(frozen=True)
class TrainResult:
    run: Run
    steps: int
    test_accuracy: float | None
    seconds: float


def snapshot_schedule(total_steps: int, n: int) -> list[int]:
    """About n steps in [0, total]: half log-spaced (dense while kernels change fast), half evenly spaced; for n < 4,
    the first and the last."""
    geo = np.geomspace(1, max(total_steps, 1), num=n // 2) if n >= 4 else np.zeros(0)
    lin = np.linspace(0, total_steps, num=max(n - n // 2, 2))
    steps = {0, total_steps, *np.rint(geo).astype(int).tolist(), *np.rint(lin).astype(int).tolist()}
    return sorted(s for s in steps if 0 <= s <= total_steps)


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' was asked for, but PyTorch sees no CUDA GPU here (use --device cpu or auto)")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def layer_infos(model: nn.Module) -> list[LayerInfo]:
    return [
        LayerInfo(name, "conv2d" if isinstance(m, nn.Conv2d) else "conv1d", tuple(m.weight.shape))
        for name, m in conv_layers(model).items()
    ]


def kernels_of(model: nn.Module) -> dict[str, np.ndarray]:
    return {name: m.weight.detach().cpu().numpy().copy() for name, m in conv_layers(model).items()}


def loss_fn(name: str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if name == "cross_entropy":
        return F.cross_entropy(logits, y)
    target = F.one_hot(y, logits.shape[1]).to(logits.dtype)  # L1/MSE regress raw outputs onto one-hot
    return F.l1_loss(logits, target) if name == "l1" else F.mse_loss(logits, target)


def centre_distance(kshape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """Each tap's squared distance from the kernel's centre, each axis in units of half its side, shape `kshape`
    (0 at the centre, 1 in the middle of an edge, 2 in a 2-D kernel's corners): the weights of train.l2_centre.
    Made once per shape, dtype and device (every training step asks for it); not to be changed in place."""
    return _centre_distance(tuple(kshape), like.dtype, like.device)


@functools.lru_cache(maxsize=16)
def _centre_distance(kshape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    d = torch.zeros(kshape, dtype=dtype, device=device)
    for axis, k in enumerate(kshape):
        half = (k - 1) / 2
        if half > 0:
            along = (torch.arange(k, dtype=dtype, device=device) - half) / half
            d = d + along.view(*[-1 if a == axis else 1 for a in range(len(kshape))]) ** 2
    return d


def make_optimizer(cfg: RunConfig, params: Any) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "sgd":
        return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
    cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=t.lr, weight_decay=t.weight_decay)


def learning_rate(cfg: RunConfig, step: int, total: int) -> float:
    """A function of the step alone (no scheduler state), so a resumed run follows the same schedule."""
    if cfg.train.schedule == "cosine":
        return cfg.train.lr * 0.5 * (1.0 + math.cos(math.pi * (step - 1) / total))
    return cfg.train.lr


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float | None:
    if len(y) == 0:
        return None
    bs = eval_batch(model, x)
    model.eval()
    with torch.inference_mode():
        correct = sum(int((model(x[i : i + bs]).argmax(1) == y[i : i + bs]).sum()) for i in range(0, len(y), bs))
    model.train()
    return correct / len(y)


def eval_batch(model: nn.Module, x: torch.Tensor) -> int:
    """Samples a test batch: as many as keep the first conv layer's output within EVAL_BYTES, at most EVAL_BATCH."""
    first = next(iter(conv_layers(model).values()), None)
    per_sample = (first.out_channels if first is not None else 1) * math.prod(x.shape[2:]) * x.element_size()
    return max(1, min(EVAL_BATCH, EVAL_BYTES // max(1, per_sample)))


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The sample order of one epoch depends only on (seed, epoch), so a resumed run sees the same batches."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def _prepare_folder(run: Run, cfg: RunConfig, resume: bool) -> tuple[RunConfig, bool]:
    """Check the folder fits the request; returns the config and whether there is something to resume. On resume,
    the config is the one the run was started with; a run killed before it recorded anything starts afresh."""
    if resume:
        if run.meta_path.is_file():
            return load_run_config(run.config_path, cfg), True
        if not run.path.is_dir() or any(not _leftover(p) for p in run.path.iterdir()):
            raise UserError(f"{run.path}: nothing to resume (no run.json)")
        for p in run.path.iterdir():  # only what a run killed at its very start leaves
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
    if run.path.exists() and (not run.path.is_dir() or any(run.path.iterdir())):
        raise UserError(f"{run.path} already exists and is not empty: use --resume, or another --run folder")
    try:
        run.path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create run folder {run.path}: {e.strerror}") from None
    return cfg, False


def _leftover(p: Path) -> bool:
    """A file a run writes before run.json (its config), a temp file of a write that was cut short, or an empty
    snapshots folder."""
    if p.is_dir():
        return p.name == "snapshots" and not any(p.iterdir())
    return p.name == "config.toml" or (p.name.startswith(".") and p.name.endswith(".tmp"))


@dataclass(frozen=True)
class Plan:
    """When a run of `total` optimiser steps records snapshots, writes checkpoints and evaluates the test set."""

    per_epoch: int
    total: int
    snap_at: frozenset[int]
    checkpoint_at: frozenset[int]
    eval_at: frozenset[int]

    @classmethod
    def of(cls, cfg: RunConfig, n_train: int) -> Plan:
        per_epoch = math.ceil(n_train / cfg.train.batch_size)
        epochs = cfg.train.epochs
        total = epochs * per_epoch
        evaluated = range(1, epochs + 1) if epochs <= EPOCH_EVALS else np.linspace(1, epochs, EPOCH_EVALS).round()
        epoch_ends = {int(e) * per_epoch for e in evaluated}
        return cls(
            per_epoch,
            total,
            frozenset(snapshot_schedule(total, cfg.train.snapshots)),
            frozenset(np.linspace(0, total, CHECKPOINTS + 1).round().astype(int).tolist()),
            frozenset(snapshot_schedule(total, EVAL_POINTS)) | epoch_ends if cfg.train.test_curve else frozenset(),
        )


def _restore(run: Run, rec: Recording, model: nn.Module, opt: torch.optim.Optimizer, device: torch.device) -> int:
    """Load the state a run resumes from; drop the snapshots and metric rows recorded after it. Returns its step."""
    try:
        state = torch.load(run.resume_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = int(state["step"])
    except Exception as e:  # a truncated or foreign file: say so, do not guess
        raise UserError(f"{run.resume_path}: cannot resume from this file ({type(e).__name__})") from None
    run.drop_snapshots_after(start)
    rec.rows = [
        {k: (int(v) if k == "step" and v is not None else v) for k, v in r.items()}
        for r in run.read_metrics()
        if r["step"] is not None and r["step"] <= start
    ]
    return start


def _train_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    cfg: RunConfig,
    plan: Plan,
    step: int,
    xb: torch.Tensor,
    yb: torch.Tensor,
) -> dict[str, Any]:
    """One optimiser step on the batch (xb, yb); returns its metrics row."""
    for g in opt.param_groups:
        g["lr"] = learning_rate(cfg, step, plan.total)
    logits = model(xb)
    loss = loss_fn(cfg.train.loss, logits, yb)
    opt.zero_grad(set_to_none=True)
    t = cfg.train
    if t.l1_first or t.l2_first or t.l2_conv or t.l2_centre:  # trained on; the metrics report the task's loss
        convs = [m.weight for m in conv_layers(model).values()]
        w = convs[0]
        penalty = t.l1_first * w.abs().mean() + 0.5 * t.l2_first * w.square().sum()
        if t.l2_conv:
            penalty = penalty + 0.5 * t.l2_conv * sum(c.square().sum() for c in convs)
        if t.l2_centre:
            penalty = penalty + 0.5 * t.l2_centre * (w.square() * centre_distance(tuple(w.shape[2:]), w)).sum()
        (loss + penalty).backward()
    else:
        loss.backward()
    opt.step()
    loss_value = loss.item()
    if not math.isfinite(loss_value):
        raise UserError(f"training diverged at step {step} (loss is {loss_value}): lower train.lr")
    return {
        "step": step,
        "epoch": (step - 1) // plan.per_epoch + ((step - 1) % plan.per_epoch + 1) / plan.per_epoch,
        "loss": loss_value,
        "train_accuracy": float((logits.argmax(1) == yb).float().mean()),
    }


def _begin(
    run: Run, cfg: RunConfig, meta: RunMeta, rec: Recording, model: nn.Module, test_accuracy: float | None
) -> int:
    """Start a run afresh: its config, run.json, and step 0 (the initialisation) recorded; returns the step, 0."""
    run.drop_snapshots_after(-1)
    atomic_write_text(run.config_path, dumps_toml(config_dict(cfg)))  # first: a run.json always has its config
    run.write_meta(meta)
    rec.rows.append({"step": 0, "epoch": 0, "test_accuracy": test_accuracy})
    rec.snapshot(0, kernels_of(model))
    return 0


def _batches(cfg: RunConfig, plan: Plan, start: int, n: int) -> Iterator[tuple[int, np.ndarray]]:
    """(step, sample indices of its batch) for the steps after `start`: the same batches whether a run was resumed
    or not (epoch_order)."""
    bs = cfg.train.batch_size
    order = epoch_order(cfg.seed, start // plan.per_epoch, n)
    for step in range(start + 1, plan.total + 1):
        epoch, b = divmod(step - 1, plan.per_epoch)
        if b == 0:
            order = epoch_order(cfg.seed, epoch, n)
        yield step, order[b * bs : (b + 1) * bs]


def _model_and_data(
    run: Run, cfg: RunConfig, device: torch.device, resume: bool
) -> tuple[RunConfig, nn.Module, Dataset]:
    """The run's data set and its model, initialised from the seed. A user's data set is read from its file (a bad
    one is a UserError, and the empty folder of a fresh run goes again), and the config then says what it holds."""
    try:
        ds = make_dataset(cfg.data, cfg.seed)
    except UserError:
        if not resume:
            with contextlib.suppress(OSError):
                run.path.rmdir()  # empty: nothing was written yet
        raise
    if ds.source is not None:
        cfg = replace(cfg, data=with_facts(cfg.data, ds))
    torch.manual_seed(cfg.seed)
    return cfg, make_model(cfg.model, cfg.data).to(device), ds


def train(
    cfg: RunConfig,
    run_path: Path,
    resume: bool = False,
    on_step: Callable[[int, int], None] | None = None,
) -> TrainResult:
    """Train `cfg` into `run_path` (or, with `resume`, continue the run there from its last checkpoint)."""
    t0 = time.perf_counter()
    run = Run(run_path)
    cfg, resume = _prepare_folder(run, cfg, resume)
    if resume and (done := run.read_meta()).status == "complete":
        return TrainResult(run, done.steps, done.test_accuracy, 0.0)

    device = resolve_device(cfg.device)
    cfg, model, ds = _model_and_data(run, cfg, device, resume)
    opt = make_optimizer(cfg, model.parameters())
    x_tr, y_tr, x_te, y_te = (torch.from_numpy(a).to(device) for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test))
    plan = Plan.of(cfg, len(y_tr))
    layers = tuple(layer_infos(model))
    meta = RunMeta(cfg.name, "train", "running", plan.total, layers, None, cfg.data.kind, ds.classes, data=ds.source)
    rec = Recording(run)  # snapshots since the last checkpoint, and every metric row

    def checkpoint(step: int) -> None:
        """Write the buffered snapshots, the metrics and the state to resume from, in that order: a kill between
        two writes leaves a state that is older than the snapshots, never newer, and resume redoes the rest."""
        rec.flush()
        state = {"step": step, "model": model.state_dict(), "optimizer": opt.state_dict()}
        atomic_write(run.resume_path, lambda fh: torch.save(state, fh))

    if resume and run.resume_path.is_file():
        start = _restore(run, rec, model, opt, device)
    else:
        start = _begin(run, cfg, meta, rec, model, accuracy(model, x_te, y_te) if cfg.train.test_curve else None)
        checkpoint(0)

    model.train()
    final = None  # the test accuracy after the last step
    for step, batch in _batches(cfg, plan, start, len(y_tr)):
        idx = torch.from_numpy(batch).to(device)
        row = _train_step(model, opt, cfg, plan, step, x_tr[idx], y_tr[idx])
        if step in plan.eval_at or step == plan.total:
            row["test_accuracy"] = accuracy(model, x_te, y_te)
            final = row["test_accuracy"]
        rec.rows.append(row)
        if step in plan.snap_at:
            rec.snapshot(step, kernels_of(model))
        if step < plan.total and (step in plan.checkpoint_at or rec.due()):
            checkpoint(step)
        if on_step is not None:
            on_step(step, plan.total)

    test_acc = final if start < plan.total else accuracy(model, x_te, y_te)
    rec.flush()
    atomic_write(run.weights_path, lambda fh: torch.save(model.state_dict(), fh))
    run.write_meta(replace(meta, status="complete", test_accuracy=test_acc))
    run.resume_path.unlink(missing_ok=True)
    return TrainResult(run, plan.total, test_acc, time.perf_counter() - t0)


def train_into(cfg: RunConfig, path: Path, on_step: Callable[[int, int], None] | None = None) -> TrainResult:
    """`build`'s training job (its worker processes import it from here, with little else): train into a temp
    folder beside `path` and swap it in when done, so that a failed run never replaces a good one. Only a folder
    that `build` made itself (run.json says so) is ever replaced."""
    if path.exists():
        try:
            made_by_build = Run(path).read_meta().made_by == "build"
        except UserError:
            made_by_build = False
        if not made_by_build:
            raise UserError(f"{path} exists and was not made by `cnnkreport build`; move it, or use another --runs")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = make_temp(path)
    except OSError as e:
        raise UserError(f"cannot create runs folder {path.parent}: {e.strerror}") from None
    try:
        result = train(cfg, tmp, on_step=on_step)
        run = Run(tmp)
        run.write_meta(replace(run.read_meta(), made_by="build"))
        replace_dir(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return replace(result, run=Run(path))
