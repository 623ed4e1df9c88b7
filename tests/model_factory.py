"""Random configs, state_dicts and graph batches for model tests (shared helper).

Imports only torch, numpy and alpha_tui.model / alpha_tui.checkpoint.config so the
DGL lane (no textual) can use it. Graphs are realistic in structure: several crystals
of different sizes, every bond present in both directions with opposite displacement
vectors (as after jarvis canonization), self-loops and multi-edges through periodic
images, and the line graph of ``dgl.line_graph`` with backtracking (bond a -> bond b
iff dst(a) == src(b) and a != b, including b = reverse of a).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields as dc_fields
from dataclasses import replace

import numpy as np
import torch

from alpha_tui.checkpoint.config import ModelConfig
from alpha_tui.model.build import BuiltModel, build_model, build_untrained
from alpha_tui.model.graph import GraphBatch


def with_fields(config: ModelConfig, **fields: object) -> ModelConfig:
    """Set fields whether ModelConfig types them or keeps them in ``extra``.

    SAGE-2.1 fields (late_fusion_type, fine_grained_* ...) may be typed on ModelConfig
    or live in ``extra``; tests set them through here so they mean the same either way.
    """
    typed = {k: v for k, v in fields.items() if k in {f.name for f in dc_fields(ModelConfig)}}
    untyped = {k: v for k, v in fields.items() if k not in typed}
    return replace(config, **typed, extra={**config.extra, **untyped})  # type: ignore[arg-type]


def small_config(**overrides: object) -> ModelConfig:
    """A fast configuration with the real layer structure (4 ALIGNN + 4 GCN, fusion at 2).

    ``late_fusion_type=""`` (no SAGE-2.1 head stated) keeps the older forks' average
    head and no ``text_scale``, whatever ModelConfig's own default for that field is.
    """
    base = ModelConfig(
        alignn_layers=4,
        gcn_layers=4,
        atom_input_features=92,
        edge_input_features=80,
        triplet_input_features=40,
        embedding_features=16,
        hidden_features=16,
        output_features=1,
        use_cross_modal_attention=True,
        cross_modal_hidden_dim=16,
        cross_modal_num_heads=4,
        use_middle_fusion=True,
        middle_fusion_layers=(2,),
        middle_fusion_hidden_dim=8,
        text_input_features=32,
        projection_dim=64,
    )
    return with_fields(base, **{"late_fusion_type": "", **overrides})


def random_state_dict(config: ModelConfig, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state_dict with every parameter and BatchNorm statistic randomised.

    Weights are scaled by 1/sqrt(fan_in) so activations stay O(1) through 8 layers;
    running variances are in [0.5, 1.5] so eval-mode BatchNorm is well conditioned.
    """
    gen = torch.Generator().manual_seed(seed)
    network = build_untrained(config, backend="native")
    out: dict[str, torch.Tensor] = {}
    for key, value in network.state_dict().items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(100, dtype=torch.long)
        elif key.endswith("running_var"):
            out[key] = 0.5 + torch.rand(value.shape, generator=gen)
        elif key.endswith("running_mean"):
            out[key] = 0.2 * torch.randn(value.shape, generator=gen)
        elif key.endswith("centers") or key.endswith("text_scale"):
            out[key] = value.clone()
        elif value.ndim == 2:
            out[key] = torch.randn(value.shape, generator=gen) / np.sqrt(value.shape[1])
        elif key.endswith("weight"):  # BatchNorm / LayerNorm scale
            out[key] = 1.0 + 0.2 * torch.randn(value.shape, generator=gen)
        else:
            out[key] = 0.1 * torch.randn(value.shape, generator=gen)
    return out


