"""Pure-torch message passing: ``index_select`` gathers, CSR sparse-matrix scatters.

Works wherever torch does (CPU, CUDA) and is the fallback when DGL is missing or
broken, which is common: DGL wheels pin narrow torch versions.

Sums into destinations go through a sparse [nodes x edges] 0/1 matrix in CSR form,
built once per graph (once per batch, not per layer): ``index_add_`` sorts its index
on every call on CPU, while the CSR product reads each destination's edges in one
contiguous, parallel pass. Edge order is untouched, so edge tensors keep the order
of the batch (hooks and the DGL backend see the same rows).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch

from alpha_tui.model.backends.base import GraphBackend


def sum_matrix(dst: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """CSR [num_nodes, E] with a 1 at (dst[e], e): ``A @ per_edge`` sums into destinations."""
    order = torch.argsort(dst, stable=True)
    counts = torch.bincount(dst, minlength=num_nodes)
    crow = torch.zeros(num_nodes + 1, dtype=torch.long, device=dst.device)
    torch.cumsum(counts, 0, out=crow[1:])
    ones = torch.ones(dst.shape[0], dtype=torch.float32, device=dst.device)
    with warnings.catch_warnings():  # "CSR support is in beta": not the user's concern
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            crow, order, ones, size=(num_nodes, dst.shape[0]), check_invariants=False
        )


@dataclass(frozen=True)
class NativeGraph:
    src: torch.Tensor  # [E] int64
    dst: torch.Tensor  # [E] int64
    n_nodes: int
    _sums: dict[torch.dtype, torch.Tensor] = field(default_factory=dict, repr=False, compare=False)
    _scratch: dict[tuple, torch.Tensor] = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_nodes(self) -> int:
        return self.n_nodes

    def _matrix(self, dtype: torch.dtype) -> torch.Tensor:
        if dtype not in self._sums:
            base = self._sums.get(torch.float32)
            if base is None:
                base = sum_matrix(self.dst, self.n_nodes)
                self._sums[torch.float32] = base
            if dtype != torch.float32:
                self._sums[dtype] = base.to(dtype)
        return self._sums[dtype]

    def scratch(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """A buffer reused by every layer on this graph (contents undefined; no autograd).

        Edge-sized temporaries of a batch of 64 are ~100 MB each; glibc maps blocks that
        large afresh on every allocation, so each new one costs a page-faulted pass.
        The graph lives for one forward, and so do its buffers.
        """
        key = (name, tuple(shape), like.dtype, like.device)
        buf = self._scratch.get(key)
        if buf is None:
            buf = like.new_empty(shape)
            self._scratch[key] = buf
        return buf

    def sum_to_dst(self, per_edge: torch.Tensor) -> torch.Tensor:
        """Per node v: the sum of ``per_edge`` over edges into v -> [N, ...] (0 if none)."""
        if per_edge.numel() == 0 or not per_edge.is_floating_point():
            out = per_edge.new_zeros((self.n_nodes, *per_edge.shape[1:]))
            return out.index_add_(0, self.dst, per_edge)
        flat = per_edge.reshape(per_edge.shape[0], -1)
        summed = torch.mm(self._matrix(per_edge.dtype), flat)
        return summed.reshape(self.n_nodes, *per_edge.shape[1:])

    def u_add_v(self, src_feat: torch.Tensor, dst_feat: torch.Tensor) -> torch.Tensor:
        return src_feat.index_select(0, self.src) + dst_feat.index_select(0, self.dst)

    def u_mul_e_sum(self, node_feat: torch.Tensor, edge_feat: torch.Tensor) -> torch.Tensor:
        return self.sum_to_dst(node_feat.index_select(0, self.src) * edge_feat)

    def copy_e_sum(self, edge_feat: torch.Tensor) -> torch.Tensor:
        return self.sum_to_dst(edge_feat)


class NativeBackend(GraphBackend):
    name = "native"

    def graph(self, src: torch.Tensor, dst: torch.Tensor, num_nodes: int) -> NativeGraph:
        return NativeGraph(src.long(), dst.long(), int(num_nodes))
