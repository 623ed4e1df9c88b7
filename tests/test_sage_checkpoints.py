"""Checkpoints saved as the users' train.py saves them, with their pydantic config.

The fixtures in tests/fixtures/sage_checkpoints/ were written by
tests/fixtures/make_v1_configs.py under real pydantic 1 (v1_*) and pydantic 2 (v2_*),
pickling ``models.alignn.ALIGNNConfig``, which is not importable here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from model_factory import random_batch

from alpha_tui.checkpoint import safe_unpickle
from alpha_tui.checkpoint.assumptions import assumed_settings
from alpha_tui.checkpoint.config import ModelConfig
from alpha_tui.checkpoint.loader import load_checkpoint
from alpha_tui.model.build import build_model

pytestmark = pytest.mark.both_lanes  # the users' lane too: torch 2.2, numpy<2

FIXTURES = Path(__file__).parent / "fixtures" / "sage_checkpoints"
TRAIN_PY_KEYS = ["model", "config", "optimizer", "lr_scheduler", "epoch", "val_mae"]


def copy_alone(name: str, tmp_path: Path) -> Path:
    """The checkpoint copied out of its training folder: no config.json beside it."""
    target = tmp_path / name
    shutil.copyfile(FIXTURES / name, target)
    return target


def fc_output_and_prediction(path: Path) -> tuple[np.ndarray, np.ndarray]:
    loaded = load_checkpoint(path)
    built = build_model(loaded.config, loaded.state_dict, backend="native")
    seen: dict[str, torch.Tensor] = {}
    built.model.fc.register_forward_hook(lambda m, i, o: seen.__setitem__("fc", o))
    with torch.no_grad():
        pred = built.model(random_batch(loaded.config, seed=3))
    assert pred is not None
    return seen["fc"][:, 0].double().numpy(), pred.double().numpy()


@pytest.mark.parametrize("name", ["v1_logit.pt", "v2_logit.pt"])
def test_pydantic_config_fields_are_read(name: str, tmp_path: Path) -> None:
    loaded = load_checkpoint(copy_alone(name, tmp_path))
    assert loaded.config_source == "checkpoint"
    assert loaded.top_level_keys == TRAIN_PY_KEYS
    assert loaded.meta == {"epoch": 42, "val_mae": 0.123}
    config = loaded.config
    assert (config.link, config.classification) == ("logit", False)
    assert (config.hidden_features, config.embedding_features) == (16, 8)
    assert config.fusion_layers == (2,)
    assert config.middle_fusion_hidden_dim == 8
    assert config.late_fusion_type == "concat"
    # Fields the stand-in left at their defaults come from the pickle, not ModelConfig.
    assert "name" in config.extra and config.extra["name"] == "alignn"
    assert "use_contrastive_loss" in config.extra
    assert loaded.assumptions == []


def test_v1_state_layout_is_recognised_without_pydantic() -> None:
    record = safe_unpickle.restricted_torch_load(open(FIXTURES / "v1_all_fields.pkl", "rb"))
    config = record["config"]
    assert config.qualified_name == "models.alignn.ALIGNNConfig"
    assert set(config.state) == {"__dict__", "__fields_set__", "__private_attribute_values__"}
    fields = config.fields()
    assert "__dict__" not in fields and fields["late_fusion_type"] == "tucker"


def test_every_users_field_reaches_model_config() -> None:
    record = safe_unpickle.restricted_torch_load(open(FIXTURES / "v1_all_fields.pkl", "rb"))
    config = ModelConfig.from_mapping(record["config"].fields())
    want = {
        "alignn_layers": 3,
        "gcn_layers": 2,
        "hidden_features": 96,
        "output_features": 2,
        "graph_dropout": 0.05,
        "use_cross_modal_attention": False,
        "cross_modal_hidden_dim": 128,
        "cross_modal_num_heads": 2,
        "cross_modal_dropout": 0.2,
        "late_fusion_type": "tucker",
        "late_fusion_rank": 8,
        "late_fusion_output_dim": 32,
        "use_fine_grained_attention": True,
        "fine_grained_hidden_dim": 128,
        "fine_grained_num_heads": 4,
        "fine_grained_dropout": 0.3,
        "fine_grained_use_projection": False,
        "use_middle_fusion": True,
        "middle_fusion_layers": (1, 2),
        "middle_fusion_hidden_dim": 64,
        "middle_fusion_num_heads": 4,
        "middle_fusion_dropout": 0.25,
        "middle_fusion_use_gate_norm": True,
        "middle_fusion_use_learnable_scale": True,
        "middle_fusion_initial_scale": 12.0,
        "link": "logit",
        "classification": True,
    }
    assert {k: getattr(config, k) for k in want} == want
    assert config.extra["use_contrastive_loss"] is True


def test_logit_checkpoint_copied_alone_predicts_through_the_sigmoid(tmp_path: Path) -> None:
    fc, pred = fc_output_and_prediction(copy_alone("v1_logit.pt", tmp_path))
    np.testing.assert_allclose(pred, 1.0 / (1.0 + np.exp(-fc)), rtol=1e-6, atol=1e-7)
    assert np.all((pred > 0) & (pred < 1))


def test_classification_checkpoint_predicts_probabilities(tmp_path: Path) -> None:
    loaded = load_checkpoint(copy_alone("v1_classification.pt", tmp_path))
    assert loaded.config.classification and not loaded.config.use_cross_modal_attention
    assert (loaded.config.alignn_layers, loaded.config.gcn_layers) == (3, 2)
    fc, pred = fc_output_and_prediction(loaded.path)
    np.testing.assert_allclose(pred, 1.0 / (1.0 + np.exp(-fc)), rtol=1e-6, atol=1e-7)


def test_gate_norm_and_learnable_scale_are_read(tmp_path: Path) -> None:
    loaded = load_checkpoint(copy_alone("v1_fusion23_norm_scale.pt", tmp_path))
    config = loaded.config
    assert config.fusion_layers == (2, 3) and config.hidden_features == 12
    assert config.middle_fusion_use_gate_norm and config.middle_fusion_use_learnable_scale
    assert config.middle_fusion_initial_scale == 12.0
    # The trained scale lives in the weights; initial_scale only seeded training.
    assert float(loaded.state_dict["middle_fusion_modules.layer_3.text_scale"]) == 11.25
    built = build_model(config, loaded.state_dict, backend="native")
    assert built.prediction_available


def test_log_link_config_and_0d_bias_are_read(tmp_path: Path) -> None:
    loaded = load_checkpoint(copy_alone("v1_log.pt", tmp_path))
    assert loaded.config.link == "log"
    assert tuple(loaded.state_dict["fc.bias"].shape) == ()
    assert float(loaded.state_dict["fc.bias"]) == pytest.approx(np.log(0.7))


def test_bare_state_dict_states_what_was_assumed(tmp_path: Path) -> None:
    loaded = load_checkpoint(FIXTURES / "v1_logit.pt")
    bare = tmp_path / "bare.pt"
    torch.save(loaded.state_dict, bare)
    again = load_checkpoint(bare)
    assert again.config_source == "inferred" and again.config.link == "identity"
    assert again.assumptions[0] == (
        "predictions assume link=identity (no output transform): no config found"
    )
    assert again.assumptions[1].startswith("predictions assume classification=False")
    assert any("cross_modal_num_heads=4 assumed (no config found)" in s for s in again.assumptions)
    assert any(s.startswith("graph_dropout, cross_modal_dropout") for s in again.assumptions)
    # Without its config the same weights predict the raw fc output: the silent error.
    fc, pred = fc_output_and_prediction(bare)
    np.testing.assert_allclose(pred, fc, rtol=1e-6, atol=1e-7)


def test_train_py_config_json_beside_a_bare_model_dict(tmp_path: Path) -> None:
    """train.py writes the TrainingConfig (model nested under "model") as config.json."""
    loaded = load_checkpoint(FIXTURES / "v1_logit.pt")
    torch.save({"model": loaded.state_dict}, tmp_path / "best_val_model.pt")
    model = {"name": "alignn", "link": "logit", "hidden_features": 16}
    (tmp_path / "config.json").write_text(json.dumps({"epochs": 300, "model": model}))
    again = load_checkpoint(tmp_path / "best_val_model.pt")
    assert again.config_source == "config.json" and again.config.link == "logit"
    # classification, heads and dropouts are not in that config: said, not silent.
    assert not any(s.startswith("predictions assume link") for s in again.assumptions)
    assert any(
        s == "predictions assume classification=False (regression): the config "
        "(config.json) does not set it"
        for s in again.assumptions
    )


def test_assumed_settings_drop_what_is_known() -> None:
    config = ModelConfig(
        use_cross_modal_attention=False, use_fine_grained_attention=True, use_middle_fusion=True
    )
    sentences = assumed_settings(
        config,
        source="inferred",
        known={"link", "classification", "graph_dropout", "cross_modal_dropout"},
    )
    assert sentences == [
        "predictions assume fine_grained_num_heads=8 (the weights cannot tell the head "
        "count): no config found",
        "middle_fusion_dropout, fine_grained_dropout assumed at defaults (no config found); "
        "harmless: the model runs in eval mode, where dropout does nothing",
    ]


def test_dropouts_of_absent_modules_are_not_listed() -> None:
    config = ModelConfig(use_cross_modal_attention=False)
    sentences = assumed_settings(config, source="inferred", known={"link", "classification"})
    assert sentences == [
        "graph_dropout assumed at defaults (no config found); harmless: the model runs "
        "in eval mode, where dropout does nothing"
    ]