def line_graph_pairs(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bond pairs (a, b) with dst[a] == src[b] and a != b, a-major order.

    This is ``dgl.line_graph(backtracking=True)``: the reverse bond counts (a
    backtracking pair) but a self-loop bond is not paired with itself (checked
    against DGL 2.1 in tests/test_backends_dgl.py).
    """
    order = np.argsort(src, kind="stable")
    sorted_src = src[order]
    starts = np.searchsorted(sorted_src, dst, side="left")
    ends = np.searchsorted(sorted_src, dst, side="right")
    lg_src = np.repeat(np.arange(len(src)), ends - starts)
    lg_dst = np.concatenate([order[lo:hi] for lo, hi in zip(starts, ends, strict=True)] or [[]])
    keep = lg_src != lg_dst
    return lg_src[keep].astype(np.int64), lg_dst[keep].astype(np.int64)


def _crystal_bonds(
    n_atoms: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed bonds (src, dst, r) of one periodic crystal.

    A ring plus random chords between atoms at well-separated positions, a bond from
    atom 0 to its own periodic image (a self-loop) and a second bond 0-1 through an
    image (a multi-edge), as jarvis graphs of small cells have. Every bond appears in
    both directions with opposite displacement vectors.
    """
    pos = np.zeros((0, 3))
    while len(pos) < n_atoms:
        cand = rng.uniform(0.0, 4.0, size=3)
        if len(pos) == 0 or np.min(np.linalg.norm(pos - cand, axis=1)) > 0.8:
            pos = np.vstack([pos, cand])
    lattice = np.array([4.5, 0.3, -0.2])
    pairs = {(i, (i + 1) % n_atoms) for i in range(n_atoms)}
    for _ in range(n_atoms):
        i, j = (int(v) for v in rng.integers(0, n_atoms, size=2))
        pairs.add((i, j))
    bonds = [
        (i, j, pos[j] - pos[i]) for i, j in sorted({(min(p), max(p)) for p in pairs}) if i != j
    ]
    bonds.append((0, 0, lattice))
    if n_atoms > 1:
        bonds.append((0, 1, pos[1] - pos[0] + lattice))
    s = np.array([b[0] for b in bonds] + [b[1] for b in bonds], dtype=np.int64)
    d = np.array([b[1] for b in bonds] + [b[0] for b in bonds], dtype=np.int64)
    r = np.array([b[2] for b in bonds])
    return s, d, np.concatenate([r, -r])


def random_batch(
    config: ModelConfig,
    crystal_sizes: Sequence[int] = (3, 6, 2, 5),
    seed: int = 0,
) -> GraphBatch:
    """A batch of random crystals with geometry-consistent bonds and bond angles."""
    rng = np.random.default_rng(seed)
    feats, srcs, dsts, rs, lsrcs, ldsts, cosines, n_edges = [], [], [], [], [], [], [], []
    atom_offset = edge_offset = 0
    for n in crystal_sizes:
        s, d, r = _crystal_bonds(n, rng)
        ls, ld = line_graph_pairs(s, d)
        ra, rb = r[ls], r[ld]
        cos = np.einsum("ij,ij->i", -ra, rb) / (
            np.linalg.norm(ra, axis=1) * np.linalg.norm(rb, axis=1)
        )
        onehot = np.zeros((n, config.atom_input_features))
        onehot[np.arange(n), rng.integers(0, config.atom_input_features, size=n)] = 1.0
        feats.append(onehot + 0.1 * rng.random((n, config.atom_input_features)))
        srcs.append(s + atom_offset)
        dsts.append(d + atom_offset)
        rs.append(r)
        lsrcs.append(ls + edge_offset)
        ldsts.append(ld + edge_offset)
        cosines.append(np.clip(cos, -1.0, 1.0))
        n_edges.append(len(s))
        atom_offset += n
        edge_offset += len(s)

    def f32(parts: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.concatenate(parts).astype(np.float32))

    def i64(parts: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.concatenate(parts).astype(np.int64))

    text = rng.normal(size=(len(crystal_sizes), config.text_input_features))
    return GraphBatch(
        atom_features=f32(feats),
        src=i64(srcs),
        dst=i64(dsts),
        bond_r=f32(rs),
        lg_src=i64(lsrcs),
        lg_dst=i64(ldsts),
        angle_cos=f32(cosines),
        batch_num_nodes=torch.tensor(list(crystal_sizes), dtype=torch.int64),
        batch_num_edges=torch.tensor(n_edges, dtype=torch.int64),
        text=torch.from_numpy(text.astype(np.float32)),
    )


def built_random_model(
    config: ModelConfig | None = None, seed: int = 0, backend: str = "native"
) -> BuiltModel:
    """``build_model`` on a random state_dict: an eval-mode network ready for hooks."""
    config = config or small_config()
    return build_model(config, random_state_dict(config, seed), backend=backend)
