"""The README is the manual: every command and every option of the CLI appears in it."""

import re
from pathlib import Path

import typer.main

from cnnkreport.cli import app

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def command_rows() -> dict[str, str]:
    """The README's command table: each command's own row (`| `cnnkreport NAME ...` | what it does |`)."""
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `cnnkreport (\w+)[^\n]*", README, re.MULTILINE)}


def options_in(text: str) -> set[str]:
    """Every long option named in a text, as a whole word: `--seeds` does not name `--seed`."""
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])", text))


def test_options_are_read_as_whole_words() -> None:
    assert options_in("[--seeds 5] `--scheduler-file F` --out/--no-out") == {
        "--seeds",
        "--scheduler-file",
        "--out",
        "--no-out",
    }
    assert "--seed" not in options_in("--seeds --seed-x")


def test_every_command_and_option_is_documented() -> None:
    """Each command has its row in the command table, and that row names exactly the command's own options (not
    another command's, and none it does not have)."""
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert {"build", "data", "train", "render", "inspect"} <= set(commands)
    rows = command_rows()
    assert set(rows) == set(commands), "the command table and the CLI name different commands"
    for name, cmd in commands.items():
        opts = {o for p in cmd.params for o in p.opts if o.startswith("--") and o != "--help"}
        negations = {o for p in cmd.params for o in getattr(p, "secondary_opts", ())}
        named = options_in(rows[name])
        assert opts <= named, f"options of {name} missing from its row: {sorted(opts - named)}"
        assert named <= opts | negations, f"{name}'s row names options it does not have: {sorted(named - opts)}"


def test_quick_start_has_the_two_commands() -> None:
    assert "pip install . && cnnkreport build" in README
    assert 'pip install ".[test]" && pytest' in README
