"""The users' forward pass on DGL, written from their published model (benchmark reference).

What a user runs instead of alpha-tui: SAGE-2.1's ``models/alignn.py`` on DGL graphs.
That file cannot be vendored (and its module header downloads MatSciBERT), so this is
an independent implementation of the same forward with the same DGL calls: edge gates
by ``apply_edges(fn.u_add_v)``, gate-weighted sums by ``update_all(fn.u_mul_e, fn.sum)``
and ``update_all(fn.copy_e, fn.sum)`` on a ``local_var`` graph, text broadcast to atoms
by a per-crystal ``repeat`` loop, and ``dgl.nn.AvgPooling`` readout. Module names are
the checkpoint keys, so ``load_state_dict(strict=True)`` proves the structure matches.

The text encoder is outside: ``forward`` takes the CLS vectors [B, T_in] (as alpha-tui
does with an embeddings file). Variants covered, read from the weights: any number of
ALIGNN/GCN layers and fusion layers, ``text_scale`` and ``gate_norm`` when present,
cross-modal attention or not, and the ``concat`` (fc1 reads 2P) or ``average``
(fc1 reads P; the bundled samples) late head; links identity/log/logit. Not covered:
fine-grained attention and the gated/bilinear/adaptive/tucker heads (``ReferenceError``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl  # noqa: E402
import dgl.function as fn  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from dgl.nn import AvgPooling  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402


class UnsupportedVariant(ValueError):
    """The checkpoint has a part this reference does not implement."""


class RBF(nn.Module):
    """Gaussian expansion; gamma from the float32 grid at construction, as theirs."""

    def __init__(self, vmin: float, vmax: float, bins: int) -> None:
        super().__init__()
        self.register_buffer("centers", torch.linspace(vmin, vmax, bins))
        self.gamma = 1 / np.diff(self.centers.numpy()).mean()

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.gamma * (d.unsqueeze(1) - self.centers) ** 2)


class MLP(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.SiLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class EdgeGated(nn.Module):
    """Their EdgeGatedGraphConv: DGL built-in message functions on graph features."""

    def __init__(self, h: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.src_gate, self.dst_gate, self.edge_gate = (nn.Linear(h, h) for _ in range(3))
        self.bn_edges = nn.BatchNorm1d(h)
        self.src_update, self.dst_update = nn.Linear(h, h), nn.Linear(h, h)
        self.bn_nodes = nn.BatchNorm1d(h)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, g: dgl.DGLGraph, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        g = g.local_var()
        g.ndata["e_src"] = self.src_gate(x)
        g.ndata["e_dst"] = self.dst_gate(x)
        g.apply_edges(fn.u_add_v("e_src", "e_dst", "e_nodes"))
        m = g.edata.pop("e_nodes") + self.edge_gate(y)
        g.edata["sigma"] = torch.sigmoid(m)
        g.ndata["Bh"] = self.dst_update(x)
        g.update_all(fn.u_mul_e("Bh", "sigma", "m"), fn.sum("m", "sum_sigma_h"))
        g.update_all(fn.copy_e("sigma", "m"), fn.sum("m", "sum_sigma"))
        h = g.ndata["sum_sigma_h"] / (g.ndata["sum_sigma"] + 1e-6)
        x_new = self.dropout(F.silu(self.bn_nodes(self.src_update(x) + h)))
        y_new = self.dropout(F.silu(self.bn_edges(m)))
        return x + x_new, y + y_new


class LineGraphConv(nn.Module):
    """Their ALIGNNConv: atom graph, then line graph fed with the new bond features."""

    def __init__(self, h: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.node_update = EdgeGated(h, dropout)
        self.edge_update = EdgeGated(h, dropout)

    def forward(self, g, lg, x, y, z):
        x, m = self.node_update(g, x, y)
        y, z = self.edge_update(lg, m, z)
        return x, y, z


class Projection(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.projection = nn.Linear(n_in, n_out)
        self.gelu = nn.GELU()
        self.fc = nn.Linear(n_out, n_out)
        self.dropout = nn.Dropout(0.1)
        self.layer_norm = nn.LayerNorm(n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.projection(x)
        return self.layer_norm(self.dropout(self.fc(self.gelu(p))) + p)


class MiddleFusion(nn.Module):
    """Their MiddleFusionModule: sigmoid gate on cat(atoms, text broadcast per crystal)."""

    def __init__(self, h: int, p: int, hidden: int, text_scale: bool, gate_norm: bool) -> None:
        super().__init__()
        self.text_transform = nn.Sequential(
            nn.Linear(p, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, h)
        )
        if text_scale:
            self.register_buffer("text_scale", torch.tensor(1.0))
        else:
            self.text_scale = None
        self.gate_norm = nn.LayerNorm(2 * h) if gate_norm else None
        self.gate = nn.Sequential(nn.Linear(2 * h, h), nn.Sigmoid())
        self.layer_norm = nn.LayerNorm(h)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, text: torch.Tensor, counts: Sequence[int]) -> torch.Tensor:
        t = self.text_transform(text)
        if self.text_scale is not None:
            t = t * self.text_scale
        # their broadcast: one repeat per crystal, then one cat
        t_b = torch.cat([t[i].unsqueeze(0).repeat(n, 1) for i, n in enumerate(counts)], dim=0)
        gate_in = torch.cat([x, t_b], dim=-1)
        if self.gate_norm is not None:
            gate_in = self.gate_norm(gate_in)
        alpha = self.gate(gate_in)
        return self.dropout(self.layer_norm(x + alpha * t_b))


class CrossAttention(nn.Module):
    """Their CrossModalAttention between the pooled graph vector and the text vector."""

    def __init__(self, d: int, hidden: int, heads: int) -> None:
        super().__init__()
        self.hidden, self.heads = hidden, heads
        self.scale = (hidden // heads) ** -0.5
        for name in ("g2t_query", "g2t_key", "g2t_value", "t2g_query", "t2g_key", "t2g_value"):
            setattr(self, name, nn.Linear(d, hidden))
        self.graph_output, self.text_output = nn.Linear(hidden, d), nn.Linear(hidden, d)
        self.dropout = nn.Dropout(0.1)
        self.layer_norm_graph, self.layer_norm_text = nn.LayerNorm(d), nn.LayerNorm(d)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        b = q.shape[0]

        def split(a: torch.Tensor) -> torch.Tensor:
            return a.view(b, -1, self.heads, self.hidden // self.heads).permute(0, 2, 1, 3)

        q, k, v = split(q), split(k), split(v)
        w = self.dropout(F.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1))
        return torch.matmul(w, v).permute(0, 2, 1, 3).contiguous().view(b, 1, self.hidden)

    def forward(self, g: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gs, ts = g.unsqueeze(1), t.unsqueeze(1)
        g2t = self._attend(self.g2t_query(gs), self.g2t_key(ts), self.g2t_value(ts))
        t2g = self._attend(self.t2g_query(ts), self.t2g_key(gs), self.t2g_value(gs))
        g_new = self.layer_norm_graph(g + self.graph_output(g2t).squeeze(1))
        t_new = self.layer_norm_text(t + self.text_output(t2g).squeeze(1))
        return g_new, t_new


def _count(sd: Mapping[str, torch.Tensor], pattern: str) -> list[int]:
    found = {int(m.group(1)) for k in sd if (m := re.fullmatch(pattern, k))}
    return sorted(found)


class ReferenceALIGNN(nn.Module):
    """The users' ALIGNN forward with its shapes read from a state_dict."""

    def __init__(
        self,
        sd: Mapping[str, torch.Tensor],
        *,
        cross_heads: int = 4,
        link: str = "identity",
        classification: bool = False,
    ) -> None:
        super().__init__()
        unsupported = sorted(
            {k.split(".")[0] for k in sd if k.startswith(("fine_grained_", "fusion_module."))}
        )
        if unsupported:
            raise UnsupportedVariant(f"reference has no {', '.join(unsupported)}")
        atom_w = sd["atom_embedding.layer.0.weight"]
        h, atom_in = int(atom_w.shape[0]), int(atom_w.shape[1])
        emb = int(sd["edge_embedding.1.layer.0.weight"].shape[0])
        p, text_in = (int(n) for n in sd["text_projection.projection.weight"].shape)
        self.atom_embedding = MLP(atom_in, h)
        bond_bins = int(sd["edge_embedding.0.centers"].shape[0])
        self.edge_embedding = nn.Sequential(
            RBF(0, 8.0, bond_bins), MLP(bond_bins, emb), MLP(emb, h)
        )
        bins = int(sd["angle_embedding.0.centers"].shape[0])
        self.angle_embedding = nn.Sequential(RBF(-1, 1.0, bins), MLP(bins, emb), MLP(emb, h))
        n_alignn = _count(sd, r"alignn_layers\.(\d+)\.node_update\.src_gate\.weight")
        n_gcn = _count(sd, r"gcn_layers\.(\d+)\.src_gate\.weight")
        self.alignn_layers = nn.ModuleList([LineGraphConv(h) for _ in n_alignn])
        self.gcn_layers = nn.ModuleList([EdgeGated(h) for _ in n_gcn])
        self.readout = AvgPooling()
        self.graph_projection = Projection(h, p)
        self.text_projection = Projection(text_in, p)
        self.fusion_indices = _count(sd, r"middle_fusion_modules\.layer_(\d+)\.gate\.0\.weight")
        self.middle_fusion_modules = nn.ModuleDict()
        for k in self.fusion_indices:
            pre = f"middle_fusion_modules.layer_{k}."
            self.middle_fusion_modules[f"layer_{k}"] = MiddleFusion(
                h,
                p,
                int(sd[pre + "text_transform.0.weight"].shape[0]),
                text_scale=pre + "text_scale" in sd,
                gate_norm=pre + "gate_norm.weight" in sd,
            )
        self.cross_modal_attention = None
        if "cross_modal_attention.g2t_query.weight" in sd:
            hidden = int(sd["cross_modal_attention.g2t_query.weight"].shape[0])
            self.cross_modal_attention = CrossAttention(p, hidden, cross_heads)
        fc1_in = int(sd["fc1.weight"].shape[1])
        if fc1_in not in (p, 2 * p):
            raise UnsupportedVariant(f"fc1 reads {fc1_in} features, neither {p} nor {2 * p}")
        self.concat = fc1_in == 2 * p
        self.fc1 = nn.Linear(fc1_in, p)
        self.fc = nn.Linear(p, int(sd["fc.weight"].shape[0]))
        if sd["fc.bias"].ndim == 0:
            self.fc.bias = nn.Parameter(torch.tensor(0.0))
        self.link, self.classification = link, classification

    def forward(self, g: dgl.DGLGraph, lg: dgl.DGLGraph, text: torch.Tensor) -> torch.Tensor:
        lg = lg.local_var()
        g = g.local_var()
        z = self.angle_embedding(lg.edata.pop("h"))
        text64 = self.text_projection(text)
        x = self.atom_embedding(g.ndata.pop("atom_features"))
        y = self.edge_embedding(torch.norm(g.edata.pop("r"), dim=1))
        for i, layer in enumerate(self.alignn_layers):
            x, y, z = layer(g, lg, x, y, z)
            if i in self.fusion_indices:
                counts = g.batch_num_nodes().tolist()
                x = self.middle_fusion_modules[f"layer_{i}"](x, text64, counts)
        for layer in self.gcn_layers:
            x, y = layer(g, x, y)
        hg = self.graph_projection(self.readout(g, x))
        ht = text64
        if self.cross_modal_attention is not None:
            hg, ht = self.cross_modal_attention(hg, ht)
        fused = torch.cat([hg, ht], dim=-1) if self.concat else (hg + ht) / 2
        out = self.fc(F.relu(self.fc1(fused)))
        if self.link == "log":
            out = torch.exp(out)
        elif self.link == "logit":
            out = torch.sigmoid(out)
        if self.classification:
            out = torch.sigmoid(out)
        return torch.squeeze(out)


