"""Run the real ``alpha-tui`` in a pseudo-terminal and read back when its frames appeared.

The process gets a pty as stdin/stdout (so it runs exactly as in a terminal, driver and
all) and ``ALPHA_TUI_BENCH_FRAMES`` (alpha_tui.tui.frame_probe): the app stamps
``time.monotonic()`` after rendering its first frame and after the Overview shows data.
Seconds since process start = stamp - the monotonic time taken just before the spawn,
so interpreter start-up and every import are inside the figure.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from alpha_tui.tui.frame_probe import ENV_VAR, FIRST_FRAME, OVERVIEW_DATA, read_events  # noqa: E402

ROWS, COLUMNS = 40, 120


def _drain(fd: int) -> None:
    """Read the terminal's output so the app never blocks on a full pty buffer."""
    while True:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def run_in_pty(args: list[str], until: str, timeout: float = 300.0) -> dict[str, float]:
    """Spawn ``python -m alpha_tui ARGS``; seconds from spawn to each event seen.

    ``until`` is FIRST_FRAME (then ``q`` is typed, as a user would, to cancel the load)
    or OVERVIEW_DATA (the app exits by itself once that frame is rendered).
    """
    if until not in (FIRST_FRAME, OVERVIEW_DATA):
        raise ValueError(until)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "frames.log"
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        env = {**os.environ, ENV_VAR: str(log), "TERM": "xterm-256color"}
        env.pop("ALPHA_TUI_DEBUG", None)
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "alpha_tui", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        os.close(slave)
        drain = threading.Thread(target=_drain, args=(master,), daemon=True)
        drain.start()
        try:
            events = _wait_for(proc, log, until, start + timeout)
            if until == FIRST_FRAME and proc.poll() is None:
                os.write(master, b"q")
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
        if until not in events:
            raise RuntimeError(
                f"alpha-tui {' '.join(args)} exited {proc.returncode} before {until}"
            )
        return {name: t - start for name, t in events.items()}


def _wait_for(proc: subprocess.Popen, log: Path, until: str, deadline: float) -> dict[str, float]:
    while time.monotonic() < deadline:
        events = read_events(log)
        if until in events or proc.poll() is not None:
            return read_events(log)
        time.sleep(0.005)
    raise TimeoutError(f"no {until} event before the timeout")


__all__ = ["FIRST_FRAME", "OVERVIEW_DATA", "run_in_pty"]
