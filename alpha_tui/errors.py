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
