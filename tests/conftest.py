"""Suite-wide pytest hooks."""

from __future__ import annotations

from adversarial.summary import SUMMARY_KEY


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """One line per adversarial class, visible in `make test` output even with -q."""
    lines = config.stash.get(SUMMARY_KEY, [])
    if lines:
        terminalreporter.section("adversarial summary")
        for line in sorted(lines):
            terminalreporter.write_line(line)
