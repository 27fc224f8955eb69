"""The command table of cli/main.py agrees with the COMMANDS lists of the cli modules."""

from __future__ import annotations

import importlib
import pkgutil

from click.testing import CliRunner

import layerfs.cli
from layerfs.cli.main import COMMAND_MODULES, cli


def _declared() -> dict[str, str]:
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(layerfs.cli.__path__):
        if info.name.startswith("_") or info.name == "main":
            continue
        module = importlib.import_module(f"layerfs.cli.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            assert command.name not in found, f"{command.name} defined twice"
            found[command.name] = info.name
    return found


def test_table_matches_modules() -> None:
    assert _declared() == COMMAND_MODULES


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    for name in COMMAND_MODULES:
        assert name in result.output


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output
