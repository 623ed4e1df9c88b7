"""A checkpoint whose activations have closed forms, for capture/report/export tests.

Zeroed weights and chosen biases pin every stage: the atom embedding emits silu(u)
for every atom, ALIGNN/GCN layers pass node features through unchanged (their node
BatchNorm has zero scale and shift, so the residual adds silu(0) = 0), the fusion gate
is sigmoid(b) for every atom, the transformed text is v for every crystal and the
fusion output is w. So cosines, norms, reductions and injection are known in advance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from model_factory import random_state_dict, small_config

from alpha_tui.checkpoint.config import ModelConfig

H = 16


@dataclass(frozen=True)
class ClosedForm:
    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    u: np.ndarray  # atom embedding BatchNorm shift
    b: np.ndarray  # gate bias
    v: np.ndarray  # text_transform output
    w: np.ndarray  # fusion output (LayerNorm shift)

    @property
    def x0(self) -> np.ndarray:
        return self.u / (1.0 + np.exp(-self.u))  # silu

    @property
    def alpha(self) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.b))


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def closed_form_checkpoint(fusion_layers: tuple[int, ...] = (2,)) -> ClosedForm:
    config = small_config(middle_fusion_layers=fusion_layers)
    sd = random_state_dict(config, seed=3)
    rng = np.random.default_rng(11)
    u = rng.normal(0.5, 1.0, H)
    b = np.linspace(-3.0, 3.0, H)
    v = rng.normal(0.0, 1.0, H)
    w = rng.normal(0.0, 1.0, H)

    def put(key: str, value) -> None:
        sd[key] = torch.as_tensor(np.asarray(value), dtype=sd[key].dtype).reshape(sd[key].shape)

    put("atom_embedding.layer.0.weight", 0.0 * sd["atom_embedding.layer.0.weight"])
    put("atom_embedding.layer.0.bias", np.zeros(H))
    put("atom_embedding.layer.1.running_mean", np.zeros(H))
    put("atom_embedding.layer.1.running_var", np.ones(H))
    put("atom_embedding.layer.1.weight", np.zeros(H))
    put("atom_embedding.layer.1.bias", u)
    prefixes = [f"alignn_layers.{i}.node_update" for i in range(config.alignn_layers)]
    prefixes += [f"gcn_layers.{i}" for i in range(config.gcn_layers)]
    for prefix in prefixes:
        put(f"{prefix}.bn_nodes.weight", np.zeros(H))
        put(f"{prefix}.bn_nodes.bias", np.zeros(H))
    for k in fusion_layers:
        f = f"middle_fusion_modules.layer_{k}"
        put(f"{f}.gate.0.weight", 0.0 * sd[f"{f}.gate.0.weight"])
        put(f"{f}.gate.0.bias", b)
        put(f"{f}.text_transform.3.weight", 0.0 * sd[f"{f}.text_transform.3.weight"])
        put(f"{f}.text_transform.3.bias", v)
        put(f"{f}.layer_norm.weight", np.zeros(H))
        put(f"{f}.layer_norm.bias", w)
    return ClosedForm(config, sd, u, b, v, w)
