"""The explorer in a real terminal under abuse: resize storms, every key, bad input.

Runs this work tree's ``python -m alpha_tui`` on the bundled sample inside an
interactive shell in tmux, then: twenty rounds of 40x12 / 80x24 / 200x60, every
footer key of the explorer in every pane, impossible values in the reduction
picker, and q. After each step the screen must hold no traceback and the app must
still be running; after q the exit code is 0, no pane logged a failure, and the
shell is usable (cooked mode with echo, no alternate screen, no mouse tracking).
A second case checks that a loading error leaves exactly one line behind.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("textual")

from test_e2e_tmux import TMUX, Terminal

from alpha_tui.tui.app import PANE_CLASSES, ExplorerScreen

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux not installed")

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 24
SIZES = ((40, 12), (80, 24), (200, 60))
ROUNDS = 20
#: Textual key names -> tmux send-keys names
TMUX_KEYS = {
    "plus": "+",
    "minus": "-",
    "question_mark": "?",
    "space": "Space",
    "tab": "Tab",
    "shift+tab": "BTab",
    "escape": "Escape",
    "enter": "Enter",
    "ctrl+p": "C-p",
}
#: keys that open a modal screen -> text only that modal shows; escape closes it again
MODAL_KEYS = {
    "question_mark": "escape to close",
    "p": "reduction: how the H gate",
    "ctrl+p": "🔎",
}
IMPOSSIBLE = (
    ("dim:99999", "out of range"),
    ("quantile:7", "quantile must be in [0, 1]"),
    ("topk-mean:0", "topk-mean needs K >= 1"),
    ("weighted:/nonexistent/w.npy", "not found"),
    ("dim:-3", "dim index must be >= 0"),
)
ESCAPE_PAUSE = 0.8
CRASH_MARKS = ("Traceback", "Error in", "Segmentation fault", "core dumped")


def footer_keys() -> list[str]:
    """Every key the explorer binds, except pane switches (pressed separately) and q."""
    pane_keys = {cls.key for cls in PANE_CLASSES}
    keys: list[str] = []
    for binding in ExplorerScreen.BINDINGS:
        for key in binding.key.split(","):
            if key not in pane_keys and key not in keys:
                keys.append(key)
    return [*keys, "ctrl+p"]


class Shell(Terminal):
    """An interactive shell in tmux, so the state it is left in can be checked."""

    def __init__(self, cwd: Path) -> None:
        super().__init__(cwd, "env -u COLUMNS -u LINES PS1='$ ' bash --norc --noprofile")

    def run(self, command: str) -> None:
        self._tmux("send-keys", "-t", "e2e", "-l", command)
        self._tmux("send-keys", "-t", "e2e", "Enter")

    def press(self, key: str, pause: float = 0.15) -> None:
        self._tmux("send-keys", "-t", "e2e", TMUX_KEYS.get(key, key))
        time.sleep(pause)

    def type_text(self, text: str) -> None:
        self._tmux("send-keys", "-t", "e2e", "-l", text)

    def resize(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-t", "e2e", "-x", str(width), "-y", str(height))

    def flag(self, name: str) -> str:
        return self._tmux("display-message", "-p", "-t", "e2e", f"#{{{name}}}").stdout.strip()

    def close_modal(self, marker: str) -> int:
        """Escape until ``marker`` is gone; returns the escapes sent.

        ESC read in one chunk with the next key is alt+key to the app (a busy app
        reads late), so each escape waits for the modal to close before going on.
        """
        self.wait_for(marker, timeout=30)
        for sent in range(1, 6):
            self.press("escape", ESCAPE_PAUSE)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if marker not in self.screen():
                    return sent
                time.sleep(0.2)
        raise AssertionError(f"escape did not close the modal ({marker!r}):\n{self.screen()}")

    def joined_screen(self) -> str:
        """The screen with wrapped lines joined, so a long line counts once."""
        return self._tmux("capture-pane", "-p", "-J", "-t", "e2e").stdout

    def app_running(self) -> bool:
        # the app runs on the alternate screen; back at the prompt it is off again
        return self.flag("alternate_on") == "1"


def explorer_command(tmp_path: Path, extra: str = "") -> str:
    python = shlex.quote(sys.executable)
    return (
        f"PYTHONPATH={shlex.quote(str(ROOT))} {python} -m alpha_tui {extra} "
        f"--cache-dir {shlex.quote(str(tmp_path / 'cache'))}; echo EXIT''=$?"
    )


def check(term: Shell, counts: dict[str, int], what: str) -> None:
    screen = term.screen()
    if any(mark in screen for mark in CRASH_MARKS):
        counts["tracebacks"] += 1
        raise AssertionError(f"traceback on screen after {what}:\n{screen}")
    if not term.app_running():
        counts["crashes"] += 1
        time.sleep(5)  # let it print what it died of
        state = term.flag("alternate_on") + " " + term.flag("pane_current_command")
        raise AssertionError(f"explorer gone after {what} ({state}):\n{term.joined_screen()}")


def type_into_picker(term: Shell, value: str, attempts: int = 3) -> None:
    """Clear the field and type; on a loaded machine the field may take focus late."""
    for attempt in range(attempts):
        term.press("C-u")  # clear the field (readline-style, as Textual's Input)
        term.type_text(value)
        try:
            term.wait_for(value, timeout=15)  # typed into the field, not the screen below
            return
        except AssertionError:
            if attempt == attempts - 1:
                raise
            time.sleep(1.0)


def test_resize_storm_every_key_bad_picker_values(tmp_path: Path, capsys) -> None:
    counts = {"keys": 0, "resizes": 0, "tracebacks": 0, "crashes": 0}
    term = Shell(tmp_path)
    try:
        term.run(
            explorer_command(
                tmp_path, f"--limit {LIMIT} --backend native --snapshot-dir snaps"
            )
        )
        term.wait_for("findings")
        for round_ in range(ROUNDS):
            for width, height in SIZES:
                term.resize(width, height)
                counts["resizes"] += 1
                time.sleep(0.1)
                check(term, counts, f"resize {width}x{height} (round {round_})")
        term.resize(120, 40)
        time.sleep(0.5)
        keys = footer_keys()
        for cls in PANE_CLASSES:
            term.press(cls.key, 0.4)
            counts["keys"] += 1
            for key in keys:
                term.press(key)
                counts["keys"] += 1
                if key in MODAL_KEYS:
                    counts["keys"] += term.close_modal(MODAL_KEYS[key])
                check(term, counts, f"key {key!r} in pane {cls.pane_id}")
        term.press("2", 0.4)
        term.wait_for("gate dims")
        term.press("p", 0.5)
        term.wait_for("type e.g. max")  # the picker is up and its field is empty
        for value, fragment in IMPOSSIBLE:
            type_into_picker(term, value)
            term.press("enter", 0.3)
            counts["keys"] += 2
            term.wait_for(fragment, timeout=30)
            check(term, counts, f"picker value {value!r}")
        counts["keys"] += term.close_modal(MODAL_KEYS["p"])
        check(term, counts, "closing the picker")
        term.press("q", 0.5)
        counts["keys"] += 1
        screen = term.wait_for("EXIT=", timeout=60)
        assert "EXIT=0" in screen, screen
        assert not any(mark in screen for mark in CRASH_MARKS), screen
        # the shell is usable: prompt back, cooked mode with echo, terminal modes reset
        term.run("stty -a | tr ' ' '\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ' '")
        term.run("echo OK=$((6*7))")
        modes = term.wait_for("OK=42", timeout=20)
        assert "-icanon" not in modes and "-echo " not in modes and "icanon" in modes
        assert term.flag("alternate_on") == "0"
        assert term.flag("mouse_any_flag") == "0"
    finally:
        term.close()
    log = tmp_path / "cache" / "logs" / "explorer.log"
    assert not log.exists(), f"a pane failed during the storm:\n{log.read_text()}"
    assert counts["resizes"] == ROUNDS * len(SIZES)
    with capsys.disabled():
        print(
            f"\nadversarial: explorer {counts['keys']} keys, {counts['resizes']} resizes, "
            f"{counts['tracebacks']} tracebacks, {counts['crashes']} crashes"
        )


def test_loading_error_leaves_exactly_one_line(tmp_path: Path) -> None:
    # a file that exists but is no checkpoint: the error comes from the loader, in the app
    missing = tmp_path / ("a-rather-long-folder-name-" * 4) / "best_model_checkpoint.pt"
    missing.parent.mkdir()
    missing.write_bytes(b"this is not a torch checkpoint\n" * 4)
    term = Shell(tmp_path)
    try:
        term.resize(80, 24)
        term.run(explorer_command(tmp_path, shlex.quote(str(missing))))
        term.wait_for("could not start")
        term.press("q", 0.5)
        term.wait_for("EXIT=", timeout=30)
        screen = term.joined_screen()
    finally:
        term.close()
    assert "EXIT=2" in screen
    # the message is wider than the terminal: joined rows, so it counts once per copy
    before_exit = screen.split("EXIT=")[0]
    assert before_exit.count("not a PyTorch checkpoint") == 1, screen
    assert before_exit.count("alpha-tui: error: ") == 1, screen
    assert "Traceback" not in screen
