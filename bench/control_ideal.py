"""What the two controls say of ideal 7x7 kernels, and of random ones under an envelope.

Ideal kernels, each drawn by hand (a line across the whole kernel, the same line five or three pixels long, a
diagonal line, edges, a corner), with and without a little noise: scored against the bank (r*, against the random
null's 99th percentile), tested against their phase-randomised surrogates exactly as the report tests a trained
kernel (p < 0.05 passes; and against 2,000 surrogates for a closer estimate of the same share), then against their
sign-randomised ones (the localisation control). It asks whether a target on the controlled share can be met by a
first layer that the data pushes towards long horizontal lines.

Random kernels (torch's initialisation) under a Gaussian envelope of a few pixels, and without one: the share that
are hits, that pass the smoothness control too, and that pass both controls. It asks whether a kernel can pass the
null and the smoothness control by being localised alone.

    python bench/control_ideal.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout, installed or not

from cnnkreport.analysis import scores  # noqa: E402

SIZE = 7
MANY = 2000  # surrogates for the closer estimate
ENVELOPED = 200  # random kernels under each envelope


def ideal_kernels() -> dict[str, np.ndarray]:
    z = np.zeros((SIZE, SIZE))
    c = SIZE // 2

    def line(lo: int, hi: int) -> np.ndarray:  # a bright row from column lo to hi - 1, dark rows either side
        k = z.copy()
        k[c, lo:hi], k[c - 1, lo:hi], k[c + 1, lo:hi] = 1.0, -0.5, -0.5
        return k

    diagonal = np.eye(SIZE) - 0.5 * (np.eye(SIZE, k=1) + np.eye(SIZE, k=-1))
    vertical_edge = z.copy()
    vertical_edge[:, :c], vertical_edge[:, c + 1 :] = -1.0, 1.0
    corner = z.copy()
    corner[c, c:], corner[c:, c] = 1.0, 1.0
    return {
        "horizontal line, whole width": line(0, SIZE),
        "horizontal line, 5 px": line(1, SIZE - 1),
        "horizontal line, 3 px": line(2, SIZE - 2),
        "diagonal line": diagonal,
        "vertical edge": vertical_edge,
        "horizontal edge": vertical_edge.T.copy(),
        "corner of two lines": corner,
    }


def enveloped(sigma: float | None, n: int, rng: np.random.Generator) -> np.ndarray:
    """n random 7x7 kernels, under a Gaussian envelope of `sigma` pixels (None: none)."""
    y, x = np.mgrid[:SIZE, :SIZE] - SIZE // 2
    envelope = np.ones((SIZE, SIZE)) if sigma is None else np.exp(-(x**2 + y**2) / (2 * sigma**2))
    return rng.normal(size=(n, SIZE, SIZE)) * envelope


def main() -> None:
    kshape = (SIZE, SIZE)
    bank = scores.scorer_for(kshape)
    threshold = scores.null_threshold(scores.null_scores(1, kshape))
    rng = np.random.default_rng(0)
    print(f"null 99th percentile: r* > {threshold:.2f}; the control passes at p < {scores.SURROGATE_ALPHA}")
    print(f"{'kernel':<30}{'noise':>6}{'r*':>7}{'p':>7}{f'of {MANY:,}':>10}{'sign p':>8}  verdict")
    for name, k in ideal_kernels().items():
        for noise in (0.0, 0.1):
            kernel = (k + noise * rng.normal(size=k.shape))[None]
            r = scores.best_scores(kernel, bank)
            p = scores.surrogate_p(kernel, bank, r)
            many = scores.best_scores(scores.phase_surrogates(kernel[0], MANY, np.random.default_rng(1)), bank)
            share = float((many >= r[0] - 1e-12).mean())  # surrogates matching at least as well
            sign = scores.surrogate_p(kernel, bank, r, seed=1, make=scores.sign_surrogates)
            verdict = (
                "controlled hit"
                if r[0] > threshold and p[0] < scores.SURROGATE_ALPHA and sign[0] < scores.SURROGATE_ALPHA
                else ("hit, not controlled" if r[0] > threshold else "miss")
            )
            print(f"{name:<30}{noise:>6.1f}{r[0]:>7.2f}{p[0]:>7.2f}{share:>10.3f}{sign[0]:>8.2f}  {verdict}")
    print(f"\nrandom 7x7 kernels, {ENVELOPED} each: share that are hits / also pass the smoothness control / pass both")
    for sigma in (None, 2.0, 1.5, 1.0):
        k = enveloped(sigma, ENVELOPED, rng)
        r = scores.best_scores(k, bank)
        phase = scores.controlled_p(k, bank, r, threshold)
        both = scores.localised_p(k, bank, r, phase) < scores.SURROGATE_ALPHA
        label = "no envelope" if sigma is None else f"Gaussian envelope, {sigma:g} px"
        smooth = (phase < scores.SURROGATE_ALPHA).mean()
        print(f"{label:<30}{(r > threshold).mean():>7.0%}{smooth:>7.0%}{both.mean():>7.0%}")


if __name__ == "__main__":
    main()
