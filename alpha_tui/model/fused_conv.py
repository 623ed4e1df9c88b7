"""EdgeGatedGraphConv on the native backend with fewer passes over edge-sized tensors.

Same arithmetic as ``EdgeGatedGraphConv.forward`` up to float reassociation, but:
- the four node Linears that read the same ``x`` run as two matmuls over weights
  concatenated at call time (derived from the parameters on every call, never stored,
  so they follow any change to the weights and gradients flow to the originals);
- ``edge_gate``'s bias is folded into the source-node term, and the gathered node terms
  enter ``edge_gate``'s matmul as its ``addmm`` input (no separate [E, H] additions);
- ``sum sigma * h`` and ``sum sigma`` are one destination sum over an [E, 2H] tensor.
It only runs when no hook watches the four node Linears or ``edge_gate`` (hooks on them
must see their own calls; the layer then takes the plain path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from alpha_tui.model.backends.native import NativeGraph

if TYPE_CHECKING:
    from alpha_tui.model.layers import EdgeGatedGraphConv


def _hooked(module: nn.Module) -> bool:
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or getattr(module, "_forward_hooks_with_kwargs", None)
    )


def _global_hooks() -> bool:
    from torch.nn.modules import module as base

    return bool(base._global_forward_hooks or base._global_forward_pre_hooks)


def can_fuse(conv: EdgeGatedGraphConv, g: object) -> bool:
    """Whether the fused path computes exactly what the hooks and backend expect."""
    if not isinstance(g, NativeGraph) or _global_hooks():
        return False
    parts = (conv.src_gate, conv.dst_gate, conv.edge_gate, conv.src_update, conv.dst_update)
    return not any(_hooked(m) for m in parts)


def _edge_terms(
    g: NativeGraph,
    src_nodes: torch.Tensor,
    dst_nodes: torch.Tensor,
    y: torch.Tensor,
    w: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(``src_nodes[u]`` [E, 2H], ``m`` [E, H]) with ``m = src[u] + dst[v] + y @ w.T``.

    Without autograd the edge-sized temporaries live in the graph's reused buffers.
    """
    width = dst_nodes.shape[1]
    if torch.is_grad_enabled():
        src_terms = src_nodes.index_select(0, g.src)
        gate_in = dst_nodes.index_select(0, g.dst)
        gate_in += src_terms[:, :width]  # a fresh gather, so in place is safe under autograd
        return src_terms, torch.addmm(gate_in, y, w.t())
    e = g.src.shape[0]
    src_terms = g.scratch("src_terms", (e, 2 * width), y)
    torch.index_select(src_nodes, 0, g.src, out=src_terms)
    gate_in = g.scratch("gate_in", (e, width), y)
    torch.index_select(dst_nodes, 0, g.dst, out=gate_in)
    gate_in += src_terms[:, :width]
    m = g.scratch("m", (e, width), y)
    torch.addmm(gate_in, y, w.t(), out=m)
    return src_terms, m


def _gated_messages(
    g: NativeGraph, src_terms: torch.Tensor, m: torch.Tensor, width: int
) -> torch.Tensor:
    """[E, 2H]: ``dst_update(x)[u] * sigmoid(m)`` beside ``sigmoid(m)``, ready for one sum.

    Without autograd both halves are written in place into one reused buffer.
    """
    update = src_terms[:, width:]
    if torch.is_grad_enabled():
        sigma = torch.sigmoid(m)
        return torch.cat([update * sigma, sigma], dim=1)
    out = g.scratch("messages", (m.shape[0], 2 * width), m)
    sigma = torch.sigmoid(m, out=out[:, width:])
    torch.mul(update, sigma, out=out[:, :width])
    return out


def _residual(conv: EdgeGatedGraphConv, base: torch.Tensor, bn: nn.Module, pre: torch.Tensor):
    """``base + dropout(silu(bn(pre)))``, in place on the fresh bn output when allowed."""
    if torch.is_grad_enabled():
        return base + conv.dropout(F.silu(bn(pre)))
    return conv.dropout(F.silu(bn(pre), inplace=True)).add_(base)


def fused_forward(
    conv: EdgeGatedGraphConv, g: NativeGraph, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    width = conv.src_gate.out_features
    # per source node: [src_gate + edge_gate bias | dst_update]; per node: [dst_gate | src_update]
    src_w = torch.cat([conv.src_gate.weight, conv.dst_update.weight])
    src_b = torch.cat([conv.src_gate.bias + conv.edge_gate.bias, conv.dst_update.bias])
    node_w = torch.cat([conv.dst_gate.weight, conv.src_update.weight])
    node_b = torch.cat([conv.dst_gate.bias, conv.src_update.bias])
    src_nodes = F.linear(x, src_w, src_b)
    own_nodes = F.linear(x, node_w, node_b)

    dst_nodes = own_nodes[:, :width].contiguous()
    src_terms, m = _edge_terms(g, src_nodes, dst_nodes, y, conv.edge_gate.weight)
    sums = g.sum_to_dst(_gated_messages(g, src_terms, m, width))
    h = sums[:, :width] / (sums[:, width:] + 1e-6)
    x_new = _residual(conv, x, conv.bn_nodes, own_nodes[:, width:] + h)
    y_new = _residual(conv, y, conv.bn_edges, m)
    return x_new, y_new
