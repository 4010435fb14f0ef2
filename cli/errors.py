"""How a command reports bad input: one line on stderr that says what is wrong and how to fix it, exit 1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from publish.store.errors import StoreError

EXIT_BAD_INPUT = 1

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, LookupError, OSError, StoreError)
"""Errors whose message is written for the user (configs, files, weeks, models, a store that may not be
used as it is); anything else is a bug and keeps its traceback."""


@contextmanager
def one_line_errors(command: str) -> Iterator[None]:
    """Turn a user error raised in the block into ``civrisk COMMAND: message`` and exit code 1."""
    try:
        yield
    except USER_ERRORS as err:
        text = " ".join(str(err).split("\n"))
        typer.echo(f"civrisk {command}: {text}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from err
