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


def test_adaptive_slack_is_twice_the_largest_batch_rise(monkeypatch):
    readings = iter([100.0, 160.0, 170.0, 230.0, 110.0, 200.0])
    calls = []
    monkeypatch.setattr(memory, "resident_mib", lambda: next(readings))
    monkeypatch.setattr(memory, "_malloc_trim", lambda: calls.append)
    trimmer = memory.HeapTrimmer()  # baseline 100, slack max(64, 2 x largest rise)
    trimmer()  # 160: the batch rose 60 -> slack 120; +60 over the baseline, no trim
    assert trimmer.slack() == 120.0 and calls == []
    trimmer()  # 170: rose 10, slack stays 120; +70, no trim
    assert trimmer.slack() == 120.0 and calls == []
    trimmer()  # 230: +130 > 120, trim; the new baseline is read: 110
    assert calls == [0] and trimmer.baseline == 110.0
    trimmer()  # 200: rose 90 since the trim -> slack 180; +90, no trim
    assert trimmer.slack() == 180.0 and calls == [0] and trimmer.trims == 1


def test_small_batches_keep_the_floor(monkeypatch):
    readings = iter([100.0, 101.0, 102.0])
    monkeypatch.setattr(memory, "resident_mib", lambda: next(readings))
    monkeypatch.setattr(memory, "_malloc_trim", lambda: lambda _pad: None)
    trimmer = memory.HeapTrimmer()
    trimmer()
    trimmer()
    assert trimmer.slack() == memory.FLOOR_MIB and trimmer.trims == 0
