"""Progress bars and status lines on stderr (stdout stays clean for scripts)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from .executors import Events, Failed

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


class JobBars(Events):
    """The progress of many runs on any engine: one bar over them all that counts the runs done, running and
    failed, and a bar per running run (its steps), gone when it ends."""

    def __init__(self, progress: Progress, title: str, names: list[str]) -> None:
        self.progress, self.title, self.names = progress, title, names
        self.running: dict[int, TaskID | None] = {}
        self.done = self.failed = 0
        self._total: TaskID | None = None  # added with the first event: bad input prints its error line only

    @property
    def total(self) -> TaskID:
        if self._total is None:
            self._total = self.progress.add_task(self._describe(), total=len(self.names))
        return self._total

    def _describe(self) -> str:
        failed = f" · {self.failed} failed" if self.failed else ""
        return f"{self.title} · {self.done} done · {len(self.running)} running{failed}"

    def started(self, k: int) -> None:
        self.running.setdefault(k, None)
        self.progress.update(self.total, description=self._describe())

    def step(self, k: int, step: int, total: int) -> None:
        bar = self.running.get(k)
        if bar is None:
            bar = self.running[k] = self.progress.add_task(f"  {escape(self.names[k])}", total=total)
        self.progress.update(bar, completed=step, total=total)

    def finished(self, k: int, failure: Failed | None) -> None:
        bar = self.running.pop(k, None)
        if bar is not None:
            self.progress.remove_task(bar)
        if failure is None:
            self.done += 1
        else:
            self.failed += 1
        self.progress.update(self.total, advance=1, description=self._describe())
