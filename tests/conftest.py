"""Shared fixtures: tiny configs (seconds), and one quick site built once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from cnnkreport.cli import app
from cnnkreport.config import PRESETS, DataConfig, RunConfig, TrainConfig

from .browser_support import CHROMIUM_ARGS, chromium_path, unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Browser

os.environ.setdefault("MPLBACKEND", "Agg")


def tiny(kind: str = "image", **train: object) -> RunConfig:
    """A run that trains in about a second."""
    base = PRESETS["pulses-2d" if kind == "image" else "pulses-1d"]
    size = 16 if kind == "image" else 64
    return replace(
        base,
        data=replace(base.data, size=size, n_train=256, n_test=64),
        train=replace(base.train, **{"epochs": 2, "batch_size": 32, "snapshots": 10, **train}),
    )


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the quick site is slow: building it trains and renders every preset (about 40 s alone)."""
    for item in items:
        if "quick_site" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def quick_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cnnkreport build --quick` in an empty folder; returns that folder (site/ and runs/ inside). Every test that
    uses it is marked slow (pytest_collection_modifyitems)."""
    root = tmp_path_factory.mktemp("quick")
    result = CliRunner().invoke(app, ["build", "--quick", "--out", str(root / "site"), "--runs", str(root / "runs")])
    assert result.exit_code == 0, result.output
    return root


__all__ = ["tiny", "DataConfig", "TrainConfig"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole session, shared by every browser test (Playwright's sync API allows one
    at a time in a process) (the system one: Playwright's own download is never used)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the Python package playwright is not installed (pip install '.[test]')")
    exe = chromium_path()
    if exe is None:
        unavailable("no Chromium found (apt-get install chromium, or set CNNK_CHROMIUM to its path)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
