"""The refusals name what was wrong: config field, state_dict key, array, geometry."""

from __future__ import annotations

import io
import struct
from dataclasses import replace

import numpy as np
import pytest
import torch

from alpha_tui.array_files import check_npy, check_npz
from alpha_tui.checkpoint import safe_unpickle
from alpha_tui.checkpoint.config import ConfigValueError, ModelConfig, parse_fusion_layers
from alpha_tui.checkpoint.infer import check_allocation, check_state_dict
from alpha_tui.data.dataset import UNTERMINATED, csv_rows
from alpha_tui.errors import UserError

pytestmark = pytest.mark.both_lanes


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("graph_dropout", 1.5, "[0, 1]"),
        ("graph_dropout", float("nan"), "[0, 1]"),
        ("middle_fusion_dropout", -0.1, "[0, 1]"),
        ("alignn_layers", 100000, "[0, 64]"),
        ("hidden_features", 0, "[1, 16384]"),
        ("cross_modal_num_heads", 10**6, "[1, 256]"),
        ("link", "weird", "identity | log | logit"),
        ("use_middle_fusion", "maybe", "true or false"),
    ],
)
def test_config_field_outside_domain(field, value, allowed):
    with pytest.raises(ConfigValueError) as info:
        replace(ModelConfig(), **{field: value})
    assert f"config field {field}=" in info.value.message
    assert allowed in info.value.message


@pytest.mark.parametrize("value", ["a", "1.5", "inf", -1, 99999, "2,99999", 1.5, True])
def test_fusion_layer_indices_must_be_small_integers(value):
    with pytest.raises(ConfigValueError, match="middle_fusion_layers"):
        parse_fusion_layers(value)


def test_fusion_layer_indices_parse():
    assert parse_fusion_layers("3, 2,2") == (2, 3)
    assert parse_fusion_layers([3.0, 1]) == (1, 3)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("alignn_layers.99999.node_update.src_gate.weight", torch.zeros(2, 2), "layer 99999"),
        ("middle_fusion_modules.layer_99999.gate.0.weight", torch.zeros(2, 4), "layer 99999"),
        ("fc.weight", torch.zeros(1, 4).to_sparse(), "sparse"),
        ("fc.weight", torch.zeros(1, 4, dtype=torch.complex64), "complex"),
        ("fc.bias", torch.zeros(0), "zero-size"),
        ("middle_fusion_modules.layer_2.text_scale", torch.ones(2), "holds 2"),
        ("atom_embedding.layer.0.weight", torch.zeros(1).expand(1000, 92), "storage of 1"),
    ],
)
def test_state_dict_entry_refused_by_key(key, value, fragment):
    with pytest.raises(UserError) as info:
        check_state_dict({key: value})
    assert key in info.value.message and fragment in info.value.message


def test_allocation_bounded_by_weights_held():
    config = replace(ModelConfig(), hidden_features=4096, alignn_layers=64)
    with pytest.raises(UserError, match="holds only 10 values"):
        check_allocation(config, {"w": torch.zeros(10)})
    check_allocation(replace(ModelConfig(), hidden_features=4), {"w": torch.zeros(10)})


def test_tiny_pickle_cannot_cost_gigabytes():
    two_gb = b"\x80\x04cbuiltins\nbytearray\nJ\x00\x945w\x85R."
    with pytest.raises(safe_unpickle.PickleBoundError, match="2,000,000,000-byte bytearray"):
        safe_unpickle.loads(two_gb)
    declared = b"\x80\x05\x96" + struct.pack("<Q", 2_000_000_000) + b"abc."
    with pytest.raises(safe_unpickle.PickleBoundError, match="2000000000 bytes"):
        safe_unpickle.loads(declared)
    assert safe_unpickle.loads(b"\x80\x04cbuiltins\nbytearray\nK\x03\x85R.") == bytearray(3)


def test_storage_declared_beyond_budget_refused():
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(100)}, buf)
    token = safe_unpickle._BUDGET.set(100)
    try:
        with pytest.raises(safe_unpickle.PickleBoundError, match="400 bytes"):
            safe_unpickle._torch_load(io.BytesIO(buf.getvalue()))
    finally:
        safe_unpickle._BUDGET.reset(token)


def test_npy_header_checked_against_file(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.ones((3, 4)))
    assert check_npy(path, width=4) == (3, 4)
    path.write_bytes(path.read_bytes().replace(b"(3, 4)", b"(3000000, 4000000)"))
    with pytest.raises(UserError, match=r"declares shape \[3000000, 4000000\]"):
        check_npy(path)


def test_npz_width_checked(tmp_path):
    path = tmp_path / "e.npz"
    np.savez(path, ids=np.array(["a"]), embeddings=np.ones((1, 8)))
    with pytest.raises(UserError, match="width 8"):
        check_npz(path, width=16)


def test_unterminated_quote_is_listed_and_later_rows_kept():
    text = 'id,f,t,text\na,A,1,"open\nb,B,2,fine\nc,C,3,ok\n'
    rows = csv_rows(text)
    assert rows == [
        (1, ["id", "f", "t", "text"]),
        (2, [UNTERMINATED]),
        (3, ["b", "B", "2", "fine"]),
        (4, ["c", "C", "3", "ok"]),
    ]


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        ({"sites": (("Na", "nan", "0", "0"), ("Cl", "0.5", "0.5", "0.5"))}, "not finite"),
        ({"a": "0.1", "b": "0.1", "c": "0.1"}, "overlapping"),
        ({"a": "0"}, "degenerate"),
        ({"a": "1e6"}, "more than 1000"),
        ({"sites": (("Na", "0", "0", "0"), ("Cl", "0", "0", "0"))}, "overlapping"),
    ],
)
def test_bad_geometry_skipped_before_spglib(tmp_path, edit, fragment):
    from adversarial.gen_data import _cif

    from alpha_tui.data.structures import StructureError, read_structure

    path = tmp_path / "x.cif"
    path.write_text(_cif(**edit))
    with pytest.raises(StructureError, match=fragment):
        read_structure(path)
    path.write_text(_cif())
    assert read_structure(path).num_atoms == 2
