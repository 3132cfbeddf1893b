"""Record the filters of a Keras Conv1D model over `model.fit`, then draw the gallery.

This is the situation of the seed Q&A "How can I visualize Conv1D kernels?": a Conv1D network on 1-D signals whose
kernels you want to see as filters, with their response to sine, square and triangle waves and their frequency
response. Here the network learns to tell those three waveforms apart (100 samples each, random frequency, phase,
amplitude and noise, made here: no download); any Keras model and data work the same way. The only lines about
cnnkreport are marked with # <--. Keras 3 runs on any backend; without KERAS_BACKEND this uses torch, which
cnnkreport installs (no TensorFlow needed).

    python examples/keras_conv1d.py                  # seconds on a laptop CPU; writes runs/keras-conv1d, site/
    cnnkreport render runs/keras-conv1d --out site   # what the script does at its end, from the command line
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported
import keras  # noqa: E402
from keras import layers  # noqa: E402

from cnnkreport.keras import KernelRecorder  # noqa: E402  # <--
from cnnkreport.site import build_site  # noqa: E402  # <-- (the function behind `cnnkreport render`)

CLASSES = ("sine", "square", "triangle")


def waveforms(n: int, rng: np.random.Generator, length: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """n signals (n, length, 1) of the three classes, as the Q&A draws them: t = linspace(0, 10, length)."""
    t = np.linspace(0, 10, length)
    y = rng.integers(0, len(CLASSES), n)
    phase = 2 * np.pi * (rng.uniform(0.2, 0.8, (n, 1)) * t + rng.uniform(0, 1, (n, 1)))
    sine = np.sin(phase)
    shapes = {0: sine, 1: np.sign(sine), 2: 2 / np.pi * np.arcsin(sine)}
    x = np.choose(y[:, None], [shapes[0], shapes[1], shapes[2]]) * rng.uniform(0.5, 1.5, (n, 1))
    x = x + rng.normal(0, 0.1, x.shape)
    return x[..., None].astype("float32"), y


def conv1d_model() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((100, 1)),
            layers.Conv1D(8, 15, activation="relu", name="conv1"),
            layers.MaxPooling1D(2),
            layers.Conv1D(16, 9, activation="relu", name="conv2"),
            layers.GlobalMaxPooling1D(),
            layers.Dense(len(CLASSES), activation="softmax", name="head"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("runs/keras-conv1d"), help="run folder to write")
    ap.add_argument("--out", type=Path, default=Path("site"), help="site folder to draw the gallery into")
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    (x, y), (x_val, y_val) = waveforms(960, rng), waveforms(240, rng)
    model = conv1d_model()
    history = model.fit(
        x,
        y,
        epochs=args.epochs,
        batch_size=32,
        validation_data=(x_val, y_val),
        callbacks=[KernelRecorder(args.run, every=10)],  # <-- step 0 before the first batch, then every 10th
        verbose=0,
    )
    steps = args.epochs * int(np.ceil(len(y) / 32))
    print(f"recorded {steps} steps into {args.run}; validation accuracy {history.history['val_accuracy'][-1]:.1%}")
    build_site([args.run], args.out)  # <-- the gallery: what `cnnkreport render RUN --out SITE` does
    print(f"gallery: {args.out / 'index.html'}")


if __name__ == "__main__":
    main()
