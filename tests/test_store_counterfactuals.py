"""Text-effect re-runs appended to a finished store: round trip, replacement, crash safety."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic import make_cache
from test_store import assert_same

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.capture.cache import CounterfactualRun
from alpha_tui.report.text_effect import text_effect_section
from alpha_tui.store import counterfactuals as module
from alpha_tui.store.counterfactuals import (
    save_all_counterfactuals,
    save_counterfactual,
    store_path_of,
    stored_fusions,
)
from alpha_tui.store.layout import MANIFEST
from alpha_tui.store.reader import open_store
from alpha_tui.store.writer import write_store

pytestmark = pytest.mark.both_lanes
FUSIONS = ("middle_fusion_modules.layer_1", "middle_fusion_modules.layer_2")
CONDITIONS = ("other_text", "mean_text", "gate_shut", "gate_mean", "text_zeroed")


def make_run(fusion: str, n: int, seed: int) -> CounterfactualRun:
    rng = np.random.default_rng(seed)
    return CounterfactualRun(
        fusion=fusion,
        classification=False,
        baseline=rng.normal(size=(n, 1)),
        outputs={c: rng.normal(size=(n, 1)) for c in CONDITIONS},
        seconds=1.5 + seed,
    )


@pytest.fixture
def store(tmp_path):
    cache = make_cache(n_crystals=10, hidden=8, fusion_layers=(1, 2))
    cache.meta.update({"device": "cpu", "problems": [], "notes": []})
    return write_store(cache, tmp_path / "s")


def test_round_trip_reopens_the_runs_bit_for_bit(store):
    runs = [make_run(f, 10, seed) for seed, f in enumerate(FUSIONS)]
    for run in runs:
        save_counterfactual(store, run)
    reopened = open_store(store)  # verifies every checksum, the new files' included
    assert list(reopened.counterfactuals) == list(FUSIONS)
    for run in runs:
        assert_same(run, reopened.counterfactuals[run.fusion])


def test_the_report_section_from_the_store_equals_the_live_one(store):
    run = make_run(FUSIONS[1], 10, 3)
    live = open_store(store)
    live.counterfactuals[run.fusion] = run
    expected = text_effect_section(AnalysisSession(live))
    save_counterfactual(store, run)
    reopened = text_effect_section(AnalysisSession(open_store(store)))
    assert expected is not None and FUSIONS[1] in expected
    assert json.dumps(reopened, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_replacing_a_run_removes_the_old_files(store):
    save_counterfactual(store, make_run(FUSIONS[0], 10, 1))
    before = set(json.loads((store / MANIFEST).read_text())["files"])
    newer = make_run(FUSIONS[0], 10, 7)
    save_counterfactual(store, newer)
    files = set(json.loads((store / MANIFEST).read_text())["files"])
    assert len(files) == len(before)
    on_disk = {str(p.relative_to(store)) for p in (store / "arrays").rglob("*.npy")}
    assert on_disk == {f for f in files if f.startswith("arrays/")}
    assert_same(newer, open_store(store).counterfactuals[FUSIONS[0]])


def test_a_crash_before_the_manifest_leaves_the_old_store(store, monkeypatch):
    save_counterfactual(store, make_run(FUSIONS[0], 10, 1))
    kept = make_run(FUSIONS[0], 10, 1)

    def crash(*_a, **_k):
        raise KeyboardInterrupt  # the job killed between the arrays and the manifest

    monkeypatch.setattr(module, "write_manifest", crash)
    with pytest.raises(KeyboardInterrupt):
        save_counterfactual(store, make_run(FUSIONS[0], 10, 9))
    reopened = open_store(store)  # old manifest, old files: every checksum still holds
    assert_same(kept, reopened.counterfactuals[FUSIONS[0]])
    assert list(reopened.counterfactuals) == [FUSIONS[0]]


def test_save_all_goes_to_the_store_the_cache_came_from(store):
    cache = open_store(store)
    assert store_path_of(cache) == store
    cache.counterfactuals[FUSIONS[1]] = make_run(FUSIONS[1], 10, 4)
    assert save_all_counterfactuals(cache) is None
    assert_same(cache.counterfactuals[FUSIONS[1]], open_store(store).counterfactuals[FUSIONS[1]])


def test_save_all_says_why_when_the_disk_is_full(store, monkeypatch):
    cache = open_store(store)
    cache.counterfactuals[FUSIONS[0]] = make_run(FUSIONS[0], 10, 2)

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module, "_save_array", full)
    note = save_all_counterfactuals(cache)
    assert note is not None and str(store) in note and "No space left" in note
    assert open_store(store).counterfactuals == {}


def test_a_cache_without_a_store_has_nowhere_to_go():
    cache = make_cache(n_crystals=4, hidden=8)
    cache.counterfactuals[FUSIONS[1]] = make_run(FUSIONS[1], 4, 0)
    assert store_path_of(cache) is None
    assert save_all_counterfactuals(cache) is None


def test_save_all_writes_a_stored_run_once(store):
    cache = open_store(store)
    cache.counterfactuals[FUSIONS[0]] = make_run(FUSIONS[0], 10, 5)
    save_all_counterfactuals(cache)
    manifest = (store / MANIFEST).read_text()
    cache.counterfactuals[FUSIONS[1]] = make_run(FUSIONS[1], 10, 6)
    save_all_counterfactuals(cache)
    files = json.loads((store / MANIFEST).read_text())["files"]
    first = json.loads(manifest)["files"]
    assert all(files[name] == info for name, info in first.items())  # untouched
    assert stored_fusions(store) == set(FUSIONS)
