"""Every generated bad input ends in success, a listed skip or one line with exit 2.

One driver process per class runs its cases in-process (see driver.py); when a case
kills the process, the case is counted as a crash and the driver resumes after it.
The summary line of each class is printed at the end of the pytest run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from adversarial.registry import classes, selected_set
from adversarial.summary import SUMMARY_KEY, tally

TESTS = Path(__file__).resolve().parents[1]
SEED = int(os.environ.get("ALPHA_TUI_ADVERSARIAL_SEED", "0"))
SET = selected_set()  # ALPHA_TUI_ADVERSARIAL_SET: standard (default) or fresh
CLASS_SECONDS = 900
WORKERS = 2  # driver processes at once (CI has two cores)


def run_class(klass: str, seed: int, log: Path) -> int:
    """Run the driver until every case has a result; returns the number of restarts."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    restarts, start = 0, 0
    while True:
        proc = subprocess.run(
            [sys.executable, "-m", "adversarial.driver", klass, str(seed), str(log), str(start)],
            cwd=TESTS,
            env=env,
            capture_output=True,
            text=True,
            timeout=CLASS_SECONDS,
        )
        if proc.returncode == 0:
            return restarts
        lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
        begun = [x["start"] for x in lines if "start" in x]
        if not begun or begun[-1] < start:
            raise AssertionError(f"driver failed before any case: {proc.stderr[-2000:]}")
        start = begun[-1] + 1  # the case that was running killed the process
        restarts += 1


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every class's driver log, the classes run two at a time."""
    folder = tmp_path_factory.mktemp("adversarial")
    paths = {k: folder / f"{k}.jsonl" for k in classes()}
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda k: run_class(k, SEED, paths[k]), classes()))
    return paths


@pytest.mark.both_lanes
@pytest.mark.parametrize("klass", classes())
def test_adversarial_class(
    klass: str, logs: dict[str, Path], request: pytest.FixtureRequest
) -> None:
    result = tally(klass, logs[klass], f"set {SET}, seed {SEED}")
    request.config.stash.setdefault(SUMMARY_KEY, []).append(result.line())
    assert result.tried > 0
    assert result.clean, result.line() + "\n" + "\n".join(result.misses[:10])
