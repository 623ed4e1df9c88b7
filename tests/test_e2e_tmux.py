"""The installed console script, in a real terminal (tmux), on the bundled sample.

Starts ``alpha-tui`` as a user would, switches pane and reduction with keys, saves a
snapshot, quits, and checks the files, the screen and the exit code. The number on
screen is compared with the headless report computed in this process.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from alpha_tui.cli import main

TMUX = shutil.which("tmux")
SCRIPT = Path(sys.executable).with_name("alpha-tui")
LIMIT = 24

if TMUX is None and os.environ.get("CI"):
    pytest.fail("tmux is required for the end-to-end test in CI", pytrace=False)
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux not installed")


class Terminal:
    def __init__(self, cwd: Path, command: str) -> None:
        self.socket = f"alpha-tui-test-{uuid.uuid4().hex[:8]}"
        self.cwd = cwd
        self._tmux(
            "new-session", "-d", "-s", "e2e", "-x", "120", "-y", "60", "-c", str(cwd), command
        )

    def _tmux(self, *args: str) -> subprocess.CompletedProcess:
        # COLUMNS/LINES (pytest may set them) would override the terminal size in Textual
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        return subprocess.run(
            [TMUX, "-L", self.socket, *args], capture_output=True, text=True, env=env
        )

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "e2e").stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self._tmux("send-keys", "-t", "e2e", key)
            time.sleep(0.3)

    def wait_for(self, text: str, timeout: float = 180.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.5)
        raise AssertionError(f"{text!r} not on screen after {timeout}s:\n{self.screen()}")

    def alive(self) -> bool:
        return self._tmux("has-session", "-t", "e2e").returncode == 0

    def close(self) -> None:
        self._tmux("kill-server")

    def quit(self) -> None:
        self.keys("q")
        deadline = time.monotonic() + 30
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert not self.alive(), "alpha-tui did not quit on q"


def console(tmp_path: Path, args: str) -> tuple[Terminal, Path]:
    """``alpha-tui ARGS`` in tmux, and the file its exit status will be written to."""
    assert SCRIPT.exists(), f"console script not installed at {SCRIPT}"
    rc_file = tmp_path / "rc"
    command = f"{shlex.quote(str(SCRIPT))} {args}; echo $? > {shlex.quote(str(rc_file))}"
    return Terminal(tmp_path, command), rc_file


@pytest.fixture
def expected_max_mean(capsys) -> float:
    code = main(
        ["report", "--json", "--limit", str(LIMIT), "--reduction", "max", "--backend", "native"]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    return report["alpha"]["middle_fusion_modules.layer_2"]["max"]["mean"]


def test_console_script_in_tmux(tmp_path, expected_max_mean):
    term, rc_file = console(tmp_path, f"--limit {LIMIT} --backend native --snapshot-dir snaps")
    try:
        overview = term.wait_for("findings")
        assert "middle_fusion_modules.layer_2" in overview
        assert "all 9 pairs SKIPPED" in overview  # the 64-wide text, reported not dropped
        term.keys("2")
        term.wait_for("mean over 256 gate dims")
        term.keys("r")
        alpha = term.wait_for("max over 256 gate dims")
        assert f"{expected_max_mean:.4f}" in alpha
        term.keys("s")
        term.wait_for("saved")
        term.keys("4")
        term.wait_for("text flow")
        term.keys("t")
        layers = term.wait_for("source text_projection")
        assert "SKIPPED(256≠64)" in layers
        term.quit()
    finally:
        term.close()
    assert rc_file.read_text().strip() == "0"
    svgs = sorted((tmp_path / "snaps").glob("*.svg"))
    texts = sorted((tmp_path / "snaps").glob("*.txt"))
    assert len(svgs) == 1 and len(texts) == 1
    assert "alpha" in svgs[0].name and "max" in svgs[0].name
    assert svgs[0].read_text().lstrip().startswith("<svg")
    saved = texts[0].read_text()
    assert "max over 256 gate dims" in saved
    assert f"{expected_max_mean:.4f}" in saved


def test_explorer_parses_in_worker_processes(tmp_path):
    # the pool starts from the loader thread while the app owns the terminal (its
    # stderr capture has no descriptor): this once failed every start
    term, rc_file = console(tmp_path, "--limit 60 --workers 2 --backend native --cache-dir cache")
    try:
        overview = term.wait_for("problems (")
        assert "crystals           60" in overview
        assert "parse-workers" not in overview and "could not start" not in overview
        term.quit()
    finally:
        term.close()
    assert rc_file.read_text().strip() == "0"
    assert list((tmp_path / "cache" / "graphs").iterdir())  # it parsed (no cache before)
