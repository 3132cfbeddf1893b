"""Published accuracies on the archive's data sets, kept as data with their sources: the run page of a run trained on
one of them (by its name, userdata.DataSource.name) shows them beside its own, and summary.json carries them.

Only figures copied from their sources are here; a data set or a method without one is left out, never estimated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

UCR_2018 = (
    "Dau et al., The UCR Time Series Classification Archive (2018), DataSummary.csv: test error rates of 1-NN with "
    "Euclidean distance, with DTW at the warping window learned on the training set, and with DTW at a full window "
    "(https://www.cs.ucr.edu/~eamonn/time_series_data_2018/)"
)
WANG_2017 = (
    "Wang, Yan and Oates, Time series classification from scratch with deep neural networks: a strong baseline "
    "(IJCNN 2017): FCN test error rates on the UCR archive, as its authors' repository lists them "
    "(https://github.com/cauchyturing/UCR_Time_Series_Classification_Deep_Learning_Baseline)"
)
SOURCES = {"ucr2018": UCR_2018, "wang2017": WANG_2017}


@dataclass(frozen=True)
class Published:
    """One data set's published figures (error rates, as the sources give them) and its train and test sizes."""

    name: str  # as the archive spells it
    n_train: int
    n_test: int
    ed: float  # 1-NN Euclidean distance
    dtw_learned: float  # 1-NN DTW, warping window learned on the training set
    dtw_window: int  # that window, in % of the length
    dtw_full: float  # 1-NN DTW, full window (w = 100%)
    fcn: float | None = None  # FCN (Wang et al. 2017), where published

    def rows(self) -> list[tuple[str, float, str]]:
        """(method, test accuracy, source key), for the run page."""
        rows = [
            ("1-NN Euclidean distance", 1 - self.ed, "ucr2018"),
            (f"1-NN DTW, window learned ({self.dtw_window}%)", 1 - self.dtw_learned, "ucr2018"),
            ("1-NN DTW, full window", 1 - self.dtw_full, "ucr2018"),
        ]
        if self.fcn is not None:
            rows.append(("FCN (Wang, Yan and Oates 2017)", 1 - self.fcn, "wang2017"))
        return rows

    @property
    def best_dtw(self) -> float:
        """The better of the two 1-NN DTW accuracies: the baseline a run is held to."""
        return 1 - min(self.dtw_learned, self.dtw_full)


# UCR 2018 DataSummary.csv (ED (w=0), DTW (learned_w), DTW (w=100)); FCN from Wang et al. 2017 where published (the
# 85 data sets of the 2015 archive: not ACSF1 or PickupGestureWiimoteZ, added in 2018). The UEA multivariate archive
# (BasicMotions, JapaneseVowels) publishes its own baselines, not kept here.
TABLE = {
    p.name.casefold(): p
    for p in (
        Published("GunPoint", 50, 150, 0.0867, 0.0867, 0, 0.0933, fcn=0.000),
        Published("ArrowHead", 36, 175, 0.2000, 0.2000, 0, 0.2971, fcn=0.120),
        Published("ItalyPowerDemand", 67, 1029, 0.0447, 0.0447, 0, 0.0496, fcn=0.030),
        Published("OSULeaf", 200, 242, 0.4793, 0.3884, 7, 0.4091, fcn=0.012),
        Published("ACSF1", 100, 100, 0.4600, 0.3800, 4, 0.3600),
        Published("PickupGestureWiimoteZ", 50, 50, 0.4400, 0.3400, 17, 0.3400),
    )
}


def lookup(name: str | None) -> Published | None:
    """The published figures of the archive's data set `name` (any case), if there are any."""
    return None if not name else TABLE.get(name.casefold())


@dataclass(frozen=True)
class Context:
    """A run's accuracy beside the published figures for its data set: `comparable` when it was tested on the
    archive's own test set (the same number of training and test series as the archive's split)."""

    published: Published
    comparable: bool

    def sources(self) -> dict[str, str]:
        """The sources of the figures shown, by key."""
        return {key: SOURCES[key] for key in dict.fromkeys(source for _, _, source in self.published.rows())}

    def summary(self) -> dict[str, Any]:
        """summary.json's `data.published`: test accuracies with their sources."""
        p = self.published
        return {
            "data_set": p.name,
            "comparable": self.comparable,
            "accuracy": {
                "1nn_euclidean": round(1 - p.ed, 4),
                "1nn_dtw_learned_window": round(1 - p.dtw_learned, 4),
                "dtw_window_percent": p.dtw_window,
                "1nn_dtw_full_window": round(1 - p.dtw_full, 4),
                "fcn": None if p.fcn is None else round(1 - p.fcn, 4),
            },
            "sources": self.sources(),
        }


def context(name: str | None, n_train: int, n_test: int) -> Context | None:
    """The published figures for a run on the data set `name` with these split sizes, or None."""
    p = lookup(name)
    return None if p is None else Context(p, (n_train, n_test) == (p.n_train, p.n_test))


__all__ = ["SOURCES", "TABLE", "Published", "Context", "lookup", "context"]
