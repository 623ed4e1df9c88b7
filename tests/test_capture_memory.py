"""The heap trimmer trims only after real growth, and never where there is no glibc."""

from __future__ import annotations

import pytest

from alpha_tui.capture import memory

pytestmark = pytest.mark.both_lanes


def test_trims_only_past_the_slack(monkeypatch):
    readings = iter([100.0, 150.0, 420.0, 130.0, 300.0])
    calls = []
    monkeypatch.setattr(memory, "resident_mib", lambda: next(readings))
    monkeypatch.setattr(memory, "_malloc_trim", lambda: calls.append)
    trimmer = memory.HeapTrimmer(slack_mib=256.0)  # baseline 100
    trimmer()  # 150: +50, no trim
    assert calls == []
    trimmer()  # 420: +320, trim; new baseline read: 130
    assert calls == [0] and trimmer.baseline == 130.0 and trimmer.trims == 1
    trimmer()  # 300: +170 over the new baseline, no trim
    assert calls == [0]


def test_no_libc_trim_is_a_no_op(monkeypatch):
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    trimmer = memory.HeapTrimmer(slack_mib=0.0)
    trimmer()
    assert trimmer.trims == 0


def test_resident_memory_is_read_on_linux():
    value = memory.resident_mib()
    assert value is None or value > 1.0
