"""Errors meant for the person at the terminal.

A ``UserError`` is bad input the user can fix; the CLI prints its message as one
line and exits with code 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """One-line, actionable message: what was wrong and what to do."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def shown(text: str, limit: int = 80) -> str:
    """User input as it may appear inside a one-line message: control characters are
    escaped (a pasted newline must not split the line) and long input is cut."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"
