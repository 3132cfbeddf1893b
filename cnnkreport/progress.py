"""Progress bars and status lines on stderr (stdout stays clean for scripts)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

console = Console(stderr=True, highlight=False)


def say(message: str) -> None:
    console.print(message, markup=False, soft_wrap=True)


class _Bars(Progress):
    """Bars that appear with their first task: a command that fails before any progress prints its error line
    and nothing else (not even the empty line of an empty display)."""

    def add_task(self, *args: Any, **kwargs: Any) -> TaskID:
        if not self.live.is_started:
            self.start()
        return super().add_task(*args, **kwargs)


@contextmanager
def bars() -> Iterator[Progress]:
    progress = _Bars(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    try:
        yield progress
    finally:
        if progress.live.is_started:
            progress.stop()


def step_callback(progress: Progress, description: str) -> Callable[[int, int], None]:
    """A train(on_step=...) callback that drives one bar. The bar appears with the first step, after the
    inputs have been checked, so that bad input prints its error line and nothing else."""
    task: list[TaskID] = []

    def update(step: int, total: int) -> None:
        if not task:
            task.append(progress.add_task(description, total=total))
        progress.update(task[0], completed=step, total=total)

    return update


def item_callback(progress: Progress, verb: str, total: int | None = None) -> Callable[[str], None]:
    """A callback(name), called as each item is done (a run rendered, say), that advances one bar."""
    task: list[TaskID] = []

    def update(name: str) -> None:
        if not task:
            task.append(progress.add_task(verb, total=total))
        progress.update(task[0], advance=1, description=f"{verb} {escape(name)}")  # a name is not rich markup

    return update
