"""load_checkpoint: every layout, config sources and cross-checks, and bad input."""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from checkpoint_factory import (
    FOREIGN_MODULE,
    LAYOUTS,
    NetSpec,
    foreign_module,
    make_state_dict,
    pickle_dump,
    save_with_foreign_config,
    write_checkpoint,
)
from torch import nn

from alpha_tui.checkpoint.loader import LoadedCheckpoint, load_checkpoint
from alpha_tui.errors import UserError

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)

SPEC = NetSpec(hidden=16, alignn_layers=3, gcn_layers=2, fusion_layers=(1, 2), fusion_hidden=12)


def _assert_matches_spec(loaded: LoadedCheckpoint, spec: NetSpec) -> None:
    expected = make_state_dict(spec)
    assert list(loaded.state_dict) == list(expected)
    for key, value in expected.items():
        got = loaded.state_dict[key]
        assert got.device.type == "cpu"
        assert torch.equal(got, value), key
    config = loaded.config
    assert config.hidden_features == spec.hidden
    assert config.alignn_layers == spec.alignn_layers
    assert config.gcn_layers == spec.gcn_layers
    assert config.fusion_layers == spec.fusion_layers
    assert config.middle_fusion_hidden_dim == spec.fusion_hidden
    assert config.text_input_features == spec.text_width
    assert config.use_cross_modal_attention is spec.cross_modal


EXPECTED_SOURCE = {
    "foreign_pydantic": ("checkpoint", ["config", "model", "epoch", "optimizer"]),
    "foreign_plain": ("checkpoint", ["config", "model", "epoch", "optimizer"]),
    "dict_config": ("checkpoint", ["config", "model", "epoch", "optimizer"]),
    "config_json": ("config.json", ["model"]),
    "no_config": ("inferred", ["model"]),
    "state_dict": ("inferred", ["state_dict"]),
    "model_state_dict": ("inferred", ["model_state_dict", "optimizer_state_dict", "epoch"]),
    "bare": ("inferred", []),
}


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_loads(tmp_path: Path, layout: str, legacy: bool) -> None:
    path = write_checkpoint(tmp_path / "ckpt.pt", SPEC, layout, legacy_format=legacy)
    assert FOREIGN_MODULE not in sys.modules  # the config class really is not importable
    loaded = load_checkpoint(path)
    _assert_matches_spec(loaded, SPEC)
    source, top = EXPECTED_SOURCE[layout]
    assert loaded.config_source == source
    assert loaded.top_level_keys == top
    assert loaded.path == path
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_foreign_pydantic_config_is_read_as_data(tmp_path: Path) -> None:
    path = write_checkpoint(
        tmp_path / "c.pt", SPEC, "foreign_pydantic", config_overrides={"link": "log"}
    )
    loaded = load_checkpoint(path)
    assert loaded.config.link == "log"  # only the config knows this
    assert loaded.config.extra["name"] == "alignn"
    assert loaded.meta == {"epoch": 7}
    assert any("models.alignn.ALIGNNConfig object" in n for n in loaded.notes)


def test_foreign_plain_config_values_reach_model_config(tmp_path: Path) -> None:
    overrides = {"graph_dropout": 0.25, "cross_modal_num_heads": 8, "classification": True}
    path = write_checkpoint(tmp_path / "c.pt", SPEC, "foreign_plain", config_overrides=overrides)
    config = load_checkpoint(path).config
    assert (config.graph_dropout, config.cross_modal_num_heads) == (0.25, 8)
    assert config.classification is True


def test_inferred_config_notes_say_what_was_inferred(tmp_path: Path) -> None:
    loaded = load_checkpoint(write_checkpoint(tmp_path / "c.pt", SPEC, "no_config"))
    text = "\n".join(loaded.notes)
    assert "no config in the checkpoint or beside it" in text
    assert "hidden_features=16, atom_input_features=92" in text
    assert "middle_fusion_layers=1,2" in text


def test_dataparallel_prefix_is_stripped_with_a_note(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "c.pt", SPEC, "foreign_plain", dataparallel=True)
    loaded = load_checkpoint(path)
    _assert_matches_spec(loaded, SPEC)
    assert "stripped the 'module.' key prefix (DataParallel wrapper)" in loaded.notes


def test_config_disagreeing_with_weights_loses(tmp_path: Path) -> None:
    lies = {"hidden_features": 256, "alignn_layers": 4, "middle_fusion_layers": "3"}
    path = write_checkpoint(tmp_path / "c.pt", SPEC, "foreign_pydantic", config_overrides=lies)
    loaded = load_checkpoint(path)
    _assert_matches_spec(loaded, SPEC)
    assert loaded.config_source == "checkpoint"
    notes = "\n".join(loaded.notes)
    assert "config says hidden_features=256 but the weights have 16; using the weights" in notes
    assert "config says alignn_layers=4 but the weights have 3" in notes
    assert "config says middle_fusion_layers=3 but the weights have 1,2" in notes


