"""The player on layer and kernel pages, and the Content-Security-Policy of every page.

A player is a range input over a layer's snapshots, a play/pause button and a label ("step 1,200 · epoch 3 ·
loss 0.412 · median r* 0.72", also the input's aria-valuetext). The input names, in aria-controls, what follows it:
sprite views (an animation's sprite sheet, draw/sprites.py, shown one cell at a time) and charts with a marker
over their x axis. The numbers come from an inline <script type="application/json"> in the player, the frames from
the sprite sheet (an <img>): nothing is fetched, so the player works from file://, over HTTP under any sub-path, and
inside the packed single file alike.

PLAYER_JS is the only script of a page, inline, allowed by its hash in the page's policy (PAGE_CSP), which forbids
every request but for the site's own pictures and stylesheet. Nothing moves until the reader presses play; a play
runs once through the frames in about PLAY_SECONDS and stops on the last; moving the slider stops it. Without
JavaScript the player's controls stay hidden and each sprite sheet shows every frame, as a filmstrip.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from markupsafe import Markup

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MplFigure

PLAY_SECONDS = 4.0  # one play through all the frames, at most (WCAG 2.2.2: under 5 s, and a pause button anyway)
FRAME_MS = (80, 400)  # the time a frame shows while playing, at least and at most

PLAYER_JS = """\
(function () {
  "use strict";
  function nums(el, name) { return el.getAttribute(name).split(" ").map(Number); }
  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function view(el) {
    var s = nums(el, "data-sprite"), img = el.querySelector("img");
    el.classList.add("sprite-on");
    el.style.aspectRatio = s[2] + " / " + s[3];
    el.style.width = Math.max(s[2], Number(el.getAttribute("data-min-width") || 0)) + "px";
    img.style.width = s[0] * 100 + "%";
    return {cols: s[0], frames: nums(el, "data-frames"), img: img};
  }
  function player(root) {
    var data = JSON.parse(root.querySelector("script[type='application/json']").textContent);
    var range = root.querySelector("input[type='range']"), button = root.querySelector("button");
    var label = root.querySelector("output"), views = [], markers = [], timer = null;
    each(range.getAttribute("aria-controls").split(" "), function (id) {
      var el = id ? document.getElementById(id) : null;
      if (!el) { return; }
      if (el.hasAttribute("data-sprite")) { views.push(view(el)); }
      each(el.querySelectorAll("[data-marker]"), function (m) { markers.push(m); m.hidden = false; });
    });
    function show(i) {
      var at = data.frames[i];
      range.value = String(i);
      label.textContent = data.labels[i];
      range.setAttribute("aria-valuetext", data.labels[i]);
      views.forEach(function (v) {
        var k = 0;
        while (k + 1 < v.frames.length && v.frames[k + 1] <= at) { k++; }
        v.img.style.left = -(k % v.cols) * 100 + "%";
        v.img.style.top = -Math.floor(k / v.cols) * 100 + "%";
      });
      markers.forEach(function (m) {
        var y = nums(m, "data-marker"), x = nums(m, "data-x");
        m.style.left = x[i] * 100 + "%";
        m.style.top = y[0] * 100 + "%";
        m.style.height = (y[1] - y[0]) * 100 + "%";
      });
    }
    function stop() {
      if (timer !== null) { clearInterval(timer); timer = null; }
      button.textContent = "Play";
    }
    function play() {
      if (Number(range.value) >= data.frames.length - 1) { show(0); }
      button.textContent = "Pause";
      timer = setInterval(function () {
        var i = Number(range.value) + 1;
        if (i < data.frames.length) { show(i); }
        if (i >= data.frames.length - 1) { stop(); }
      }, data.interval);
    }
    button.addEventListener("click", function () { if (timer === null) { play(); } else { stop(); } });
    range.addEventListener("input", function () { stop(); show(Number(range.value)); });
    root.hidden = false;
    show(Number(range.value));
  }
  document.documentElement.classList.add("js");
  each(document.querySelectorAll("[data-player]"), player);
})();
"""


def compact(js: str) -> str:
    """The script as pages carry it: each line without its indentation (a page in a hundred carries it)."""
    return "\n".join(line.strip() for line in js.splitlines() if line.strip()) + "\n"


PAGE_JS = compact(PLAYER_JS)


def source_hash(text: str) -> str:
    """A CSP hash source for an inline <script> or <style> whose text is exactly `text`."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def policy(img: str, style: str, script: str) -> str:
    """A policy that forbids everything (fetch, frames, fonts, forms, media, a <base>) but the sources given."""
    return (
        f"default-src 'none'; img-src {img}; style-src {style}; script-src {script}; base-uri 'none'; "
        "form-action 'none'"
    )


# A site's pages: pictures and the stylesheet from the site itself ('self' over HTTP; `file:` because Firefox counts
# a file:// page as a unique origin that 'self' never matches), data: for the empty favicon, and the player's script
# by its hash. No connect-src: the player fetches nothing, and nothing else may.
PAGE_CSP = policy("'self' file: data:", "'self' file:", source_hash(PAGE_JS))


