"""Config inference from state_dict names and shapes (alpha_tui.checkpoint.infer)."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from checkpoint_factory import NetSpec, make_state_dict
from torch import nn

from alpha_tui.checkpoint.config import ModelConfig
from alpha_tui.checkpoint.infer import (
    infer_config,
    infer_fields,
    reconcile_config,
    strip_wrapper_prefix,
)

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)

# --- an independent statement of the key layout, built from plain torch.nn ---------------


class _RBF(nn.Module):
    def __init__(self, bins: int) -> None:
        super().__init__()
        self.register_buffer("centers", torch.zeros(bins))


def _mlp(n_in: int, n_out: int) -> nn.Module:
    holder = nn.Module()
    holder.layer = nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.SiLU())
    return holder


def _edge_gated(h: int) -> nn.Module:
    conv = nn.Module()
    for name in ("src_gate", "dst_gate", "edge_gate"):
        setattr(conv, name, nn.Linear(h, h))
    conv.bn_edges = nn.BatchNorm1d(h)
    conv.src_update = nn.Linear(h, h)
    conv.dst_update = nn.Linear(h, h)
    conv.bn_nodes = nn.BatchNorm1d(h)
    return conv


def _projection(n_in: int, n_out: int) -> nn.Module:
    head = nn.Module()
    head.projection = nn.Linear(n_in, n_out)
    head.fc = nn.Linear(n_out, n_out)
    head.layer_norm = nn.LayerNorm(n_out)
    return head


def _torch_reference(spec: NetSpec) -> nn.Module:
    """model-family.md's module tree in plain torch.nn, only to get PyTorch's own key names."""
    h, p = spec.hidden, spec.projection
    net = nn.Module()
    net.atom_embedding = _mlp(spec.atom_in, h)
    net.edge_embedding = nn.Sequential(
        _RBF(spec.edge_in), _mlp(spec.edge_in, spec.embedding), _mlp(spec.embedding, h)
    )
    net.angle_embedding = nn.Sequential(
        _RBF(spec.triplet_in), _mlp(spec.triplet_in, spec.embedding), _mlp(spec.embedding, h)
    )
    alignn = nn.ModuleList()
    for _ in range(spec.alignn_layers):
        conv = nn.Module()
        conv.node_update = _edge_gated(h)
        conv.edge_update = _edge_gated(h)
        alignn.append(conv)
    net.alignn_layers = alignn
    net.gcn_layers = nn.ModuleList(_edge_gated(h) for _ in range(spec.gcn_layers))
    net.graph_projection = _projection(h, p)
    net.text_projection = _projection(spec.text_width, p)
    fusion = nn.ModuleDict()
    for k in spec.fusion_layers:
        module = nn.Module()
        module.text_transform = nn.Sequential(
            nn.Linear(p, spec.fusion_hidden),
            nn.ReLU(),
            nn.Dropout(),
            nn.Linear(spec.fusion_hidden, h),
        )
        module.gate = nn.Sequential(nn.Linear(2 * h, h), nn.Sigmoid())
        module.layer_norm = nn.LayerNorm(h)
        fusion[f"layer_{k}"] = module
    net.middle_fusion_modules = fusion
    if spec.cross_modal:
        c = spec.cross_modal_hidden
        cross = nn.Module()
        for name in ("g2t_query", "g2t_key", "g2t_value", "t2g_query", "t2g_key", "t2g_value"):
            setattr(cross, name, nn.Linear(p, c))
        cross.graph_output = nn.Linear(c, p)
        cross.text_output = nn.Linear(c, p)
        cross.layer_norm_graph = nn.LayerNorm(p)
        cross.layer_norm_text = nn.LayerNorm(p)
        net.cross_modal_attention = cross
    net.fc1 = nn.Linear(p if spec.cross_modal else 2 * p, p)
    net.fc = nn.Linear(p, spec.output)
    return net


SPECS = [
    NetSpec(),
    NetSpec(hidden=16, alignn_layers=2, gcn_layers=1, fusion_layers=(0, 1), text_width=20),
    NetSpec(hidden=24, fusion_layers=(), cross_modal=False, output=3, edge_in=40, atom_in=10),
    NetSpec(hidden=8, alignn_layers=6, gcn_layers=0, fusion_layers=(1, 3, 5), fusion_hidden=7),
    NetSpec(hidden=12, embedding=32, triplet_in=20, cross_modal_hidden=8, fine_grained=True),
]


@pytest.mark.parametrize("spec", SPECS)
def test_factory_keys_and_shapes_match_torch_naming(spec: NetSpec) -> None:
    expected = {k: tuple(v.shape) for k, v in _torch_reference(spec).state_dict().items()}
    made = {k: tuple(v.shape) for k, v in make_state_dict(spec).items()}
    made = {k: s for k, s in made.items() if not k.startswith("fine_grained_attention.")}
    assert made == expected


@pytest.mark.parametrize("spec", SPECS)
def test_infer_config_recovers_every_shape_field(spec: NetSpec) -> None:
    config, notes = infer_config(make_state_dict(spec))
    assert config.hidden_features == spec.hidden
    assert config.alignn_layers == spec.alignn_layers
    assert config.gcn_layers == spec.gcn_layers
    assert config.atom_input_features == spec.atom_in
    assert config.edge_input_features == spec.edge_in
    assert config.triplet_input_features == spec.triplet_in
    assert config.embedding_features == spec.embedding
    assert config.output_features == spec.output
    assert config.text_input_features == spec.text_width
    assert config.projection_dim == spec.projection
    assert config.use_cross_modal_attention is spec.cross_modal
    assert config.use_fine_grained_attention is spec.fine_grained
    assert config.fusion_layers == spec.fusion_layers
    assert config.use_middle_fusion is bool(spec.fusion_layers)
    if spec.fusion_layers:
        assert config.middle_fusion_hidden_dim == spec.fusion_hidden
    if spec.cross_modal:
        assert config.cross_modal_hidden_dim == spec.cross_modal_hidden
    assert f"hidden_features={spec.hidden}, atom_input_features={spec.atom_in} " in notes[0]
    assert any(n.startswith("not recoverable from weights") for n in notes)


def test_infer_fields_only_returns_what_the_weights_determine() -> None:
    spec = NetSpec(fusion_layers=(), cross_modal=False)
    inferred, _ = infer_fields(make_state_dict(spec))
    assert "link" not in inferred and "graph_dropout" not in inferred
    assert "middle_fusion_layers" not in inferred  # no modules: indices are not evidence
    assert "middle_fusion_hidden_dim" not in inferred
    assert "cross_modal_hidden_dim" not in inferred
    assert inferred["use_middle_fusion"] is False


def test_notes_quote_the_evidence() -> None:
    spec = NetSpec(hidden=16, fusion_layers=(1, 2), fusion_hidden=9, text_width=30, output=2)
    _, notes = infer_config(make_state_dict(spec))
    text = "\n".join(notes)
    assert "(atom_embedding.layer.0.weight is [16, 92])" in text
    assert "text_input_features=30, projection_dim=64" in text
    assert "middle_fusion_layers=1,2 (middle_fusion_modules.{layer_1, layer_2})" in text
    assert "middle_fusion_hidden_dim=9" in text
    assert "output_features=2 (fc.weight is [2, 64])" in text
    assert "cross_modal_hidden_dim=16 from g2t_query.weight [16, 64]" in text


def test_concat_late_fusion_is_recognised_from_fc1_width() -> None:
    _, notes = infer_config(make_state_dict(NetSpec(cross_modal=False)))
    assert any("fc1.weight [64, 128] reads concatenated" in n for n in notes)


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "module._orig_mod."])
def test_wrapper_prefixes_are_stripped(prefix: str) -> None:
    sd = make_state_dict(NetSpec(hidden=16))
    wrapped = OrderedDict((prefix + k, v) for k, v in sd.items())
    stripped, notes = strip_wrapper_prefix(wrapped)
    assert list(stripped) == list(sd)
    assert len(notes) == prefix.count(".")
    config, _ = infer_config(wrapped)
    assert config.hidden_features == 16


def test_prefix_only_stripped_when_every_key_has_it() -> None:
    sd = {"module.a": torch.zeros(1), "b": torch.zeros(1)}
    stripped, notes = strip_wrapper_prefix(sd)
    assert stripped == sd and notes == []


def test_inconsistent_shapes_and_gaps_are_reported() -> None:
    sd = make_state_dict(NetSpec(hidden=16, alignn_layers=4, fusion_layers=(2, 5)))
    sd["middle_fusion_modules.layer_2.gate.0.weight"] = torch.zeros(16, 30)
    for key in [k for k in sd if k.startswith("alignn_layers.1.")]:
        del sd[key]
    _, notes = infer_config(sd)
    text = "\n".join(notes)
    assert "gate.0.weight is [16, 30], expected [16, 32]" in text
    assert "alignn_layers: indices [1] missing" in text
    assert "middle_fusion_modules.layer_5 follows no ALIGNN layer (alignn_layers=4)" in text


def test_a_list_of_fusion_modules_does_not_invent_layer_indices() -> None:
    sd = make_state_dict(NetSpec(hidden=16, fusion_layers=(2,)))
    renamed = OrderedDict(
        (k.replace("middle_fusion_modules.layer_2.", "middle_fusion_modules.0."), v)
        for k, v in sd.items()
    )
    inferred, notes = infer_fields(renamed)
    assert inferred["use_middle_fusion"] is True
    assert "middle_fusion_layers" not in inferred
    assert any("is a list (1 modules)" in n for n in notes)


def test_non_alignn_state_dict_is_flagged_not_crashed() -> None:
    config, notes = infer_config({"encoder.weight": torch.zeros(3, 4)})
    assert "does not look like an ALIGNN model" in notes[0]
    assert config.alignn_layers == 0 and config.gcn_layers == 0


def test_reconcile_trusts_weights_and_says_so() -> None:
    stored = ModelConfig(hidden_features=256, alignn_layers=4, link="log")
    inferred, _ = infer_fields(make_state_dict(NetSpec(hidden=128, alignn_layers=4)))
    config, notes = reconcile_config(stored, inferred, stated={"hidden_features", "link"})
    assert config.hidden_features == 128
    assert config.link == "log"  # not shape-derived: the config keeps it
    assert "config says hidden_features=256 but the weights have 128; using the weights" in notes
    filled = [n for n in notes if n.startswith("not in the config")]
    assert filled and "text_input_features=48" in filled[0]


def test_reconcile_agreement_note_counts_checked_fields() -> None:
    spec = NetSpec(hidden=16)
    inferred, _ = infer_fields(make_state_dict(spec))
    stored, _ = infer_config(make_state_dict(spec))
    config, notes = reconcile_config(stored, inferred)
    assert config == stored
    assert notes == [f"config agrees with the weights on all {len(inferred)} shape-derived fields"]


def test_reconcile_turns_off_fusion_the_weights_do_not_have() -> None:
    stored = ModelConfig(use_middle_fusion=True, middle_fusion_layers=(2, 3))
    inferred, _ = infer_fields(make_state_dict(NetSpec(fusion_layers=())))
    config, notes = reconcile_config(stored, inferred)
    assert config.fusion_layers == ()
    assert any(n.startswith("config says use_middle_fusion=True") for n in notes)
