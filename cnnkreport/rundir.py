"""The run folder: the one place that knows its layout. Every file is written atomically (temp file + rename).

runs/NAME/
  run.json            what the run is: name, source, status, classes, conv layers, final test accuracy, data source
  config.toml         the resolved config (reproduces the run)
  metrics.csv         step, epoch, loss, train_accuracy (of that step's batch), test_accuracy (where evaluated)
  snapshots/00000000-00000042.npz   a chunk of snapshots: `steps` (n,) and, per conv layer, its weights at those
                      steps (n, out, in, *k); step 0 is the initialisation. Chunks never overlap, and hold at most
                      CHUNK_SNAPSHOTS snapshots (runs written before that limit may hold larger ones; they read alike),
                      so that a run of any length is read a chunk at a time in bounded memory.
  weights.pt          final weights, a plain state_dict (torch.load(..., weights_only=True))
  resume.pt           training state at the last snapshot, while the run is unfinished
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UserError
from .files import atomic_write, atomic_write_text
from .userdata import DataSource

FORMAT_VERSION = 1
METRIC_FIELDS = ("step", "epoch", "loss", "train_accuracy", "test_accuracy")
FLUSH_SECONDS = 30.0  # buffered snapshots are written at least this often...
FLUSH_BYTES = 64 * 2**20  # ...or when they take this much memory
CHUNK_SNAPSHOTS = 256  # snapshots in one chunk file at most: what reading a chunk holds in memory
LAYER_PREFIX = "layer:"  # npz member names are "steps" and "layer:<conv layer name>"
_CHUNK = re.compile(r"^(\d{8})-(\d{8})\.npz$")


def _cell(v: Any) -> Any:
    """A metrics cell: empty for None, floats to 6 significant digits (plenty for a curve; half the file)."""
    return "" if v is None else f"{v:.6g}" if isinstance(v, float) else v


def _layer_keys(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {LAYER_PREFIX + name: a for name, a in arrays.items()}


@dataclass(frozen=True)
class LayerInfo:
    name: str  # module name ("features.0"); "" for a bare "weight" key (the root module)
    kind: str  # "conv1d" | "conv2d"
    shape: tuple[int, ...]  # (out, in_per_group, *k)


@dataclass(frozen=True)
class Unshown:
    """A layer of a user's model that is listed but not drawn, and why."""

    name: str
    shape: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class OtherTensor:
    """A tensor of a user's model of a conv weight's rank (3 to 5 dimensions) that is not read as a conv weight (a
    `*_basis` buffer, an attention table): listed, so that the report says what it left out."""

    name: str  # its key in the model ("stft.forward_basis_buffer"), printable
    shape: tuple[int, ...]


@dataclass(frozen=True)
class CheckpointFile:
    """One checkpoint behind an inspected run."""

    file: str  # its file name, printable
    step: int | None  # the step number in its name, if any
    format: str  # "state_dict" | "checkpoint-dict" | "safetensors" | "torchscript" | "pickled-model"


