"""The activation store on synthetic caches: field-by-field round trip, tables, damage.

No model runs here; the CLI round trip on a real checkpoint is in test_store_cli.py.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
from synthetic import make_cache

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.capture.cache import ActivationCache
from alpha_tui.errors import UserError
from alpha_tui.store import writer as writer_module
from alpha_tui.store.index import clear_stores, list_stores
from alpha_tui.store.layout import INCOMPLETE, MANIFEST, PARTIAL_PREFIX
from alpha_tui.store.reader import open_store
from alpha_tui.store.tables import column_name
from alpha_tui.store.writer import write_store

FUSION = "middle_fusion_modules.layer_2"
pytestmark = pytest.mark.both_lanes  # numpy<2 too: the codec must not depend on numpy 2


def assert_same(a, b, where="cache"):
    """Recursive equality that is exact for arrays (dtype and bits) and types."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(np.asarray(b), a, err_msg=where)
    elif dataclasses.is_dataclass(a):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert list(a) == list(b), where  # same keys, same order (tuple keys stay tuples)
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b and type(a) is type(b), where


@pytest.fixture
def cache() -> ActivationCache:
    c = make_cache(n_crystals=12, hidden=16, fusion_layers=(1, 2))
    c.meta.update({"device": "cpu", "backend": "native", "problems": [], "notes": ["n"]})
    return c


def test_round_trip_field_by_field(cache, tmp_path):
    path = write_store(cache, tmp_path / "s")
    back = open_store(path)
    for f in dataclasses.fields(ActivationCache):
        original = getattr(cache, f.name)
        restored = getattr(back, f.name)
        if f.name in ("precomputed", "checks"):  # added by the writer / the reader
            continue
        if f.name == "meta":
            assert {k: v for k, v in restored.items() if k != "store"} == original
            assert restored["store"]["path"] == str(path)
            assert restored["store"]["device"] == "cpu"
        else:
            assert_same(original, restored, f.name)
    # memory-mapped, read-only: the panes read pages, not copies
    gates = back.gates[FUSION]
    assert isinstance(gates, np.memmap) and not gates.flags.writeable


def test_every_array_is_its_own_npy_with_checksum(cache, tmp_path):
    path = write_store(cache, tmp_path / "s")
    manifest = json.loads((path / MANIFEST).read_text())
    npys = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.npy"))
    assert npys == sorted(n for n in manifest["files"] if n.endswith(".npy"))
    gate_file = f"arrays/gates.{FUSION}.npy"
    assert np.load(path / gate_file).shape == cache.gates[FUSION].shape
    assert manifest["counts"] == {
        "crystals": 12, "atoms": cache.n_atoms, "fusion_modules": 2, "layers": len(cache.layers)
    }  # fmt: skip
    assert manifest["schema_version"] == 2 and manifest["device"] == "cpu"


def test_duckdb_query_matches_the_session(cache, tmp_path):
    duckdb = pytest.importorskip("duckdb")
    path = write_store(cache, tmp_path / "s")
    col = column_name(FUSION, "mean")
    assert col == "layer_2.alpha_mean"
    # the README's query, verbatim apart from the path
    rows = duckdb.sql(
        f"""SELECT element, count(*) AS atoms, avg("layer_2.alpha_max") AS alpha_max
        FROM '{path}/atoms.parquet' GROUP BY element ORDER BY alpha_max DESC"""
    ).fetchall()
    session = AnalysisSession(cache)
    alpha = np.asarray(session.alpha(FUSION, "max"))
    from alpha_tui.analysis.elements import element_symbol

    symbols = np.array([element_symbol(int(z)) for z in cache.atomic_numbers])
    expected = {s: (int((symbols == s).sum()), alpha[symbols == s].mean()) for s in set(symbols)}
    assert {r[0] for r in rows} == set(expected)
    for element, atoms, value in rows:
        assert atoms == expected[element][0]
        assert value == pytest.approx(expected[element][1], rel=1e-12)
    means = [r[2] for r in rows]
    assert means == sorted(means, reverse=True)
    crystal = duckdb.sql(
        f"""SELECT crystal_id, n_atoms, "layer_2.alpha_mean" FROM '{path}/crystals.parquet'"""
    ).fetchall()
    per_crystal = np.asarray(session.crystal_alpha(FUSION, "mean"))
    assert [r[0] for r in crystal] == cache.crystal_ids
    assert [r[1] for r in crystal] == cache.atom_counts.tolist()
    np.testing.assert_allclose([r[2] for r in crystal], per_crystal, rtol=0, atol=0)