def load_reference(sd: Mapping[str, torch.Tensor], **options: object) -> ReferenceALIGNN:
    """The reference with ``sd`` loaded strictly (every key used, none missing), in eval."""
    model = ReferenceALIGNN(sd, **options)  # type: ignore[arg-type]
    model.load_state_dict(dict(sd), strict=True)
    return model.eval()


def crystal_dgl_graphs(graph) -> tuple[dgl.DGLGraph, dgl.DGLGraph]:
    """One crystal's atom graph and line graph as the users' loader hands them to dgl.batch."""
    g = dgl.graph(
        (torch.from_numpy(graph.src).long(), torch.from_numpy(graph.dst).long()),
        num_nodes=int(graph.num_nodes),
    )
    g.ndata["atom_features"] = torch.from_numpy(np.asarray(graph.atom_features, np.float32))
    g.edata["r"] = torch.from_numpy(np.asarray(graph.r, np.float32).reshape(-1, 3))
    lg = dgl.graph(
        (torch.from_numpy(graph.lg_src).long(), torch.from_numpy(graph.lg_dst).long()),
        num_nodes=int(graph.num_edges),
    )
    lg.edata["h"] = torch.from_numpy(np.asarray(graph.angle_cos, np.float32))
    return g, lg


def dgl_batch(graphs: Sequence) -> tuple[dgl.DGLGraph, dgl.DGLGraph]:
    """``dgl.batch`` of the crystals' graphs and of their line graphs (their collate)."""
    pairs = [crystal_dgl_graphs(gr) for gr in graphs]
    return dgl.batch([a for a, _ in pairs]), dgl.batch([b for _, b in pairs])
