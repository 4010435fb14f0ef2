"""The command line's own options."""

from __future__ import annotations

from typer.testing import CliRunner

from civrisk import __version__
from cli.main import app


def test_version_option_and_command() -> None:
    runner = CliRunner()
    for args in (["--version"], ["version"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and result.output.strip() == f"civrisk {__version__}"