def _one_line_error(path):
    with pytest.raises(UserError) as info:
        open_store(path)
    message = info.value.message
    assert "\n" not in message
    return message


def test_truncated_array_names_the_file(cache, tmp_path):
    path = write_store(cache, tmp_path / "s")
    target = path / f"arrays/gates.{FUSION}.npy"
    with open(target, "r+b") as fh:
        fh.truncate(target.stat().st_size - 8)
    message = _one_line_error(path)
    assert str(target) in message and "truncated" in message


def test_missing_file_names_the_file(cache, tmp_path):
    path = write_store(cache, tmp_path / "s")
    target = path / "arrays/atomic_numbers.npy"
    target.unlink()
    message = _one_line_error(path)
    assert str(target) in message and "missing" in message


def _flip_last_byte(target):
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # same size, one bit pattern changed in the last value
    target.write_bytes(bytes(data))


def test_checksum_mismatch_names_the_file(cache, tmp_path):
    path = write_store(cache, tmp_path / "s")
    target = path / f"arrays/gates.{FUSION}.npy"
    _flip_last_byte(target)
    with pytest.raises(UserError) as eager:
        open_store(path, lazy=False)
    assert str(target) in eager.value.message and "SHA-256" in eager.value.message
    assert "\n" not in eager.value.message
    # lazy (the default): the open succeeds, the first result from the gates fails
    session = AnalysisSession(open_store(path))
    for use in (lambda: session.alpha(FUSION, "quantile:0.3"), lambda: session.dims(FUSION)):
        with pytest.raises(UserError) as lazy:
            use()
        assert lazy.value.message == eager.value.message
    open_store(path, checksums=False)  # size and shape still pass: only the checksum sees it


def test_lazy_checks_cover_the_precomputed_file_used(cache, tmp_path):
    path = write_store(cache, tmp_path / "s")
    mean_file = path / f"arrays/precomputed.values.{FUSION}.mean.npy"
    assert mean_file.is_file()
    _flip_last_byte(mean_file)
    session = AnalysisSession(open_store(path))
    np.testing.assert_array_equal(  # max reads its own, intact file
        session.alpha(FUSION, "max"), AnalysisSession(cache).alpha(FUSION, "max")
    )
    with pytest.raises(UserError) as info:
        session.stats(FUSION, "mean")
    assert str(mean_file) in info.value.message and "SHA-256" in info.value.message


def test_index_arrays_are_verified_at_open(cache, tmp_path):
    """Report, export and panes index atoms with these directly: no lazy path for them."""
    path = write_store(cache, tmp_path / "s")
    target = path / "arrays/atomic_numbers.npy"
    _flip_last_byte(target)
    message = _one_line_error(path)
    assert str(target) in message and "SHA-256" in message


def test_background_pass_verifies_every_file(cache, tmp_path):
    path = write_store(cache, tmp_path / "s")
    back = open_store(path)
    assert back.meta["store"]["checksums"].startswith("lazy")
    assert back.checks.wait(timeout=60)
    done, total, failed = back.checks.progress()
    manifest = json.loads((path / MANIFEST).read_text())
    assert done == total == len(manifest["files"]) and failed == []


def test_background_pass_reports_a_damaged_file_it_found(cache, tmp_path):
    path = write_store(cache, tmp_path / "s")
    target = path / f"arrays/text_transform.{FUSION}.npy"
    _flip_last_byte(target)
    back = open_store(path)
    assert back.checks.wait(timeout=60)
    (failed,) = back.checks.progress()[2]
    assert str(target) in failed


def test_newer_schema_is_refused(cache, tmp_path):
    path = write_store(cache, tmp_path / "s")
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["schema_version"] = 99
    (path / MANIFEST).write_text(json.dumps(manifest))
    message = _one_line_error(path)
    assert "newer" in message and "upgrade" in message and MANIFEST in message


