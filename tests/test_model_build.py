"""Strict loading, checkpoint variants and backend selection (modern lane)."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from model_factory import (
    built_random_model,
    random_batch,
    random_state_dict,
    small_config,
    with_fields,
)
from torch.nn import functional as F

from alpha_tui.checkpoint.config import ModelConfig
from alpha_tui.checkpoint.infer import infer_fields
from alpha_tui.errors import UserError
from alpha_tui.model.backends import select as select_module
from alpha_tui.model.backends.native import NativeBackend
from alpha_tui.model.backends.select import select_backend
from alpha_tui.model.build import build_model, build_untrained, resolve_device
from alpha_tui.model.network import MultimodalALIGNN, NetworkVariant


def predict(built, batch) -> torch.Tensor:
    with torch.no_grad():
        return built.model(batch)


def test_default_config_has_the_users_state_dict_names_and_shapes() -> None:
    # The users' SAGE-2.1 defaults: late_fusion_type "concat", text_scale buffer always.
    config = with_fields(ModelConfig(use_middle_fusion=True), late_fusion_type="concat")
    sd = build_untrained(config).state_dict()
    expected_shapes = {
        "atom_embedding.layer.0.weight": (256, 92),
        "atom_embedding.layer.1.running_var": (256,),
        "edge_embedding.0.centers": (80,),
        "edge_embedding.1.layer.0.weight": (64, 80),
        "edge_embedding.2.layer.0.weight": (256, 64),
        "angle_embedding.0.centers": (40,),
        "alignn_layers.3.node_update.src_gate.weight": (256, 256),
        "alignn_layers.0.edge_update.bn_edges.num_batches_tracked": (),
        "gcn_layers.3.bn_nodes.running_mean": (256,),
        "text_projection.projection.weight": (64, 768),
        "graph_projection.fc.weight": (64, 64),
        "graph_projection.layer_norm.bias": (64,),
        "middle_fusion_modules.layer_2.text_transform.0.weight": (128, 64),
        "middle_fusion_modules.layer_2.text_transform.3.weight": (256, 128),
        "middle_fusion_modules.layer_2.gate.0.weight": (256, 512),
        "middle_fusion_modules.layer_2.layer_norm.weight": (256,),
        "cross_modal_attention.g2t_query.weight": (256, 64),
        "cross_modal_attention.graph_output.weight": (64, 256),
        "cross_modal_attention.layer_norm_text.weight": (64,),
        "middle_fusion_modules.layer_2.text_scale": (),
        "fc1.weight": (64, 128),
        "fc.weight": (1, 64),
    }
    for key, shape in expected_shapes.items():
        assert tuple(sd[key].shape) == shape, key
    assert not any(k.startswith("alignn_layers.4") or k.startswith("gcn_layers.4") for k in sd)
    assert torch.allclose(sd["edge_embedding.0.centers"], torch.linspace(0, 8, 80))


def test_build_loads_every_tensor_in_eval_mode() -> None:
    config = small_config(middle_fusion_layers=(1, 3))
    sd = random_state_dict(config, seed=1)
    built = build_model(config, sd, backend="native")
    assert built.backend_name == "native"
    assert built.prediction_available and built.unimplemented == {}
    assert built.model.fusion_layer_indices == (1, 3)
    assert set(built.model.middle_fusion_modules) == {"layer_1", "layer_3"}
    assert not any(m.training for m in built.model.modules())
    loaded = built.model.state_dict()
    assert set(loaded) == set(sd)
    for key, value in sd.items():
        assert torch.equal(loaded[key], value), key
    pred = predict(built, random_batch(config))
    assert pred.shape == (4,) and torch.isfinite(pred).all()


def test_missing_keys_are_listed_by_group() -> None:
    config = small_config()
    sd = random_state_dict(config)
    dropped = [k for k in sd if k.startswith("alignn_layers.3.")]
    for key in dropped:
        del sd[key]
    with pytest.raises(UserError) as err:
        build_model(config, sd, backend="native")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("checkpoint does not fit the reference model")
    real = len([k for k in dropped if not k.endswith("num_batches_tracked")])
    assert f"missing alignn_layers.3.* ({real} keys)" in message
    assert "check the config" in message


def test_unexpected_keys_are_listed_by_group() -> None:
    config = small_config()
    sd = random_state_dict(config)
    sd["foo.bar"] = torch.zeros(2)
    sd["foo.baz.weight"] = torch.zeros(2, 2)
    with pytest.raises(UserError, match=r"unexpected foo\.\* \(2 keys\)"):
        build_model(config, sd, backend="native")


def test_layer_count_mismatch_names_the_extra_layer() -> None:
    config = small_config()
    sd = random_state_dict(replace(config, gcn_layers=5))
    with pytest.raises(UserError, match=r"unexpected gcn_layers\.4\.\* \(\d+ keys\)"):
        build_model(config, sd, backend="native")


def test_shape_mismatch_names_parameter_and_shapes() -> None:
    config = small_config()
    sd = random_state_dict(config)
    sd["fc.weight"] = torch.zeros(1, 32)
    with pytest.raises(UserError, match=r"fc\.weight expected \[1, 64\] found \[1, 32\]"):
        build_model(config, sd, backend="native")


def test_hidden_size_mismatch_is_a_user_error() -> None:
    config = small_config()
    sd = random_state_dict(replace(config, hidden_features=8))
    with pytest.raises(UserError, match="expected .* found"):
        build_model(config, sd, backend="native")


def test_partial_fine_grained_group_is_refused_by_name() -> None:
    # A full group runs (tests/test_model_fine_grained.py); a partial one cannot.
    config = small_config()
    sd = random_state_dict(config)
    sd["fine_grained_attention.a2t_query.weight"] = torch.zeros(8, 8)
    sd["fine_grained_attention.a2t_query.bias"] = torch.zeros(8)
    with pytest.raises(UserError, match=r"unexpected fine_grained_attention\.\* \(2 keys\)"):
        build_model(config, sd, backend="native")


def test_fine_grained_in_config_without_weights_runs_layers_without_prediction() -> None:
    config = small_config(use_fine_grained_attention=True)
    sd = random_state_dict(small_config())
    built = build_model(config, sd, backend="native")
    assert built.prediction_available is False
    assert any("no weights for it" in note for note in built.notes)
    assert predict(built, random_batch(config)) is None
    assert built.model.unavailable_reason == "fine_grained_attention is not implemented"


def test_dataparallel_prefix_and_missing_batchnorm_counters_load() -> None:
    config = small_config()
    sd = random_state_dict(config, seed=2)
    batch = random_batch(config, seed=2)
    reference = predict(build_model(config, sd, backend="native"), batch)
    wrapped = {f"module.{k}": v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    built = build_model(config, wrapped, backend="native")
    assert any("module." in note for note in built.notes)
    torch.testing.assert_close(predict(built, batch), reference, rtol=0, atol=0)


def test_concat_late_fusion_checkpoint_is_detected_and_computed() -> None:
    config = small_config()
    donor = MultimodalALIGNN(config, variant=NetworkVariant(late_fusion="concat"))
    sd = {k: v.clone() for k, v in random_state_dict(config, seed=4).items() if k != "fc1.weight"}
    sd["fc1.weight"] = torch.randn(64, 128, generator=torch.Generator().manual_seed(4)) / 11.0
    assert donor.state_dict()["fc1.weight"].shape == sd["fc1.weight"].shape
    built = build_model(config, sd, backend="native")
    assert built.model.late_fusion == "concat"
    seen = {}
    built.model.cross_modal_attention.register_forward_hook(
        lambda m, i, o: seen.__setitem__("out", o)
    )
    pred = predict(built, random_batch(config, seed=4))
    eg, et = seen["out"]
    h = F.relu(torch.cat([eg, et], dim=1) @ sd["fc1.weight"].T + sd["fc1.bias"])
    want = (h @ sd["fc.weight"].T + sd["fc.bias"])[:, 0]
    torch.testing.assert_close(pred, want, rtol=1e-5, atol=1e-6)


def test_text_scale_buffer_scales_the_injected_text() -> None:
    config = small_config()
    sd = random_state_dict(config, seed=6)
    batch = random_batch(config, seed=6)
    scaled = dict(sd)
    scaled["middle_fusion_modules.layer_2.text_scale"] = torch.tensor(2.5)
    doubled = dict(sd)
    for name in ("weight", "bias"):
        key = f"middle_fusion_modules.layer_2.text_transform.3.{name}"
        doubled[key] = sd[key] * 2.5
    a = predict(build_model(config, scaled, backend="native"), batch)
    b = predict(build_model(config, doubled, backend="native"), batch)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(a, predict(build_model(config, sd, backend="native"), batch))


def test_backend_is_switchable_and_used() -> None:
    class CountingBackend(NativeBackend):
        def __init__(self) -> None:
            self.calls = 0

        def prepare(self, batch):
            self.calls += 1
            return super().prepare(batch)

    built = built_random_model(seed=3)
    batch = random_batch(built.model.config, seed=3)
    first = predict(built, batch)
    counting = CountingBackend()
    built.model.backend = counting
    second = predict(built, batch)
    assert counting.calls == 1
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_build_untrained_is_trainable_and_log_link_starts_at_mean_gap() -> None:
    net = build_untrained(small_config(link="log"))
    assert net.training
    assert torch.allclose(net.fc.bias, torch.full_like(net.fc.bias, math.log(0.7)))
    batch = random_batch(net.config)
    net(batch).sum().backward()
    assert net.alignn_layers[0].node_update.src_gate.weight.grad is not None


def test_select_backend_native_unknown_and_broken_dgl(monkeypatch: pytest.MonkeyPatch) -> None:
    backend, note = select_backend("native")
    assert isinstance(backend, NativeBackend) and note is None
    with pytest.raises(UserError, match="unknown graph backend"):
        select_backend("cuda-graph")

    def broken(device):
        raise FileNotFoundError("Cannot find DGL C++ graphbolt library at /x/libgraphbolt.so")

    monkeypatch.setattr(select_module, "_load_dgl_backend", broken)
    backend, note = select_backend("auto")
    assert isinstance(backend, NativeBackend)
    assert note is not None and "FileNotFoundError" in note and "\n" not in note
    with pytest.raises(UserError, match="--backend native"):
        select_backend("dgl")


def test_cuda_request_without_cuda_is_a_user_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    config = small_config()
    with pytest.raises(UserError, match="--device cpu"):
        build_model(config, random_state_dict(config), backend="native", device="cuda")


def test_importing_the_model_package_does_not_import_dgl() -> None:
    code = (
        "import sys\n"
        "import alpha_tui.model, alpha_tui.model.network, alpha_tui.model.build\n"
        "import alpha_tui.model.backends, alpha_tui.model.backends.select\n"
        "assert 'dgl' not in sys.modules, 'dgl imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_gate_norm_variant_normalises_the_gate_input() -> None:
    config = small_config()
    sd = random_state_dict(config, seed=7)
    sd["middle_fusion_modules.layer_2.gate_norm.weight"] = torch.ones(32)
    sd["middle_fusion_modules.layer_2.gate_norm.bias"] = torch.zeros(32)
    built = build_model(config, sd, backend="native")
    assert any("gate_norm" in note for note in built.notes)
    seen = {}
    built.model.middle_fusion_modules["layer_2"].gate.register_forward_pre_hook(
        lambda m, args: seen.__setitem__("in", args[0])
    )
    predict(built, random_batch(config, seed=7))
    gate_in = seen["in"]
    assert gate_in.shape == (16, 32)
    torch.testing.assert_close(gate_in.mean(dim=1), torch.zeros(16), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        gate_in.var(dim=1, unbiased=False), torch.ones(16), atol=1e-3, rtol=0
    )


def test_unimplemented_late_fusion_module_makes_prediction_unavailable() -> None:
    config = small_config()
    sd = {k: v for k, v in random_state_dict(config).items() if not k.startswith("fc1.")}
    sd["fusion_module.gate_graph.0.weight"] = torch.zeros(32, 64)
    sd["fusion_module.graph_transform.weight"] = torch.zeros(64, 64)
    built = build_model(config, sd, backend="native")
    assert built.prediction_available is False
    assert list(built.unimplemented) == ["fusion_module"]
    assert len(built.unimplemented["fusion_module"]) == 2
    assert predict(built, random_batch(config)) is None


def test_indivisible_attention_heads_is_a_user_error() -> None:
    with pytest.raises(UserError, match="not divisible by cross_modal_num_heads"):
        build_untrained(small_config(cross_modal_hidden_dim=18, cross_modal_num_heads=4))


def test_raw_state_dict_with_nested_wrapper_prefixes_loads() -> None:
    config = small_config()
    sd = random_state_dict(config, seed=8)
    batch = random_batch(config, seed=8)
    reference = predict(build_model(config, sd, backend="native"), batch)
    wrapped = {f"module._orig_mod.{k}": v for k, v in sd.items()}
    built = build_model(config, wrapped, backend="native")
    assert sum("key prefix" in note for note in built.notes) == 2
    torch.testing.assert_close(predict(built, batch), reference, rtol=0, atol=0)


def test_fusion_variant_notes_appear_once_across_loader_and_build() -> None:
    # The pipeline shows the checkpoint's inference notes and build's notes together.
    config = small_config(middle_fusion_layers=(2, 4))
    sd = random_state_dict(config, seed=9)
    for k in (2, 4):
        sd[f"middle_fusion_modules.layer_{k}.text_scale"] = torch.tensor(2.5)
        sd[f"middle_fusion_modules.layer_{k}.gate_norm.weight"] = torch.ones(32)
        sd[f"middle_fusion_modules.layer_{k}.gate_norm.bias"] = torch.zeros(32)
    _, inferred_notes = infer_fields(sd)
    built = build_model(config, sd, backend="native")
    shown = inferred_notes + built.notes
    assert [n for n in shown if "text_scale" in n] == [
        "fusion text_scale present (values [2.5]); the gate multiplies the scaled "
        "text_transform output"
    ]
    assert sum("gate_norm" in n for n in shown) == 1
    late = [n for n in shown if "never runs" in n]
    assert len(late) == 1 and "middle_fusion_modules.layer_4" in late[0]


def test_resolve_device_is_the_single_check() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want
    for bad in ("tpu", "cuda:x", ""):
        with pytest.raises(UserError, match="unknown --device"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        for cuda in ("cuda", "cuda:1", torch.device("cuda", 0)):
            with pytest.raises(UserError, match="use --device cpu"):
                resolve_device(cuda)
    config = small_config()
    sd = random_state_dict(config, seed=10)
    built = build_model(config, sd, backend="native", device=torch.device("cpu"))
    assert next(built.model.parameters()).device == torch.device("cpu")
