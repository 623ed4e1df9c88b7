"""Run one class of adversarial cases in this process, one JSON line per case.

``python -m adversarial.driver CLASS SEED OUT.jsonl [START]`` (from tests/). Each case
gets a fresh folder, a per-case alarm and the CLI's ``main`` with stdout/stderr
captured; the address space is capped a little above what the warmed-up process
uses, so an input that allocates what it only declares fails here instead of passing.
A case that kills the process is seen by the caller (the last "start" line without a
result) and the driver is restarted after it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import signal
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

# the checkout this file belongs to, ahead of any installed alpha_tui
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from adversarial.base import MARKER, Case  # noqa: E402
from adversarial.registry import generate  # noqa: E402

HEADROOM = 1536 << 20  # bytes of address space a case may add to the warmed-up process
CASE_SECONDS = 60
ERROR_PREFIX = "alpha-tui: error: "


class CaseTimeout(BaseException):
    """Raised by the alarm; BaseException so the CLI's handlers do not swallow it."""


def _on_alarm(signum, frame):
    raise CaseTimeout()


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def classify(code: int | None, out: str, err: str, escaped: str, argv: list[str]) -> str:
    if escaped:
        return "traceback"
    if "Traceback (most recent call last)" in err or "Traceback (most recent call last)" in out:
        return "traceback"
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 0:
        if "--json" in argv:
            try:
                json.loads(out)
            except ValueError:
                return "miss:bad-json"
        return "ok" if not lines else "miss:stderr-on-success"
    if code == 2 and len(lines) == 1 and lines[0].startswith(ERROR_PREFIX):
        if "ran out of memory" in lines[0]:
            return "miss:out-of-memory"
        return "error"
    return f"miss:exit-{code}-{len(lines)}-lines"


def run_case(case: Case, root: Path) -> dict:
    from alpha_tui.cli import main

    folder = Path(tempfile.mkdtemp(prefix="case-", dir=root))
    try:
        argv = case.build(folder)
    except Exception as exc:  # noqa: BLE001 - a broken generator is reported, not fatal
        return {"case": case.name, "outcome": "generator-failed", "detail": repr(exc)}
    before = _files(folder)
    out, err = io.StringIO(), io.StringIO()
    code, escaped = None, ""
    signal.alarm(CASE_SECONDS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except CaseTimeout:
        escaped = "timeout"
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - what we are looking for
        escaped = traceback.format_exc(limit=-3)
    finally:
        signal.alarm(0)
    outcome = (
        "timeout"
        if escaped == "timeout"
        else classify(code, out.getvalue(), err.getvalue(), escaped, argv)
    )
    after = _files(folder)
    created = sorted(p for p in after - before if not p.startswith("cache/"))
    allowed = set(case_outputs(argv, folder))
    leftovers = [p for p in created if p not in allowed and p != MARKER]
    return {
        "case": case.name,
        "outcome": outcome,
        "executed": (folder / MARKER).exists(),
        "partial": leftovers,
        "stderr": err.getvalue()[-400:],
        "detail": escaped[-800:],
    }


def case_outputs(argv: list[str], folder: Path) -> list[str]:
    """Files a successful command may create (the export's --out)."""
    if "--out" in argv:
        out = Path(argv[argv.index("--out") + 1])
        with contextlib.suppress(ValueError):
            return [str(out.resolve().relative_to(folder.resolve()))]
    return []


def main() -> int:
    klass, seed, out_path = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    start = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="adv-xdg-"))
    import alpha_tui.capture.pipeline  # noqa: F401
    import alpha_tui.cli  # noqa: F401 - warm up imports before capping memory

    cases = [c for c in generate(seed) if c.klass == klass]
    warnings.simplefilter("default")
    signal.signal(signal.SIGALRM, _on_alarm)
    root = Path(tempfile.mkdtemp(prefix=f"adv-{klass}-"))
    # warm the pipeline once on a valid base run so lazy imports are in place
    if cases:
        run_case(cases[0], root)
    cap = _vm_size() + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    with open(out_path, "a", encoding="utf-8") as log:
        for index in range(start, len(cases)):
            log.write(json.dumps({"start": index, "case": cases[index].name}) + "\n")
            log.flush()
            result = run_case(cases[index], root)
            result["index"] = index
            log.write(json.dumps(result) + "\n")
            log.flush()
    print(json.dumps({"total": len(cases)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