def test_interrupted_write_leaves_no_store_and_a_marked_partial(cache, tmp_path, monkeypatch):
    real = writer_module._save_array
    calls = []

    def failing(path, array):
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt  # what ctrl+c or a killed job does mid-write
        return real(path, array)

    monkeypatch.setattr(writer_module, "_save_array", failing)
    stores = tmp_path / "stores"
    with pytest.raises(KeyboardInterrupt):
        write_store(cache, stores / "s")
    assert not (stores / "s").exists()
    (partial,) = [p for p in stores.iterdir() if p.name.startswith(PARTIAL_PREFIX)]
    assert (partial / INCOMPLETE).is_file() and not (partial / MANIFEST).exists()
    assert "incomplete" in _one_line_error(partial)
    (entry,) = list_stores(stores)
    assert not entry.complete and entry.bytes > 0
    assert [e.path for e in clear_stores(stores)] == [partial]
    assert not partial.exists()


def test_failed_replace_keeps_the_old_store(cache, tmp_path, monkeypatch):
    path = write_store(cache, tmp_path / "s")
    before = (path / MANIFEST).read_text()
    other = make_cache(n_crystals=3, seed=5)

    def failing(path, array):
        raise OSError("disk full")

    monkeypatch.setattr(writer_module, "_save_array", failing)
    with pytest.raises(OSError):
        write_store(other, path, force=True)
    assert (path / MANIFEST).read_text() == before
    assert_same(cache.gates, open_store(path).gates)
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # the failed temp folder is gone


def test_existing_store_needs_force(cache, tmp_path):
    path = write_store(cache, tmp_path / "s")
    with pytest.raises(UserError, match="--force"):
        write_store(cache, path)
    other = make_cache(n_crystals=3, seed=5)
    write_store(other, path, force=True)
    assert open_store(path).crystal_ids == other.crystal_ids
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(PARTIAL_PREFIX)]


def test_clear_older_than_keeps_recent(cache, tmp_path):
    stores = tmp_path / "stores"
    old = write_store(cache, stores / "old")
    new = write_store(cache, stores / "new")
    ten_days = 10 * 86400
    os.utime(old, (old.stat().st_atime - ten_days, old.stat().st_mtime - ten_days))
    removed = clear_stores(stores, older_than_days=5)
    assert [e.path for e in removed] == [old]
    assert new.exists() and not old.exists()


