"""The README is the manual: every command and every option of the CLI appears in it."""

from pathlib import Path

import typer.main

from cnnkreport.cli import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_command_and_option_is_documented() -> None:
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert {"build", "data", "train", "render"} <= set(commands)
    for name, cmd in commands.items():
        assert f"`cnnkreport {name}" in README, f"command {name} is not in the README"
        for param in cmd.params:
            for opt in param.opts:
                if opt.startswith("--") and opt not in ("--help",):
                    assert opt in README, f"option {opt} of {name} is not in the README"


def test_quick_start_has_the_two_commands() -> None:
    assert "pip install . && cnnkreport build" in README
    assert 'pip install ".[test]" && pytest' in README