@dataclass(frozen=True)
class RunMeta:
    """run.json: what a run is. Written and read only here (Run.write_meta, Run.read_meta)."""

    name: str
    source: str  # "train" | "inspect" | "recorder"
    status: str  # "running" | "complete"
    steps: int  # optimiser steps (planned, for a run being trained; recorded so far, for a recorder)
    layers: tuple[LayerInfo, ...]  # the conv layers whose snapshots the run holds
    test_accuracy: float | None = None
    kind: str | None = None  # "image" | "signal": the data of a run trained here
    classes: tuple[str, ...] = ()  # the data's classes, for a run trained here
    unshown: tuple[Unshown, ...] = ()  # layers of an inspected model that are not drawn
    other_tensors: tuple[OtherTensor, ...] = ()  # of a conv weight's rank, not read as one
    checkpoints: tuple[CheckpointFile, ...] = ()  # the files behind an inspected run
    made_by: str | None = None  # "build" for a run that `cnnkreport build` trained (and so may replace)
    sample_rate: float | None = None  # of the model's input, in Hz, where the user gave it (inspect --sample-rate)
    data: DataSource | None = None  # where a run's data came from, for a run trained on a user's data set

    def to_json(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_json(cls, d: object, where: str) -> RunMeta:
        """Check every key of a parsed run.json; a missing key or a wrong type is a UserError naming it."""
        if not isinstance(d, dict):
            raise UserError(f"{where}: corrupt run.json (a JSON {type(d).__name__}, not an object)")
        if d.get("version") != FORMAT_VERSION:
            raise UserError(f"{where}: unsupported run format version {d.get('version')!r}")
        r = _MetaReader(d, where)
        return cls(
            name=r.get("name", str),
            source=r.choice("source", SOURCES),
            status=r.choice("status", STATUSES),
            steps=r.get("steps", int),
            layers=tuple(r.records("layers", _layer)),
            test_accuracy=r.number("test_accuracy", lambda v: 0 <= v <= 1, "a fraction from 0 to 1"),
            kind=r.get("kind", str, None),
            classes=tuple(r.records("classes", lambda x: _typed(x, str), ())),
            unshown=tuple(r.records("unshown", _unshown, ())),
            other_tensors=tuple(r.records("other_tensors", _other_tensor, ())),
            checkpoints=tuple(r.records("checkpoints", _checkpoint_file, ())),
            made_by=r.get("made_by", str, None),
            sample_rate=r.number("sample_rate", lambda v: v > 0, "a positive number"),
            data=r.record("data", _data_source),
        )


SOURCES = ("train", "inspect", "recorder")
STATUSES = ("running", "complete")
_REQUIRED = object()


class _BadMeta(ValueError):
    pass


def _typed(x: object, tp: type | tuple[type, ...]) -> Any:
    """x if it is of type tp (a bool is not a number here), else _BadMeta."""
    if not isinstance(x, tp) or (isinstance(x, bool) and tp is not bool):
        expected = "a number" if isinstance(tp, tuple) else tp.__name__
        raise _BadMeta(f"{type(x).__name__} {x!r:.40}, not {expected}")
    return x


def _shape(x: object, dims: tuple[int, ...] = (3, 4, 5), what: str = "a conv weight's") -> tuple[int, ...]:
    shape = tuple(_typed(v, int) for v in _typed(x, list))
    if len(shape) not in dims or any(v < 1 for v in shape):
        raise _BadMeta(f"shape {list(shape)}, not {what}")
    return shape


def _field(d: object, key: str, tp: type) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise _BadMeta(f"an entry without {key!r}")
    return _typed(d[key], tp)


def _layer(d: object) -> LayerInfo:
    kind = _field(d, "kind", str)
    if kind not in ("conv1d", "conv2d"):
        raise _BadMeta(f"kind {kind!r}, not conv1d or conv2d")
    return LayerInfo(_field(d, "name", str), kind, _shape(_field(d, "shape", list), (3,) if kind == "conv1d" else (4,)))


def _unshown(d: object) -> Unshown:
    shape = tuple(_typed(v, int) for v in _field(d, "shape", list))
    return Unshown(_field(d, "name", str), shape, _field(d, "reason", str))


def _other_tensor(d: object) -> OtherTensor:
    return OtherTensor(_field(d, "name", str), tuple(_typed(v, int) for v in _field(d, "shape", list)))


def _checkpoint_file(d: object) -> CheckpointFile:
    step = d.get("step") if isinstance(d, dict) else None
    return CheckpointFile(_field(d, "file", str), None if step is None else _typed(step, int), _field(d, "format", str))


def _data_source(d: object) -> DataSource:
    """run.json's `data`: a userdata.DataSource, every key checked (those of _NULLABLE: null, or absent)."""
    text = {k: _field(d, k, str) for k in ("file", "format", "kind", "split", "lengths", "standardised", "name")}
    counts = {k: _field(d, k, int) for k in ("n_train", "n_test", "channels")}
    if text["kind"] not in ("signal", "image") or min(counts.values()) < 0:
        raise _BadMeta(f"kind {text['kind']!r:.20} with {counts}, not a data set's")
    given: dict[str, Any] = d if isinstance(d, dict) else {}
    null: dict[str, Any] = {k: None if given.get(k) is None else read(given[k]) for k, read in _NULLABLE.items()}
    return DataSource(**text, **counts, **null, classes=tuple(_typed(c, str) for c in _field(d, "classes", list)))


_NULLABLE: dict[str, Callable[[object], Any]] = {
    "test_file": lambda v: _typed(v, str),
    "length": lambda v: _typed(v, int),
    "image_size": lambda v: _shape(v, (2,), "an image's [height, width]"),
    "mean": lambda v: tuple(float(_typed(x, (int, float))) for x in _typed(v, list)),  # images: per channel
    "std": lambda v: tuple(float(_typed(x, (int, float))) for x in _typed(v, list)),
}


@dataclass(frozen=True)
class _MetaReader:
    """Reads the keys of a run.json object, each checked; a bad one is one line naming the key."""

    d: dict[str, Any]
    where: str

    def _fail(self, key: str, why: str) -> UserError:
        return UserError(f"{self.where}: corrupt run.json ({key!r}: {why})")

    def get(self, key: str, tp: type | tuple[type, ...], default: Any = _REQUIRED) -> Any:
        if key not in self.d or (self.d[key] is None and default is not _REQUIRED):
            if default is _REQUIRED:
                raise self._fail(key, "missing")
            return default
        try:
            return _typed(self.d[key], tp)
        except _BadMeta as e:
            raise self._fail(key, str(e)) from None

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value: str = self.get(key, str)
        if value not in allowed:
            raise self._fail(key, f"{value!r:.40}, not one of {', '.join(allowed)}")
        return value

    def number(self, key: str, ok: Callable[[float], bool], what: str) -> float | None:
        """An optional finite number for which ok(value) holds (`what` says which, in words)."""
        value = self.get(key, (int, float), None)
        if value is not None and not (math.isfinite(value) and ok(value)):
            raise self._fail(key, f"{value!r}, not {what}")
        return None if value is None else float(value)

    def record(self, key: str, read: Callable[[object], Any]) -> Any:  # an object, or None where absent or null
        value = self.get(key, dict, None)
        try:
            return None if value is None else read(value)
        except _BadMeta as e:
            raise self._fail(key, str(e)) from None

    def records(self, key: str, read: Callable[[object], Any], default: Any = _REQUIRED) -> list[Any]:
        items = self.get(key, list, default)
        try:
            return [read(x) for x in items]
        except _BadMeta as e:
            raise self._fail(key, str(e)) from None


@dataclass(frozen=True)
class Run:
    """A run folder on disk. Paths are derived here and nowhere else."""

    path: Path

    @property
    def meta_path(self) -> Path:
        return self.path / "run.json"

    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def snapshot_dir(self) -> Path:
        return self.path / "snapshots"

    @property
    def weights_path(self) -> Path:
        return self.path / "weights.pt"

    @property
    def resume_path(self) -> Path:
        return self.path / "resume.pt"

    def chunk_path(self, first: int, last: int) -> Path:
        return self.snapshot_dir / f"{first:08d}-{last:08d}.npz"

    def chunks(self) -> list[tuple[int, int, Path]]:
        """(first step, last step, path) of every snapshot chunk, in step order."""
        if not self.snapshot_dir.is_dir():
            return []
        found = [
            (int(m.group(1)), int(m.group(2)), p) for p in self.snapshot_dir.iterdir() if (m := _CHUNK.match(p.name))
        ]
        return sorted(found)

    # --- writing -------------------------------------------------------------------------------------------

    def write_meta(self, meta: RunMeta) -> None:
        atomic_write_text(self.meta_path, json.dumps(meta.to_json(), indent=2) + "\n")

    def write_snapshots(self, snapshots: list[tuple[int, dict[str, np.ndarray]]]) -> None:
        """(step, {layer: weights}) snapshots, in step order, as chunk files of at most CHUNK_SNAPSHOTS each, written
        in step order (a kill in between leaves the first few, which `drop_snapshots_after` removes on resume)."""
        for i in range(0, len(snapshots), CHUNK_SNAPSHOTS):
            self._write_chunk(snapshots[i : i + CHUNK_SNAPSHOTS])

    def _write_chunk(self, snapshots: list[tuple[int, dict[str, np.ndarray]]]) -> None:
        steps = [step for step, _ in snapshots]
        arrays = {name: np.stack([k[name] for _, k in snapshots]) for name in snapshots[0][1]}
        path = self.chunk_path(steps[0], steps[-1])
        atomic_write(path, lambda fh: np.savez(fh, allow_pickle=False, steps=np.asarray(steps), **_layer_keys(arrays)))

    def drop_snapshots_after(self, step: int) -> None:
        """Remove chunks past `step`: written after the state a run resumes from, they will be written again (all
        the chunks of an interrupted flush lie past it)."""
        for _, last, path in self.chunks():
            if last > step:
                path.unlink()

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: _cell(r.get(k)) for k in METRIC_FIELDS})
        atomic_write_text(self.metrics_path, buf.getvalue())

    # --- reading -------------------------------------------------------------------------------------------

    def read_meta(self) -> RunMeta:
        if not self.meta_path.is_file():
            raise UserError(f"{self.path}: not a run folder (no run.json)")
        try:
            data = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"{self.meta_path}: corrupt run.json ({e})") from None
        return RunMeta.from_json(data, str(self.meta_path))

    def layers(self) -> list[LayerInfo]:
        return list(self.read_meta().layers)

    def _read_chunk(self, path: Path, layers: list[str] | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(steps, {layer: weights}) of one chunk, for the given layers (None: all of them)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                names = [k[len(LAYER_PREFIX) :] for k in z.files if k.startswith(LAYER_PREFIX)]
                steps = z["steps"]
                arrays = {n: z[LAYER_PREFIX + n] for n in (names if layers is None else layers)}
        except (OSError, ValueError, KeyError, EOFError) as e:
            raise UserError(f"{path}: corrupt snapshot file ({e})") from None
        if steps.ndim != 1 or any(a.ndim == 0 or len(a) != len(steps) for a in arrays.values()):
            raise UserError(f"{path}: corrupt snapshot file (weights for another number of steps than it lists)")
        return steps, arrays

    def snapshot_steps(self) -> list[int]:
        return [int(s) for _, _, path in self.chunks() for s in self._read_chunk(path, [])[0]]

    def read_snapshot(self, step: int) -> dict[str, np.ndarray]:
        """{layer: weights} at one step."""
        for first, last, path in self.chunks():
            if first <= step <= last:
                steps, arrays = self._read_chunk(path, None)
                i = np.flatnonzero(steps == step)
                if len(i):
                    return {name: w[i[0]] for name, w in arrays.items()}
        raise UserError(f"{self.path}: no snapshot at step {step}")

    def iter_kernels(
        self, layer: str, keep: Sequence[int] | np.ndarray | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(steps (n,), weights (n, *shape)) of one layer, a chunk at a time, in step order: memory for one chunk
        (at most CHUNK_SNAPSHOTS snapshots), however many snapshots the run has. With `keep`, only the snapshots at
        those indices into the run's S snapshots (negative: from the end), each once and in step order; chunks that
        hold none of them are not read."""
        chunks = self.chunks()
        if not chunks:
            raise UserError(f"{self.path}: run has no kernel snapshots")
        if keep is None:
            for _, _, path in chunks:
                steps, arrays = self._read_chunk(path, [layer])
                yield steps, arrays[layer]
            return
        counts = [len(self._read_chunk(path, [])[0]) for _, _, path in chunks]
        total = sum(counts)
        wanted = np.asarray(keep, dtype=np.int64).reshape(-1)
        if ((wanted < -total) | (wanted >= total)).any():
            raise IndexError(f"snapshot index out of range for a run of {total} snapshots")
        wanted = np.unique(wanted % max(total, 1))
        offset = 0
        for (_, _, path), count in zip(chunks, counts, strict=True):
            mine = wanted[(wanted >= offset) & (wanted < offset + count)] - offset
            if len(mine):
                steps, arrays = self._read_chunk(path, [layer])
                yield steps[mine], arrays[layer][mine]
            offset += count

    def read_kernels(self, layer: str, keep: Sequence[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(steps (S,), weights (S, *shape)) of one layer over all snapshots, or (with `keep`, as in iter_kernels)
        over only those: `read_kernels(layer, keep=[-1])` reads the last snapshot and no other chunk."""
        parts = list(self.iter_kernels(layer, keep))
        if not parts:  # keep selected nothing
            shape = next((li.shape for li in self.layers() if li.name == layer), ())
            return np.zeros(0, dtype=np.int64), np.zeros((0, *shape), dtype=np.float32)
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([s for s, _ in parts]), np.concatenate([w for _, w in parts])

    def read_metrics(self) -> list[dict[str, float | None]]:
        if not self.metrics_path.is_file():
            return []
        with open(self.metrics_path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))

        def num(v: str | None) -> float | None:
            if v in (None, ""):
                return None
            x = float(v)
            return x if math.isfinite(x) else None

        try:
            return [{k: num(r.get(k)) for k in METRIC_FIELDS} for r in rows]
        except ValueError as e:
            raise UserError(f"{self.metrics_path}: corrupt metrics ({e})") from None


@dataclass
class Recording:
    """Kernel snapshots and metric rows of a run being recorded: buffered in memory, written by flush() (chunks of
    snapshots, then the whole metrics.csv), so that recording costs little in a training loop."""

    run: Run
    rows: list[dict[str, Any]] = field(default_factory=list)
    pending: list[tuple[int, dict[str, np.ndarray]]] = field(default_factory=list)
    pending_bytes: int = 0  # of the pending snapshots' weights, counted as they come (due() is asked every step)
    flushed_at: float = field(default_factory=time.perf_counter)

    def snapshot(self, step: int, kernels: dict[str, np.ndarray]) -> None:
        self.pending.append((step, kernels))
        self.pending_bytes += sum(w.nbytes for w in kernels.values())

    def due(self) -> bool:
        """Time to flush: so long since the last flush that a killed run would lose much, or so much buffered."""
        return time.perf_counter() - self.flushed_at > FLUSH_SECONDS or self.pending_bytes > FLUSH_BYTES

    def flush(self) -> None:
        if self.pending:
            self.run.write_snapshots(self.pending)  # as chunks of at most CHUNK_SNAPSHOTS
            self.pending, self.pending_bytes = [], 0
        self.run.write_metrics(self.rows)
        self.flushed_at = time.perf_counter()