@pytest.mark.parametrize("n, batch, world", [(12, 4, 2), (13, 4, 3), (455, 16, 7), (5, 1, 5)])
def test_shard_windows_tile_the_dataset_in_whole_batches(n, batch, world):
    from alpha_tui.capture.run import shard_window

    windows = [shard_window(n, batch, r, world) for r in range(world)]
    assert windows[0][0] == 0 and windows[-1][1] == n
    for (_, hi), (lo, _) in zip(windows, windows[1:], strict=False):
        assert hi == lo  # contiguous, disjoint, in rank order
    assert all(lo % batch == 0 and lo < hi for lo, hi in windows)
    sizes = [-(-(hi - lo) // batch) for lo, hi in windows]
    assert max(sizes) - min(sizes) <= 1  # as even as whole batches allow


def _shard_parts(cache, cut=5):
    """The cache as two shard caches (crystals 0..cut-1 | cut..), sliced by hand."""
    a0 = int(cache.atom_counts[:cut].sum())

    def part(lo, hi, alo, ahi):
        flows = {
            k: dataclasses.replace(
                f,
                cos=None if f.cos is None else f.cos[alo:ahi],
                null_cos=None if f.null_cos is None else f.null_cos[alo:ahi],
            )
            for k, f in cache.flows.items()
        }
        return dataclasses.replace(
            cache,
            crystal_ids=cache.crystal_ids[lo:hi],
            formulas=cache.formulas[lo:hi],
            targets=cache.targets[lo:hi],
            atom_counts=cache.atom_counts[lo:hi],
            text_projection=cache.text_projection[lo:hi],
            atom_crystal=cache.atom_crystal[alo:ahi] - lo,
            atomic_numbers=cache.atomic_numbers[alo:ahi],
            gates={k: v[alo:ahi] for k, v in cache.gates.items()},
            text_transform={k: v[lo:hi] for k, v in cache.text_transform.items()},
            fusion_input_norm={k: v[alo:ahi] for k, v in cache.fusion_input_norm.items()},
            layer_norms={k: v[alo:ahi] for k, v in cache.layer_norms.items()},
            flows=flows,
            predictions=cache.predictions[lo:hi],
            meta=dict(cache.meta),
        )

    n = cache.n_crystals
    return [part(0, cut, 0, a0), part(cut, n, a0, cache.n_atoms)]


def test_merge_of_shards_equals_the_whole(cache):
    from alpha_tui.store.shards import merge_shards

    merged = merge_shards(_shard_parts(cache))
    assert_same(cache, merged)


def test_store_key_follows_every_capture_setting(tmp_path):
    """A setting that changes the arrays must change the key, or a reopen is stale."""
    from dataclasses import replace

    from alpha_tui.store.index import StoreInputs, key_document, store_key

    checkpoint = tmp_path / "m.pt"
    checkpoint.write_bytes(b"weights")
    base = StoreInputs(
        checkpoint=checkpoint,
        data=None,
        text_embeddings=None,
        text_encoder=None,
        limit=None,
        max_atoms=400,
        batch_size=16,
        device="cpu",
        backend="native",
        layer_containers="alignn_layers,gcn_layers",
        text_projection_name="text_projection",
    )
    key = store_key(key_document(base))
    assert store_key(key_document(replace(base))) == key
    for change in ({"graph_canonize": False}, {"max_atoms": 399}, {"limit": 5}):
        assert store_key(key_document(replace(base, **change))) != key, change

    encoder = tmp_path / "encoder"
    encoder.mkdir()
    (encoder / "config.json").write_text("{}")
    mappings = tmp_path / "vocab_mappings.txt"
    mappings.write_text("a a\n")
    raw = replace(base, text_encoder=encoder, text_normalize="none")
    keys = {
        store_key(key_document(raw)),
        store_key(key_document(replace(raw, text_normalize="bert"))),
        store_key(key_document(replace(raw, text_normalize="sage", vocab_mappings=mappings))),
    }
    assert len(keys) == 3  # raw, BERT-normalized and users' text give different vectors
    mappings.write_text("a b\n")
    changed = replace(raw, text_normalize="sage", vocab_mappings=mappings)
    assert store_key(key_document(changed)) not in keys  # the table's content counts


#: RunOptions fields that cannot change a captured number, so the store key leaves them out
NOT_IN_KEY = {
    "trust_checkpoint": "only whether a pickle may run code; the weights are the same",
    "cache_dir": "where caches live",
    "workers": "parsing processes: the tests compare their structures bit for bit",
    "shard": "a rank's slice of a sharded extract; the merged store is the whole",
    "names": "keyed as layer_containers and text_projection_name",
}


def test_every_capture_option_is_in_the_store_key_or_listed_as_harmless():
    from dataclasses import fields

    from alpha_tui.capture.pipeline import RunOptions
    from alpha_tui.store.index import StoreInputs

    keyed = {f.name for f in fields(StoreInputs)}
    missing = {f.name for f in fields(RunOptions)} - keyed - set(NOT_IN_KEY)
    assert missing == set(), f"RunOptions fields a store reuse would ignore: {missing}"


def test_cli_gives_the_capture_and_the_store_key_the_same_inputs(tmp_path):
    from dataclasses import fields

    from alpha_tui.cli import build_report_parser, run_options, store_inputs

    checkpoint = tmp_path / "m.pt"
    checkpoint.write_bytes(b"weights")
    args = build_report_parser().parse_args(
        [str(checkpoint), "--limit", "7", "--max-atoms", "99", "--batch-size", "3",
         "--graph-canonize", "false", "--text-normalize", "bert", "--device", "cpu",
         "--backend", "native", "--layer-containers", "a, b", "--text-projection-name", "tp"]
    )  # fmt: skip
    options, inputs = run_options(args), store_inputs(args)
    shared = {f.name for f in fields(inputs)} & {f.name for f in fields(options)}
    assert shared >= {"limit", "max_atoms", "batch_size", "graph_canonize", "text_normalize"}
    for name in shared:
        assert getattr(options, name) == getattr(inputs, name), name
    assert (options.limit, options.max_atoms, options.batch_size) == (7, 99, 3)
    assert options.graph_canonize is False and options.text_normalize == "bert"
    assert options.names.layer_containers == ("a", "b") and inputs.layer_containers == "a, b"
    assert options.names.text_projection == inputs.text_projection_name == "tp"