def test_config_as_strings_is_coerced(tmp_path: Path) -> None:
    fields = {**SPEC.config_fields(), "hidden_features": "16", "graph_dropout": "0.5"}
    fields["use_cross_modal_attention"] = "true"
    fields["cross_modal_num_heads"] = "many"
    torch.save({"config": fields, "model": make_state_dict(SPEC)}, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded.config.hidden_features == 16 and loaded.config.graph_dropout == 0.5
    assert loaded.config.cross_modal_num_heads == 4
    assert any("cross_modal_num_heads='many' is unreadable" in n for n in loaded.notes)
    assert not any(n.startswith("config says") for n in loaded.notes)


def test_training_config_with_nested_model_section(tmp_path: Path) -> None:
    training = {"epochs": 300, "batch_size": 64, "model": SPEC.config_fields()}
    save_with_foreign_config(
        tmp_path / "c.pt", {"model": make_state_dict(SPEC)}, training, kind="plain"
    )
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded.config_source == "checkpoint"
    assert loaded.config.middle_fusion_hidden_dim == SPEC.fusion_hidden
    assert any("checkpoint entry 'config.model'" in n for n in loaded.notes)


def test_config_json_with_nested_model_section(tmp_path: Path) -> None:
    torch.save({"model": make_state_dict(SPEC)}, tmp_path / "c.pt")
    cfg = {"epochs": 3, "model": {**SPEC.config_fields(), "link": "logit"}}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded.config_source == "config.json"
    assert loaded.config.link == "logit"


def test_checkpoint_config_wins_over_config_json(tmp_path: Path) -> None:
    path = write_checkpoint(
        tmp_path / "c.pt", SPEC, "dict_config", config_overrides={"link": "log"}
    )
    (tmp_path / "config.json").write_text(json.dumps({**SPEC.config_fields(), "link": "logit"}))
    loaded = load_checkpoint(path)
    assert loaded.config_source == "checkpoint" and loaded.config.link == "log"
    assert any(n.startswith("ignored config.json") for n in loaded.notes)


def test_config_json_without_model_fields_is_ignored(tmp_path: Path) -> None:
    torch.save({"model": make_state_dict(SPEC)}, tmp_path / "c.pt")
    (tmp_path / "config.json").write_text(json.dumps({"vocab_size": 31090}))
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded.config_source == "inferred"
    _assert_matches_spec(loaded, SPEC)


def test_plain_pickle_dump_checkpoint_loads(tmp_path: Path) -> None:
    payload = {"config": SPEC.config_fields(), "model": make_state_dict(SPEC), "epoch": 3}
    path = pickle_dump(tmp_path / "c.pkl", payload)
    loaded = load_checkpoint(path)
    _assert_matches_spec(loaded, SPEC)
    assert loaded.meta == {"epoch": 3}
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_numpy_values_beside_the_weights_load(tmp_path: Path) -> None:
    payload = {
        "model": make_state_dict(SPEC),
        "best_mae": np.float64(0.125),
        "curve": np.arange(5, dtype=np.float32),
        "when": np.datetime64("2024-01-02"),
        "step": np.int64(40),
        "loss": torch.tensor(0.5),
    }
    torch.save(payload, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded.meta == {"best_mae": 0.125, "step": 40, "loss": 0.5}
    assert all(type(v) in (int, float) for v in loaded.meta.values())
    assert loaded.top_level_keys == ["model", "best_mae", "curve", "when", "step", "loss"]


def test_unknown_config_values_become_plain_data_in_extra(tmp_path: Path) -> None:
    fields = {**SPEC.config_fields(), "scheduler": {"kind": "onecycle", "steps": (1, 2)}}
    fields["tags"] = {"b", "a"}
    fields["centers"] = np.zeros((2, 3))
    with foreign_module("models.extra") as module:
        sub = type("Sub", (), {"__module__": module.__name__})
        module.Sub = sub
        inner = sub()
        inner.depth = 3
        fields["sub"] = inner
        payload = {"model": make_state_dict(SPEC)}
        save_with_foreign_config(tmp_path / "c.pt", payload, fields, kind="plain")
    extra = load_checkpoint(tmp_path / "c.pt").config.extra
    assert extra["scheduler"] == {"kind": "onecycle", "steps": [1, 2]}
    assert extra["tags"] == ["a", "b"]
    assert extra["centers"] == "<ndarray [2, 3]>"
    assert extra["sub"] == {"__class__": "models.extra.Sub", "depth": 3}
    json.dumps(extra)


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.atom_embedding = nn.Module()
        self.atom_embedding.layer = nn.Sequential(nn.Linear(92, 8), nn.BatchNorm1d(8), nn.SiLU())
        self.register_buffer("scratch", torch.ones(2), persistent=False)
        self.fc = nn.Linear(8, 2)


def test_whole_pickled_module_of_unimportable_class(tmp_path: Path) -> None:
    torch.manual_seed(0)
    with foreign_module("models.alignn") as module:
        cls = type("ALIGNN", (_Tiny,), {"__module__": module.__name__})
        module.ALIGNN = cls
        model = cls()
        expected = {k: v.clone() for k, v in model.state_dict().items()}
        torch.save({"model": model, "epoch": 1}, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert list(loaded.state_dict) == list(expected)  # non-persistent buffer left out
    assert all(torch.equal(loaded.state_dict[k], v) for k, v in expected.items())
    assert loaded.config.hidden_features == 8 and loaded.config.output_features == 2


def test_trust_loads_importable_objects(tmp_path: Path) -> None:
    torch.save({"model": _Tiny()}, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt", trust=True)
    assert loaded.config.hidden_features == 8
    assert any("--trust-checkpoint" in n for n in loaded.notes)


def test_trust_with_unimportable_config_class_says_how_to_proceed(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "c.pt", SPEC, "foreign_pydantic")
    with pytest.raises(UserError, match=r"models.*run without --trust-checkpoint"):
        load_checkpoint(path, trust=True)


# --- bad input ------------------------------------------------------------------------------


def _one_line(err: pytest.ExceptionInfo[UserError]) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        load_checkpoint(tmp_path / "nope.pt")
    assert "does not exist" in _one_line(err)


def test_directory_names_a_checkpoint_inside(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "best.pt", SPEC, "bare")
    with pytest.raises(UserError) as err:
        load_checkpoint(tmp_path)
    assert "is a directory" in _one_line(err) and "best.pt" in str(err.value)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "c.pt").write_bytes(b"")
    with pytest.raises(UserError) as err:
        load_checkpoint(tmp_path / "c.pt")
    assert "is empty (0 bytes)" in _one_line(err)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_truncated_file(tmp_path: Path, legacy: bool) -> None:
    full = write_checkpoint(tmp_path / "full.pt", SPEC, "foreign_plain", legacy_format=legacy)
    data = full.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(UserError) as err:
        load_checkpoint(cut)
    assert "cut.pt is truncated or corrupt" in _one_line(err)


def test_text_file(tmp_path: Path) -> None:
    (tmp_path / "c.pt").write_text("id,formula,target\nJVASP-1,Si,1.1\n")
    with pytest.raises(UserError) as err:
        load_checkpoint(tmp_path / "c.pt")
    assert "is a text file, not a PyTorch checkpoint" in _one_line(err)


def test_random_bytes(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    (tmp_path / "c.pt").write_bytes(b"\x07" + data)
    with pytest.raises(UserError) as err:
        load_checkpoint(tmp_path / "c.pt")
    assert "is not a PyTorch checkpoint" in _one_line(err)


def test_zip_that_is_not_torch_save(tmp_path: Path) -> None:
    np.savez(tmp_path / "c.npz", a=np.arange(3))
    with pytest.raises(UserError) as err:
        load_checkpoint(tmp_path / "c.npz")
    assert "not a torch.save checkpoint (no data.pkl; it holds a.npy)" in _one_line(err)


def test_no_state_dict_lists_the_keys_found(tmp_path: Path) -> None:
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}, "weights": [1, 2]}, tmp_path / "c.pt")
    with pytest.raises(UserError) as err:
        load_checkpoint(tmp_path / "c.pt")
    message = _one_line(err)
    assert "no state_dict found in c.pt: top-level keys are 'epoch', 'optimizer', 'weights'" in (
        message
    )


def test_non_dict_payload(tmp_path: Path) -> None:
    torch.save([1, 2, 3], tmp_path / "c.pt")
    with pytest.raises(UserError, match="it holds a list, not a dict"):
        load_checkpoint(tmp_path / "c.pt")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"hidden_features": 16,', "is not valid JSON (line 1"),
        ("[1, 2]", "holds a JSON list, not an object"),
        (b"\xff\xfe\x00bad", "is unreadable"),
    ],
)
def test_unreadable_config_json(tmp_path: Path, content: str | bytes, expected: str) -> None:
    path = write_checkpoint(tmp_path / "c.pt", SPEC, "no_config")
    target = tmp_path / "config.json"
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content)
    with pytest.raises(UserError) as err:
        load_checkpoint(path)
    message = _one_line(err)
    assert message.startswith("config.json beside c.pt ") and expected in message
    assert "move it away" in message


def test_state_dict_values_are_plain_tensors_in_order(tmp_path: Path) -> None:
    sd = OrderedDict(
        (k, nn.Parameter(v) if v.is_floating_point() else v)
        for k, v in make_state_dict(SPEC).items()
    )
    buffer = io.BytesIO()
    torch.save({"model": sd}, buffer)
    (tmp_path / "c.pt").write_bytes(buffer.getvalue())
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert list(loaded.state_dict) == list(sd)
    assert not any(t.requires_grad for t in loaded.state_dict.values())
