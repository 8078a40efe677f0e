"""Error output of the command line, shared by every subcommand."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape


def error_console() -> Console:
    """A stderr console that never wraps: an error names paths and ids people copy and grep for whole."""
    return Console(stderr=True, soft_wrap=True)


def print_error(message: object) -> None:
    """Print ``message`` in red on stderr, as typed (brackets in it are text, not markup)."""
    error_console().print(f"[red]{escape(str(message))}[/red]")