@dataclass(frozen=True)
class Marker:
    """Where a chart's x axis (optimiser steps) lies in its picture, for the player's marker: at each of `steps`
    (ascending) the fraction `x` of the picture's width; the plot area from `top` to `bottom` (fractions of its
    height, from the top)."""

    steps: tuple[float, ...]
    x: tuple[float, ...]
    top: float
    bottom: float

    def at(self, steps: Sequence[int]) -> str:
        """The marker's position at each of `steps` (a player's frames), for its data-x attribute."""
        return " ".join(f"{v:.4f}" for v in np.interp(np.asarray(steps, float), self.steps, self.x))

    @property
    def span(self) -> str:
        return f"{self.top:.4f} {self.bottom:.4f}"


def chart_markers(fig: MplFigure, steps: np.ndarray) -> tuple[Marker, ...]:
    """A marker for each axes of a matplotlib figure whose x axis is the optimiser step: where each of `steps`
    falls, through the axes' own scale (symlog, say). The figure is drawn first only where a layout engine places
    its axes at drawing time (a figure laid out once, by tight_layout, already has its places)."""
    if fig.get_layout_engine() is not None:
        fig.canvas.draw()
    box = fig.bbox
    out = []
    xs = np.unique(np.asarray(steps, float))
    for ax in fig.axes:
        extent = ax.get_window_extent()
        y = float(np.mean(ax.get_ylim()))
        px = ax.transData.transform(np.column_stack([xs, np.full(len(xs), y)]))[:, 0]
        x = np.clip((px - box.x0) / box.width, 0, 1)
        top, bottom = 1 - (extent.y1 - box.y0) / box.height, 1 - (extent.y0 - box.y0) / box.height
        out.append(Marker(tuple(xs.tolist()), tuple(x.tolist()), float(top), float(bottom)))
    return tuple(out)


@dataclass(frozen=True)
class Timeline:
    """What is known of each snapshot of a run: its step, and the epoch and training loss of the last metrics row
    at or before it (None where the run has no metrics, as a user's checkpoints may not)."""

    steps: np.ndarray
    epochs: tuple[float | None, ...]
    losses: tuple[float | None, ...]

    @classmethod
    def of(cls, steps: np.ndarray, metrics: Sequence[dict[str, float | None]]) -> Timeline:
        rows = sorted((r for r in metrics if r.get("step") is not None), key=lambda r: float(r["step"] or 0))
        at = [float(r["step"] or 0) for r in rows]
        picked = [rows[i - 1] if i else None for i in np.searchsorted(at, np.asarray(steps, float), side="right")]
        return cls(
            np.asarray(steps),
            tuple(None if r is None else r.get("epoch") for r in picked),
            tuple(None if r is None else r.get("loss") for r in picked),
        )

    def label(self, i: int, score: float | None = None, score_name: str = "r*") -> str:
        """The label of snapshot i: 'step 1,200 · epoch 3 · loss 0.412 · median r* 0.72'."""
        parts = [f"step {int(self.steps[i]):,}"]
        epoch, loss = self.epochs[i], self.losses[i]
        if epoch is not None:
            parts.append(f"epoch {epoch:g}" if float(epoch).is_integer() else f"epoch {epoch:.2f}")
        if loss is not None:
            parts.append(f"loss {loss:.3g}")
        if score is not None and math.isfinite(score):
            parts.append(f"{score_name} {score:.2f}")
        return " · ".join(parts)


@dataclass(frozen=True)
class Player:
    """A player over `frames` (snapshot indices, ascending) with a label for each; `controls`: the ids of the
    elements on the page that follow it (sprite views, charts with markers)."""

    frames: tuple[int, ...]
    steps: tuple[int, ...]
    labels: tuple[str, ...]
    controls: tuple[str, ...]

    @property
    def last(self) -> int:
        return len(self.frames) - 1

    def json(self) -> Markup:
        """The player's numbers for its inline <script type="application/json">: '<' escaped, so that no text in it
        can end the script."""
        interval = min(max(round(1000 * PLAY_SECONDS / max(len(self.frames), 1)), FRAME_MS[0]), FRAME_MS[1])
        data = {"frames": self.frames, "steps": self.steps, "labels": self.labels, "interval": interval}
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))  # noqa: S704


def make_player(
    timeline: Timeline,
    frames: Sequence[Sequence[int]],
    controls: Sequence[str],
    scores: np.ndarray | None = None,
    score_name: str = "r*",
) -> Player | None:
    """The player over every frame that its views show (`frames`: each view's snapshot indices), labelled from the
    timeline and `scores` (one per snapshot); None where there is nothing to move through (one frame)."""
    shown = sorted({int(i) for view in frames for i in view})
    if len(shown) < 2:
        return None
    labels = tuple(timeline.label(i, None if scores is None else float(scores[i]), score_name) for i in shown)
    return Player(tuple(shown), tuple(int(timeline.steps[i]) for i in shown), labels, tuple(controls))
